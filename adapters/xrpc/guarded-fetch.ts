// The Fetch port for URLs that come from the network, for whichever runtime runs: `#guarded-fetch` is the Node guard
// (guarded-fetch-node.ts: resolves, judges and pins every connection's address) under Node and the Web one
// (guarded-fetch-web.ts) elsewhere. Both refuse non-https URLs and internal addresses unless `allowPrivate`
// (IDENTITY_ALLOW_PRIVATE) says the deployment lives on a local network, and never follow a redirect (a caller that
// asks `redirect: 'manual'` gets the 3xx back to judge).
export { createGuardedFetch } from '#guarded-fetch';

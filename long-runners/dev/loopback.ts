// The dev-env services call listen(port) without a host, which binds every interface. While they start, default the
// host to 127.0.0.1 so nothing of the dev network is reachable from outside this machine.
import net from 'node:net';

/** While `fn` runs, the arguments of every listen() call pass through `rewrite` first; the original comes back after. */
export async function withListenArgs<T>(rewrite: (args: unknown[]) => unknown[], fn: () => Promise<T>): Promise<T> {
  const original = net.Server.prototype.listen;
  net.Server.prototype.listen = function patched(this: net.Server, ...args: unknown[]) {
    return (original as (...a: unknown[]) => net.Server).apply(this, rewrite(args));
  } as typeof original;
  try {
    return await fn();
  } finally {
    net.Server.prototype.listen = original;
  }
}

/** listen(port) or listen(port, callback), or options without a host or path: 127.0.0.1 added. A given host stays. */
function onLoopback(args: unknown[]): unknown[] {
  const [first, second] = args;
  if (typeof first === 'number' && typeof second !== 'string') return [first, '127.0.0.1', ...args.slice(1)];
  if (typeof first === 'object' && first !== null && !('path' in first) && (first as net.ListenOptions).host === undefined) {
    return [{ ...(first as net.ListenOptions), host: '127.0.0.1' }, ...args.slice(1)];
  }
  return args;
}

export function withLoopbackListen<T>(fn: () => Promise<T>): Promise<T> {
  return withListenArgs(onLoopback, fn);
}

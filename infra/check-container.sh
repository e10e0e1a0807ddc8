#!/usr/bin/env bash
# Rehearses the container build without a container engine: lays out /app as infra/Dockerfile does (the same COPY
# lines, `npm ci --omit=dev` as its deps stage), then runs the image's entrypoint: `--help`, `migrate` against
# DATABASE_URL, and `run --only http` until /health answers and SIGTERM stops it with exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
app="$(mktemp -d)"
trap 'rm -rf "$app"' EXIT
grep -E '^COPY ' infra/Dockerfile | grep -v -- '--from=' | while read -r _ line; do
  # shellcheck disable=SC2086
  set -- $line
  dest="${*: -1}"
  for src in "${@:1:$#-1}"; do
    if [ "$dest" = "./" ]; then cp -r "$src" "$app/"; else mkdir -p "$app/$dest" && cp -r "$src/." "$app/$dest"; fi
  done
done
# The deps stage: exactly the lock's production tree.
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
cd "$app"
node bin/skytide.js --help | head -n 1
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" node bin/skytide.js migrate
port=39123
HTTP_PORT=$port node bin/skytide.js run --only http & pid=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/health"; echo
kill -TERM "$pid"; wait "$pid"; echo "container rehearsal: exit $?"

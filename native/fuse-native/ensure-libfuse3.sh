#!/usr/bin/env bash
# The binding builds against Debian's libfuse3 (3.14: libfuse3-dev, found with pkg-config). `npm ci`
# runs this before node-gyp, so a fresh machine of this kind (root, Debian) gets the headers by itself;
# without root it says what to install.
set -euo pipefail
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists 'fuse3 >= 3.14'; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "building native/fuse-native needs libfuse3-dev (>= 3.14) and pkg-config: apt-get install -y libfuse3-dev pkg-config" >&2
  exit 1
fi
echo "installing libfuse3-dev and pkg-config to build native/fuse-native" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq libfuse3-dev pkg-config >/dev/null 2>&1 || {
  apt-get update -qq
  apt-get install -y -qq libfuse3-dev pkg-config >/dev/null
}

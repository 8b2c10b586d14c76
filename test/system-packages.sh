#!/usr/bin/env bash
# The Debian packages the test suite runs (besides what a machine of this kind has): bindfs and fuse3
# (a C FUSE peer), libfuse3-dev and pkg-config (native/fuse-native builds on them), fio, sqlite3, attr
# (setfattr/getfattr), psmisc; the application suite (test/apps): python3, postgresql-15, etcd-server,
# etcd-client; the pod suite (test/e2e): podman, runc (crun cannot run here), netavark and aardvark-dns
# (its networks), debootstrap (the local base images). Installed when missing, as root;
# `npm test` and .ci/run both call this, so the list lives in one place.
set -euo pipefail
packages=(bindfs fio fuse3 libfuse3-dev pkg-config sqlite3 attr psmisc python3 postgresql-15 etcd-server etcd-client podman runc netavark aardvark-dns debootstrap)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "the tests need these Debian packages: ${missing[*]} (and root): apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} for the tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Builds the two images a cluster install needs, from the repository root, and optionally pushes them:
#   IMAGE_REGISTRY/chaosfs:IMAGE_TAG   the sidecar (sidecar/Dockerfile)
#   IMAGE_REGISTRY/webhook:IMAGE_TAG   the admission webhook (webhook/Dockerfile)
# Settings (environment):
#   IMAGE_REGISTRY     where the images go            (default ghcr.io/iochaos)
#   IMAGE_TAG          their tag                      (default the version in package.json)
#   CONTAINER_ENGINE   docker, podman, or a command   (default podman if installed, else docker)
#   IMAGE_BUILD_FLAGS  extra flags for `build`, e.g. "--platform linux/amd64" or "--pull=never"
#   PUSH=1             push both after building (log in to the registry first)
# Usage: npm run images            IMAGE_REGISTRY=registry.example.com/chaos IMAGE_TAG=dev PUSH=1 npm run images
set -euo pipefail
cd "$(dirname "$0")/.."
registry="${IMAGE_REGISTRY:-ghcr.io/iochaos}"
tag="${IMAGE_TAG:-$(node -p 'require("./package.json").version')}"
engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then engine=podman
  elif command -v docker >/dev/null; then engine=docker
  else echo "images: neither podman nor docker is installed; set CONTAINER_ENGINE" >&2; exit 1
  fi
fi
pushed=""
read -r -a flags <<<"${IMAGE_BUILD_FLAGS:-}"
for image in chaosfs:sidecar webhook:webhook; do
  name="${image%%:*}"
  dir="${image##*:}"
  ref="$registry/$name:$tag"
  echo "images: building $ref from $dir/Dockerfile" >&2
  $engine build "${flags[@]}" -f "$dir/Dockerfile" -t "$ref" .
  if [ "${PUSH:-0}" = 1 ]; then
    echo "images: pushing $ref" >&2
    $engine push "$ref"
    pushed=" (pushed)"
  fi
done
echo "images: built $registry/chaosfs:$tag and $registry/webhook:$tag$pushed" >&2

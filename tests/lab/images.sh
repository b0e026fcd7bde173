#!/usr/bin/env bash
# Build the lab's container images locally, from Debian packages and PyPI only (no registry).
# Each image is tagged with a hash of its inputs, so it is built once and rebuilt only when
# an input changes; `localhost/tailnet-llm/NAME:lab` always points at the current build.
#
#   tests/lab/images.sh host litellm     # build what is missing (in parallel), print nothing else
#   tests/lab/images.sh --tag host       # print the content tag of an image
#   tests/lab/images.sh export litellm   # build what is missing, copy it into the lab image store
#                                        # (once per tag), print the store's path
#
# The lab image store (build/images/store) is how test hosts get these images: mounted read-only
# at /var/lib/tailnet-llm/images in a host:lab container, whose podman reads it as an additional
# image store, the images are there at once, with nothing to load:
#   podman run ... -v "$(tests/lab/images.sh export litellm vllm-cpu):/var/lib/tailnet-llm/images:ro" \
#     localhost/tailnet-llm/host:lab
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
prefix=localhost/tailnet-llm
store=$repo/build/images/store
store_podman=(podman --root "$store" --runroot "$repo/build/images/run" --storage-driver overlay)

inputs() { # files whose content decides an image's tag (besides its parent, base)
  echo "$here/images/$1.Containerfile"
  ls "$here/images/$1".* "$repo/requirements/$1".* 2>/dev/null || true
  if [ "$1" = litellm ]; then # Prisma's query engine for database mode (tests/lab/prisma-engine/README.md)
    echo "$here/prisma-engine/engine.js" "$here/prisma-engine/package.json" "$here/prisma-engine/package-lock.json"
  fi
}

engine_packages() { # the query engine adapter's npm packages, from its package-lock.json (copied into the image)
  [ -e "$here/prisma-engine/node_modules/.package-lock.json" ] ||
    (cd "$here/prisma-engine" && npm ci -s --ignore-scripts --no-audit --no-fund)
}

tag() {
  if [ "$1" = base ]; then
    { echo "$suite"; declare -f build_base; } | sha256sum | cut -c1-12
  else
    { tag base; inputs "$1" | sort -u | xargs cat; } | sha256sum | cut -c1-12
  fi
}

build_base() {
  local rootfs
  rootfs=$(mktemp -d /var/tmp/tailnet-llm-rootfs.XXXXXX)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$rootfs" "$mirror" >/dev/null
  # The machine's apt settings (mirror snapshot dates, CA bundle) apply inside the image too.
  cp /etc/apt/apt.conf.d/99* "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  tar -C "$rootfs" -c . | podman import -q - "$prefix/base:$(tag base)" >/dev/null
  rm -rf "$rootfs"
}

wheels() { # the pinned wheels an image installs, into build/wheels/NAME (mounted at /wheels in the build)
  local req
  for req in $(inputs "$1" | grep '\.txt$'); do
    # pip's cache and PIP_FIND_LINKS (torch 2.13.0+cpu) serve what this machine already has.
    python3 -m pip wheel -q --no-deps -w "$repo/build/wheels/$1" -r "$req" 2> >(grep -v 'is ignored' >&2)
  done
}

build() {
  local name=$1 t
  t=$(tag "$name")
  if ! podman image exists "$prefix/$name:$t"; then
    echo "building $prefix/$name:$t" >&2
    if [ "$name" = base ]; then
      build_base
    else
      mkdir -p "$repo/build/wheels/$name"
      wheels "$name"
      [ "$name" != litellm ] || engine_packages
      podman build -q --network host --build-arg "BASE=$prefix/base:$(tag base)" \
        -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
        -v "$repo/build/wheels/$name:/wheels:ro" \
        -f "$here/images/$name.Containerfile" -t "$prefix/$name:$t" "$repo" >/dev/null
    fi
  fi
  podman tag "$prefix/$name:$t" "$prefix/$name:lab"
}

export_image() { # copy an image into the lab image store, tag it :lab there, drop its older builds
  local name=$1 t old
  t=$(tag "$name")
  if ! "${store_podman[@]}" image exists "$prefix/$name:$t"; then
    echo "exporting $prefix/$name:$t to $store" >&2
    podman push -q "$prefix/$name:$t" \
      "containers-storage:[overlay@$store+$repo/build/images/run]$prefix/$name:$t"
  fi
  "${store_podman[@]}" tag "$prefix/$name:$t" "$prefix/$name:lab"
  old=$("${store_podman[@]}" images --format '{{.Repository}}:{{.Tag}}' "$prefix/$name" |
    grep -vE ":($t|lab)\$" || true)
  if [ -n "$old" ]; then
    # shellcheck disable=SC2086 # one tag per word
    "${store_podman[@]}" rmi -f $old >/dev/null
  fi
}

parallel() { # run `$1 NAME` for every NAME at once (the images only share base); fail if any failed
  local fn=$1 pids=() name pid failed=0
  shift
  for name in "$@"; do
    [ "$name" = base ] && continue
    "$fn" "$name" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  return "$failed"
}

case ${1:-} in
  --tag)
    tag "$2"
    exit
    ;;
  export)
    shift
    mkdir -p "$store"
    build base
    parallel build "$@"
    for name in "$@"; do
      export_image "$name"
    done
    echo "$store"
    ;;
  *)
    build base
    parallel build "$@"
    ;;
esac

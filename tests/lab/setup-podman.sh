#!/usr/bin/env bash
# Prepare this machine (Debian 12) to run the lab and molecule test hosts with podman.
# Test-environment workarounds only (see ../shared/notes/podman-on-these-machines.md);
# nothing here belongs in the roles' production defaults.
set -euo pipefail

need=()
for cmd in podman runc debootstrap curl ssh; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman runc debootstrap curl iproute2 openssh-client >/dev/null
fi

# crun cannot raise RLIMIT_NOFILE here and does not support cgroup v1 hybrid mode.
conf=/etc/containers/containers.conf.d/50-test-env.conf
want='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
cgroupns = "host"
[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
fi
podman info --format '{{.Host.OCIRuntime.Name}}' >/dev/null

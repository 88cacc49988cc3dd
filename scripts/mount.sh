#!/usr/bin/env bash
# Usage: scripts/mount.sh MOUNTPOINT [cgroupfs-emu options...]
# Builds (showing the output only on failure), creates MOUNTPOINT if needed
# and runs the emulator on it, e.g. scripts/mount.sh /tmp/cg -o cpu,cpuacct.
set -euo pipefail

if (($# < 1)); then
  echo "usage: $0 MOUNTPOINT [cgroupfs-emu options...]" >&2
  exit 2
fi
mountpoint=$1
shift

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bash "$repo_root/scripts/install-deps.sh"
echo "mount: building"
build_log=$(mktemp)
if ! bash "$repo_root/scripts/build.sh" >"$build_log" 2>&1; then
  cat "$build_log" >&2
  rm -f "$build_log"
  echo "mount: build failed" >&2
  exit 1
fi
rm -f "$build_log"

mkdir -p -- "$mountpoint"
echo "mount: starting cgroupfs-emu on $mountpoint"
# The emulator daemonizes itself once mounted (unless -f is given).
exec "$repo_root/build/cgroupfs-emu" "$@" "$mountpoint"

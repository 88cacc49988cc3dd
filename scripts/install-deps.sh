#!/usr/bin/env bash
# Installs everything needed to build, mount and test cgroupfs-emu on Debian 12.
# A no-op (well under a second) when every package is already installed.
set -euo pipefail

readonly PACKAGES=(
  build-essential cmake pkg-config
  libfuse3-dev fuse3
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  util-linux procps
)

# One dpkg-query for all packages; unknown ones are simply absent from its output.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for package in "${PACKAGES[@]}"; do
  grep -qx "${package} installed" <<<"$installed" || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

as_root=()
if ((EUID != 0)); then
  as_root=(sudo)
fi

echo "install-deps: missing: ${missing[*]}"
echo "install-deps: apt-get update"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
echo "install-deps: apt-get install"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
echo "install-deps: done"

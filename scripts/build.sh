#!/usr/bin/env bash
# Installs missing dependencies, then configures and builds into build/.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

bash scripts/install-deps.sh
echo "build: configuring build/ (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "build: compiling with $(nproc) jobs"
cmake --build build -j"$(nproc)"
echo "build: done"

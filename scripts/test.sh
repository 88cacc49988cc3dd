#!/usr/bin/env bash
# Builds, then runs every unit and integration test. The exit code is ctest's.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

bash scripts/build.sh
echo "test: running ctest"
# --timeout applies to tests without their own TIMEOUT property.
exec ctest --test-dir build --output-on-failure --timeout 120 -j2

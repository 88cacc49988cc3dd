#!/usr/bin/env bash
# Builds (scripts/build.sh), then runs the benchmarks: the engine alone on a
# fake host (Google Benchmark), then the emulator, a private kernel cgroup v1
# hierarchy and a null FUSE filesystem side by side (docs/benchmarks.md).
#
#   scripts/bench.sh [--long] [bench_mounts options...]
#
#   --long            more rounds, longer samples, a longer engine run (~15 min)
#   --only CASES      mount cases to run: move,threads,read,mkdir (default all)
#   --rounds N        rounds per mount case
#   --no-renice       do not run at nice -20
#   --engine-only / --mounts-only
#
# The default run takes about 3 minutes. Mounts, kernel hierarchies and
# processes it makes are removed on exit, on failure and on Ctrl-C; a run
# killed with SIGKILL is cleaned up by the next one (bench_mounts --cleanup).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

engine_min_time=0.2
run_engine=1
run_mounts=1
mount_args=()
while (($#)); do
  case "$1" in
    --long) engine_min_time=2; mount_args+=(--long) ;;
    --engine-only) run_mounts=0 ;;
    --mounts-only) run_engine=0 ;;
    *) mount_args+=("$1") ;;
  esac
  shift
done

bash scripts/build.sh
bin=build/tests/bench

cleanup() { "$bin/bench_mounts" --cleanup >/dev/null 2>&1 || true; }
trap cleanup EXIT
# Ctrl-C reaches bench_mounts too, which cleans up and exits; then this exits.
trap 'exit 130' INT TERM
cleanup  # what a killed run may have left

echo "bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
if ((run_engine)); then
  echo "bench: engine on the fake host (Google Benchmark, min time ${engine_min_time} s each)"
  "$bin/bench_engine" --benchmark_min_time="$engine_min_time"
fi
if ((run_mounts)); then
  echo "bench: mounts: emulator vs kernel vs null FUSE"
  "$bin/bench_mounts" "${mount_args[@]}"
  echo "bench: forks: fork-to-visible latency and fork storms per tracking mechanism, beside the kernel"
  "$bin/bench_lifecycle" $([[ " ${mount_args[*]} " == *" --long "* ]] && echo --long)
fi

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ (-DCGEMU_FUZZ=ON:
# -fsanitize=fuzzer,address,undefined) and runs each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...] [--update-corpus]
#
# SECONDS defaults to 30; targets: kernel_parse, mount_options, core_files,
# and the controllers' files: cpuset_files, cpu_files, memory_files,
# devices_files, freezer_pids_files (default: all). Each target starts from its
# seeds in tests/fuzz/corpus/<target>/ and grows a working corpus in
# build-fuzz/corpus/<target>/; --update-corpus merges what the run found back
# into tests/fuzz/corpus/<target>/ (minimised). A crash or a violated property
# is copied to tests/fuzz/regressions/<target>/, where the fuzz_replay ctest
# replays it from then on; the exit code is then 1. CGEMU_FUZZ_BUILD_DIR
# builds elsewhere than build-fuzz/ (an absolute path, or one relative to the
# repository).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

seconds=30
targets=()
update_corpus=0
for arg in "$@"; do
  case "$arg" in
    --update-corpus) update_corpus=1 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds=$arg ;;
  esac
done
((${#targets[@]})) || targets=(kernel_parse mount_options core_files
  cpuset_files cpu_files memory_files devices_files freezer_pids_files)
build=${CGEMU_FUZZ_BUILD_DIR:-build-fuzz}

bash scripts/install-deps.sh
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang and its libFuzzer runtime"
  as_root=()
  ((EUID == 0)) || as_root=(sudo)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-dev
fi

echo "fuzz: configuring $build/ (clang, CGEMU_FUZZ=ON)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCGEMU_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  work=$build/corpus/$t
  artifacts=$build/artifacts/$t
  mkdir -p "$seeds" "$work" "$artifacts" "tests/fuzz/regressions/$t"
  dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  echo "fuzz: $t for ${seconds}s (seeds $seeds, working corpus $work)"
  before=$(ls "$artifacts" | wc -l)
  set +e
  "$build/tests/fuzz/fuzz_$t" "$work" "$seeds" "${dict[@]}" -max_total_time="$seconds" -max_len=8192 \
    -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" 2>&1 |
    grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)' | tail -40
  status=${PIPESTATUS[0]}
  set -e
  for f in "$artifacts"/*; do
    [[ -e $f ]] || continue
    cp -n "$f" "tests/fuzz/regressions/$t/"
  done
  if ((status != 0)) || (($(ls "$artifacts" | wc -l) > before)); then
    echo "fuzz: $t FAILED (exit $status); inputs kept in tests/fuzz/regressions/$t/"
    failed+=("$t")
  else
    echo "fuzz: $t ok"
  fi
  if ((update_corpus)); then
    echo "fuzz: merging new coverage into $seeds"
    "$build/tests/fuzz/fuzz_$t" -merge=1 "$seeds" "$work" -max_len=8192 >/dev/null 2>&1
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes or violated properties in: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash"

#!/usr/bin/env bash
# Coverage-guided fuzzing: builds every libFuzzer target (tests/fuzz/*_fuzz.cpp) with Debian's
# clang 16 under AddressSanitizer + UBSan and runs each for SECONDS (default 60).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Each run starts from the committed seed corpus tests/fuzz/corpus/<target>/ and writes what it
# finds to build/fuzz/work/<target>/new/ (merge it into the corpus by hand when it is worth
# keeping). A crash prints the reproducer's path; replay it with build/fuzz/tests/fuzz/fuzz_<target> <file>.
# Exit status: 0 when no target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2; }
scripts/setup.sh test

build=build/fuzz
mkdir -p "$build"
if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMPOOL_FUZZ=ON \
         -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 \
         -DMEMPOOL_BUILD_TESTS=OFF -DMEMPOOL_BUILD_BENCH=OFF &&
       cmake --build "$build" -j "$(nproc)" --target fuzz-all; } >"$build/build.log" 2>&1; then
  grep -E -A3 'error|FAILED' "$build/build.log" | head -n 40 >&2
  echo "fuzz: the build failed (whole log: $build/build.log)" >&2
  exit 2
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for bin in "$build"/tests/fuzz/fuzz_*; do targets+=("${bin##*/fuzz_}"); done
fi

export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-16/bin/llvm-symbolizer  # stacks with file:line
crashes=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  [[ -x "$bin" ]] || { echo "fuzz: no target '$t' (tests/fuzz/${t}_fuzz.cpp)" >&2; exit 2; }
  work=$build/work/$t
  rm -rf "$work" && mkdir -p "$work/new" "tests/fuzz/corpus/$t"
  # -rss_limit_mb: a leak or runaway growth is a finding too. New inputs go to the first
  # directory only, so the committed corpus is read, never written.
  if "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work/new" "tests/fuzz/corpus/$t" >"$work/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    echo "fuzz: $t ok (${runs:-0} runs)"
  else
    crashes=$((crashes + 1))
    reproducer=$(sed -n 's/.*Test unit written to //p' "$work/log" | tail -n 1)
    echo "fuzz: $t CRASHED; reproducer: ${reproducer:-none written}; log: $work/log"
    grep -m 20 -E 'ERROR|model check failed|input:|#[0-9]+ 0x' "$work/log" | head -n 20 || true
  fi
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, ${crashes} crashes"
((crashes == 0))

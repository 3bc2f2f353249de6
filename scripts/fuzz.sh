#!/usr/bin/env bash
# Fuzzes the checkpoint loader, the tokenizers and request validation with libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer (clang from Debian; the `fuzz` preset).
#   1. installs clang and LLVM's OpenMP runtime if missing, builds the three targets;
#   2. runs each for SECONDS (default 600), JOBS at a time (default: the number of cores), on a
#      copy of its seed corpus (tests/fuzz/corpus/TARGET), so the repository is not touched;
#   3. copies any crashing input to tests/fuzz/regressions/TARGET/, where every build replays it
#      as a test once the bug is fixed, and fails.
# The summary (executions, coverage, corpus growth per target) lands in build/fuzz/report.txt.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 60 tokenizer_fuzzer
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(checkpoint_fuzzer tokenizer_fuzzer request_fuzzer)
fi
jobs=${JOBS:-$(nproc)}

scripts/install-deps.sh
missing=()
for p in clang libomp-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake --preset fuzz
cmake --build --preset fuzz -j "$(nproc)"

work=build/fuzz/campaign
rm -rf "$work"
mkdir -p "$work"
report=build/fuzz/report.txt
: >"$report"

run_one() {
  local target="$1"
  local dir="$work/$target"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp tests/fuzz/corpus/"$target"/* "$dir/corpus/"
  local seeds
  seeds=$(find "$dir/corpus" -type f | wc -l)
  # -rss_limit_mb: a leak or runaway allocation fails the run; -timeout: so does a hang.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build/fuzz/tests/fuzz/$target" "$dir/corpus" -max_total_time="$seconds" \
    -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" >"$dir/log.txt" 2>&1 || true
  local runs coverage corpus
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log.txt" | tail -n 1)
  coverage=$(grep -o 'cov: [0-9]*' "$dir/log.txt" | tail -n 1 | cut -d' ' -f2)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  local crashes
  crashes=$(find "$dir/artifacts" -type f | wc -l)
  printf '%-18s %6ss %10s execs %6s edges  corpus %3s -> %5s  crashes %s\n' "$target" \
    "$seconds" "${runs:-?}" "${coverage:-?}" "$seeds" "$corpus" "$crashes" >>"$report"
}

running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

status=0
for target in "${targets[@]}"; do
  artifacts=("$work/$target"/artifacts/*)
  if [ -e "${artifacts[0]}" ]; then
    mkdir -p "tests/fuzz/regressions/$target"
    cp "${artifacts[@]}" "tests/fuzz/regressions/$target/"
    echo "fuzz: $target crashed; inputs kept in tests/fuzz/regressions/$target/," \
      "log in $work/$target/log.txt" >&2
    grep -m 3 -E 'ERROR|fuzz check failed|runtime error' "$work/$target/log.txt" >&2 || true
    status=1
  fi
done
cat "$report"
exit "$status"

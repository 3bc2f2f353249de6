#!/usr/bin/env bash
# Sets up a Debian 12 machine and runs every test:
#   1. installs the build dependencies from Debian's packages (scripts/install-deps.sh);
#   2. builds the release preset (with the CUDA backend when /usr/local/cuda exists) and runs
#      its tests, including the golden-logit comparison with the numpy reference;
#   3. checks the deployment files (scripts/deploy-check.sh) and runs Prometheus with deploy's
#      configuration against the release build's rattn-server (scripts/prometheus-check.py);
#   4. soaks rattn-server for 3 minutes under rattn-bench and checks its memory, then runs the
#      same check on a server that leaks on purpose, which must fail it (scripts/soak.sh);
#   5. builds the tests again with AddressSanitizer and UndefinedBehaviorSanitizer and runs them.
# Usage: scripts/test.sh [--no-sanitizers]
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=1
for arg in "$@"; do
  case "$arg" in
    --no-sanitizers) sanitizers=0 ;;
    *) echo "usage: $0 [--no-sanitizers]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
jobs=$(nproc)

echo "== release build and tests"
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

echo "== deployment files and Prometheus rules"
scripts/deploy-check.sh
/usr/bin/python3 scripts/prometheus-check.py --bin=build/release

echo "== soak (3 minutes) and its leaking control (2 minutes)"
scripts/soak.sh --minutes=3
scripts/soak.sh --minutes=2 --leak-control

if [ "$sanitizers" -eq 1 ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
  cmake --preset asan
  cmake --build --preset asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --preset asan -j "$jobs"
fi
echo "== all tests passed"

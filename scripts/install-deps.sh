#!/usr/bin/env bash
# Installs everything rattn builds and tests with, from Debian 12 (bookworm) packages.
# Usage: scripts/install-deps.sh [--build-only]   (as root, or with sudo available)
#   --build-only  only what the `server` preset needs to build (the container image's build stage)
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev nlohmann-json3-dev libsentencepiece-dev libutf8proc-dev
  libopenblas-dev
)
# Tests, benchmarks, the numpy reference, the Python client test, TLS test keys, promtool and
# the deployment checks (scripts/deploy-check.sh).
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy python3-sentencepiece openssl python3-grpcio python3-protobuf prometheus
  python3-yaml shellcheck
)

case "${1:-}" in
  "") packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  --build-only) packages=("${build_packages[@]}") ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

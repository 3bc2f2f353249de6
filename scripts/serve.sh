#!/usr/bin/env bash
# Sets up a Debian 12 machine and serves a model:
#   1. installs the build dependencies from Debian's packages (scripts/install-deps.sh);
#   2. builds rattn-server and its tools (the "server" preset, in build/server);
#   3. runs rattn-server in the foreground (CPU backend, or CUDA where a GPU is visible; see the
#      README for flags) on the default model, models/rattn-fortunes (a 6.4M-parameter
#      byte-level RAttention model trained on Debian's fortunes by tools/train/train.py),
#      unless --model_dir is given.
# Usage: scripts/serve.sh [rattn-server flags...]    e.g. scripts/serve.sh --listen=0.0.0.0:50051
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset server
cmake --build --preset server -j "$(nproc)"

args=("$@")
model_given=0
for arg in "$@"; do
  case "$arg" in
    --model_dir=*|--model_dir) model_given=1 ;;
  esac
done
if [ "$model_given" -eq 0 ]; then
  args=(--model_dir=models/rattn-fortunes "${args[@]}")
fi

exec build/server/server/rattn-server "${args[@]}"

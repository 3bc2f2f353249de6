#!/usr/bin/env bash
# Sets up a Debian 12 machine and serves a model:
#   1. installs the build dependencies from Debian's packages (scripts/install-deps.sh);
#   2. builds rattn-server and its tools (the "server" preset, in build/server);
#   3. unless --model_dir is given, makes the demo model: a small RAttention checkpoint with
#      RANDOM weights (models/rattn-demo-random; its output is gibberish, it exists to exercise
#      the server) with the byte tokenizer;
#   4. runs rattn-server in the foreground (CPU backend; see the README for flags).
# Usage: scripts/serve.sh [rattn-server flags...]    e.g. scripts/serve.sh --listen=0.0.0.0:50051
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset server
cmake --build --preset server -j "$(nproc)"

bin=build/server
model_given=0
for arg in "$@"; do
  case "$arg" in
    --model_dir=*|--model_dir) model_given=1 ;;
  esac
done

args=("$@")
if [ "$model_given" -eq 0 ]; then
  demo=models/rattn-demo-random
  if [ ! -f "$demo/config.json" ]; then
    echo "serve: making the demo model (random weights) in $demo"
    scripts/make-demo-model.sh "$bin/tools/rattn-make-checkpoint" "$demo"
  fi
  args=(--model_dir="$demo" "${args[@]}")
fi

exec "$bin/server/rattn-server" "${args[@]}"

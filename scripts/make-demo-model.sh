#!/usr/bin/env bash
# Makes the demo model: a small RAttention checkpoint (layers r,r,r,f,r,r,r,f, hidden 256,
# window 128, bf16) with RANDOM weights and the byte tokenizer. Its output is gibberish; it
# exists to exercise the server. scripts/serve.sh, the container image and the deployment
# checks all make it here, so they serve the same model.
# Usage: scripts/make-demo-model.sh RATTN_MAKE_CHECKPOINT OUT_DIR
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 RATTN_MAKE_CHECKPOINT OUT_DIR" >&2
  exit 2
fi
"$1" --out="$2" --layers=r,r,r,f,r,r,r,f --vocab=259 --hidden=256 --intermediate=768 --heads=8 \
  --kv_heads=4 --window=128 --max_positions=4096 --dtype=bf16 --seed=20261203

#!/usr/bin/env bash
# Trains the default model and the two variants it is compared with, the way the committed ones
# were made (docs/training.md): three runs of tools/train/train.py with the same size, data,
# steps and seed, then tools/train/reference.py on the rattention model and
# tools/train/compare.py over all three (the table and docs/training-loss.png's plot).
# About 25 minutes per run on a 2-core Zen 4 with AVX512-BF16.
#
# Usage: scripts/train-models.sh [OUT_DIR=build/train] [RATTN_SERVER=build/release/server/rattn-server]
#   Needs Debian's python3-torch, python3-matplotlib and fortunes packages (apt-get install -y
#   --no-install-recommends python3-torch python3-matplotlib fortunes) and a built rattn-server.
#   STEPS (default 1000) and SEED (default 1) pass through to train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/train}
server=${2:-build/release/server/rattn-server}
steps=${STEPS:-1000}
seed=${SEED:-1}

if ! /usr/bin/python3 -c "import torch, matplotlib" 2>/dev/null || [ ! -d /usr/share/games/fortunes ]; then
  echo "train-models: needs python3-torch, python3-matplotlib and fortunes (apt-get install)" >&2
  exit 1
fi
if [ ! -x "$server" ]; then
  echo "train-models: no rattn-server at $server (build the release preset first)" >&2
  exit 1
fi

mkdir -p "$out"
declare -A layers=([rattention]="r,r,r,f,r,r,r,f" [full]="f,f,f,f,f,f,f,f" [sliding]="s,s,s,f,s,s,s,f")
for name in rattention full sliding; do
  echo "== training $name (${layers[$name]}), $steps steps, seed $seed"
  /usr/bin/python3 tools/train/train.py --out="$out/$name" --layers="${layers[$name]}" \
    --steps="$steps" --seed="$seed" | tee "$out/$name.log"
done
/usr/bin/python3 tools/train/reference.py --model_dir="$out/rattention"
/usr/bin/python3 tools/train/compare.py --server="$server" --plot="$out/training-loss.png" \
  "rattention=$out/rattention" "full=$out/full" "sliding=$out/sliding"
echo "train-models: the default model is $out/rattention (copy config.json, model.safetensors,"
echo "report.json, curve.csv and reference.json to models/rattn-fortunes to replace it)"

#!/usr/bin/env bash
# The server over gRPC against the engine alone, on the ~125M checkpoints, in one run on one
# machine (so the figures are ratios, not lone absolute times):
#   - engine alone: engine_benchmark's BM_EngineThroughput (C requests of 128 prompt + 128 output
#     tokens submitted together), with the machine's sgemm rate and copy bandwidth;
#   - server: rattn-server on the same checkpoint, and rattn-bench sending the same C requests
#     together over gRPC (--num_requests=C --concurrency=C, no warm-up), C = 1, 4, 16;
#   - time to first token of a 128-token prompt on an idle server, against the engine's own
#     prefill time for it (reported by the server in the same calls).
# Engine and server runs alternate per C so that drift in the machine's speed hits both alike.
# Each pair runs REPEATS times (default 3) and the report takes the median of each side.
# Usage: [REPEATS=N] scripts/bench-server.sh [mix...]   mix 0 = full_attention, 1 = 3:1
# rattention (default both). Writes build/release/bench-server/report.md and the JSON it was
# made from.
set -euo pipefail
cd "$(dirname "$0")/.."

mixes=("$@")
[ "${#mixes[@]}" -eq 0 ] && mixes=(0 1)
repeats=${REPEATS:-3}
build=build/release
out=$build/bench-server
mkdir -p "$out"
cmake --preset release >/dev/null
cmake --build --preset release --target engine_benchmark rattn-server rattn-bench

server_pid=""
cleanup() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

for mix in "${mixes[@]}"; do
  model=/tmp/rattn_bench_125m_$mix
  for c in 1 4 16; do
  for r in $(seq "$repeats"); do
    # The engine benchmark also writes the checkpoint the server then serves.
    "$build/engine/engine_benchmark" \
      --benchmark_filter="BM_EngineThroughput/mix:$mix/concurrency:$c/|BM_GemmPeak|BM_MemoryCopy" \
      --benchmark_format=json --benchmark_out="$out/engine_mix${mix}_c${c}_r$r.json" >/dev/null

    "$build/server/rattn-server" --model_dir="$model" --listen=127.0.0.1:0 --metrics_listen= \
      --memory_budget=2GiB --max_sequences=64 2>"$out/server_mix$mix.log" &
    server_pid=$!
    port=""
    for _ in $(seq 600); do
      port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$out/server_mix$mix.log" | cut -d: -f2 || true)
      [ -n "$port" ] && break
      sleep 0.1
    done
    [ -n "$port" ] || { echo "server did not start; see $out/server_mix$mix.log" >&2; exit 1; }
    common=(--target="127.0.0.1:$port" --warmup=0s --duration=600s --progress=false)
    # One short request first, so that connection setup is not measured.
    "$build/tools/rattn-bench" "${common[@]}" --concurrency=1 --num_requests=1 --prompt_len=8 \
      --output_len=2 >/dev/null
    "$build/tools/rattn-bench" "${common[@]}" --concurrency="$c" --num_requests="$c" \
      --prompt_len=128 --output_len=128 --json_out="$out/server_mix${mix}_c${c}_r$r.json" >/dev/null
    if [ "$c" -eq 1 ] && [ "$r" -eq 1 ]; then
      "$build/tools/rattn-bench" "${common[@]}" --concurrency=1 --num_requests=10 \
        --prompt_len=128 --output_len=1 --json_out="$out/ttft_mix$mix.json" >/dev/null
    fi
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
  done
  done
done

/usr/bin/python3 - "$out" "$repeats" "${mixes[@]}" <<'PY'
import json, statistics, sys
out, repeats, mixes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
names = {"0": "full_attention", "1": "3:1 rattention, w=512"}
lines = [f"| mix | C | engine tok/s (median of {repeats}) | server tok/s (median of {repeats}) "
         "| server / engine |", "|---|---|---|---|---|"]
limits = []
for mix in mixes:
    for c in (1, 4, 16):
        engine_rates, server_rates = [], []
        for r in range(1, repeats + 1):
            engine = json.load(open(f"{out}/engine_mix{mix}_c{c}_r{r}.json"))
            for b in engine["benchmarks"]:
                if b["name"].startswith("BM_EngineThroughput"):
                    engine_rates.append(b["output tokens/s"])
                elif b["name"].startswith("BM_GemmPeak"):
                    limits.append(b["GFLOP/s"])
            server = json.load(open(f"{out}/server_mix{mix}_c{c}_r{r}.json"))
            server_rates.append(server["completed_output_tokens_per_s"])
        e, s = statistics.median(engine_rates), statistics.median(server_rates)
        lines.append(f"| {names[mix]} | {c} | {e:.1f} | {s:.1f} | {s / e:.3f} |")
lines += ["", "| mix | client TTFT p50 (s) | engine prefill p50 (s) | TTFT / prefill |", "|---|---|---|---|"]
for mix in mixes:
    t = json.load(open(f"{out}/ttft_mix{mix}.json"))
    ttft, prefill = t["ttft_s"]["p50"], t["server_prefill_s"]["p50"]
    lines.append(f"| {names[mix]} | {ttft:.4f} | {prefill:.4f} | {ttft / prefill:.3f} |")
if limits:
    lines += ["", f"OpenBLAS sgemm measured beside each engine run: median {statistics.median(limits):.0f} "
              f"GFLOP/s (range {min(limits):.0f} to {max(limits):.0f})"]
report = "\n".join(lines) + "\n"
open(f"{out}/report.md", "w").write(report)
print(report)
PY

#!/usr/bin/env bash
# Soak: rattn-server under rattn-bench at a fixed concurrency for a while, with its resident
# memory sampled every 5 seconds. Passes when no request failed and the resident memory after
# warm-up grew by less than a fixed bound (end: median of the last 3 samples; start: median of
# the first 3 after warm-up, which is the first fifth of the run and at least 30 s).
#
# --leak-control preloads tests/soak/leak_preload.c (a malloc that leaks 16 KiB every 500
# calls, so the leak follows the work as a per-request leak would): the same check must then
# fail, and the script passes only if it does. The CI runs 3 minutes plus a 2-minute control
# (scripts/test.sh); the full soak is 30 minutes:
#
#   scripts/soak.sh --minutes=30
#
# Usage: scripts/soak.sh [--minutes=M] [--concurrency=C] [--bound_mib=N] [--leak-control]
# Writes build/release/soak[-control]/{report.md,rss.tsv,bench.json,server.log}.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=3
concurrency=8
bound_mib=32
control=0
for arg in "$@"; do
  case "$arg" in
    --minutes=*) minutes=${arg#*=} ;;
    --concurrency=*) concurrency=${arg#*=} ;;
    --bound_mib=*) bound_mib=${arg#*=} ;;
    --leak-control) control=1 ;;
    *) echo "usage: $0 [--minutes=M] [--concurrency=C] [--bound_mib=N] [--leak-control]" >&2
       exit 2 ;;
  esac
done
for value in "$minutes" "$concurrency" "$bound_mib"; do
  [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "soak: '$value' is not a positive integer" >&2; exit 2; }
done

build=${BUILD:-build/release}
suffix=""
what=""
if [ "$control" -eq 1 ]; then
  suffix=-control
  what=", leaking on purpose"
fi
out=$build/soak$suffix
rm -rf "$out" && mkdir -p "$out"
cmake --build "$build" --target rattn-server rattn-bench rattn-make-checkpoint >/dev/null

model=$build/soak-model
if [ ! -f "$model/config.json" ]; then
  "$build/tools/rattn-make-checkpoint" --out="$model" --layers=r,r,r,f --vocab=259 --hidden=128 \
    --intermediate=384 --heads=4 --kv_heads=2 --window=32 --max_positions=4096 --dtype=bf16 \
    --seed=7 >/dev/null
fi

preload=""
if [ "$control" -eq 1 ]; then
  preload=$out/leak_preload.so
  cc -O2 -shared -fPIC -o "$preload" tests/soak/leak_preload.c
fi

server_pid=""
sampler_pid=""
cleanup() {
  if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

LD_PRELOAD=$preload "$build/server/rattn-server" --model_dir="$model" --listen=127.0.0.1:0 \
  --metrics_listen= --memory_budget=256MiB --max_sequences=32 --max_waiting=256 \
  2>"$out/server.log" &
server_pid=$!
port=""
for _ in $(seq 600); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$out/server.log" | cut -d: -f2 || true)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "soak: the server did not start; see $out/server.log" >&2; exit 1; }

(
  start=$SECONDS
  while kill -0 "$server_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$((SECONDS - start)) $rss" >>"$out/rss.tsv"
    sleep 5
  done
) &
sampler_pid=$!

echo "soak: $minutes min at concurrency $concurrency against 127.0.0.1:$port$what"
"$build/tools/rattn-bench" --target="127.0.0.1:$port" --concurrency="$concurrency" --warmup=0s \
  --duration="${minutes}m" --prompt_len=uniform:8:200 --output_len=uniform:1:64 \
  --temperature=0.8 --seed=3 --progress=false --json_out="$out/bench.json" >"$out/bench.txt"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""

/usr/bin/python3 - "$out" "$bound_mib" "$control" "$server_status" "$minutes" "$concurrency" <<'PY'
import json, statistics, sys
out, bound_mib, control, server_status, minutes, concurrency = sys.argv[1:]
bound_mib, control, server_status = float(bound_mib), control == "1", int(server_status)
samples = [tuple(map(int, line.split())) for line in open(f"{out}/rss.tsv") if line.strip()]
bench = json.load(open(f"{out}/bench.json"))
ok, failed = bench["requests"]["ok"], bench["requests"]["failed"]
duration = samples[-1][0]
warmup = max(30, duration / 5)
after = [rss for t, rss in samples if t >= warmup]
problems = []
if len(after) < 6:
    problems.append(f"only {len(after)} samples after warm-up")
    growth = float("nan")
else:
    start, end = statistics.median(after[:3]), statistics.median(after[-3:])
    growth = (end - start) / 1024
    if not growth < bound_mib:
        problems.append(f"resident memory grew {growth:.1f} MiB after warm-up (bound {bound_mib:g})")
if failed:
    problems.append(f"{failed} requests failed: {bench['requests']['failures_by_code']}")
if ok == 0:
    problems.append("no request completed")
if server_status != 0:
    problems.append(f"the server exited with status {server_status} after SIGTERM")
report = [
    f"# soak{' (leak control)' if control else ''}: {minutes} min at concurrency {concurrency}",
    "",
    f"- requests: {ok} ok, {failed} failed; {bench['output_tokens_per_s']:.0f} output tokens/s",
    f"- resident memory: {samples[0][1] / 1024:.1f} MiB at start, "
    f"{after[0] / 1024 if after else float('nan'):.1f} MiB after {warmup:.0f} s of warm-up, "
    f"{samples[-1][1] / 1024:.1f} MiB at the end ({len(samples)} samples)",
    f"- growth after warm-up: {growth:.1f} MiB (bound {bound_mib:g} MiB)",
    f"- check: {'FAIL: ' + '; '.join(problems) if problems else 'pass'}",
]
open(f"{out}/report.md", "w").write("\n".join(report) + "\n")
print("\n".join(report))
if control:
    leaked = any("resident memory grew" in p for p in problems)
    print("soak: the leak control " + ("failed the memory check, as it must" if leaked
          else "PASSED the memory check: the check cannot see a leak"))
    sys.exit(0 if leaked else 1)
sys.exit(1 if problems else 0)
PY

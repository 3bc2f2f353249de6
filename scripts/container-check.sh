#!/usr/bin/env bash
# Builds the CPU image with podman on a debootstrapped Debian bookworm base and checks it end to
# end (docs/deploy.md, "Checking the image"):
#   1. the image builds from deploy/Dockerfile with both bases set to that Debian base;
#   2. the container starts as a non-root user, its HEALTHCHECK (gRPC health) passes, and flags
#      come from FLAGS_* environment variables;
#   3. rattn-cli generates through it, and /metrics shows the tokens it generated;
#   4. Prometheus with deploy/prometheus's configuration scrapes it: the target is up and every
#      recording rule returns data (scripts/prometheus-check.py);
#   5. `podman stop` sends SIGTERM with a stream in flight: the server logs its drain, the
#      stream completes, and the container exits with status 0.
# Needs root, podman, runc and debootstrap (apt-get install podman runc debootstrap) and
# Debian's mirror; about 5 minutes on 2 cores with cached layers, more from cold (vfs storage
# copies every layer).
# Usage: scripts/container-check.sh [--keep-image]
set -euo pipefail
cd "$(dirname "$0")/.."

keep_image=0
for arg in "$@"; do
  case "$arg" in
    --keep-image) keep_image=1 ;;
    *) echo "usage: $0 [--keep-image]" >&2; exit 2 ;;
  esac
done

base=localhost/debian:bookworm
image=localhost/rattn-server:cpu
name=rattn-container-check
grpc_port=50151
metrics_port=9190
start=$SECONDS

step() { printf '\n== %s\n' "$*"; }
fail() { echo "container-check: FAIL: $*" >&2; exit 1; }
# Whether the container's log holds $1. (Not `podman logs | grep -q`: under pipefail, grep's
# early exit can fail the pipeline with SIGPIPE while podman is still writing.)
log_has() {
  local logs
  logs=$("${podman[@]}" logs "$name" 2>&1)
  grep -q -- "$1" <<<"$logs"
}

# This sandbox forbids setrlimit in containers and the systemd cgroup manager (../shared notes).
conf_dir=$(mktemp -d)
cat >"$conf_dir/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF="$conf_dir/containers.conf"
podman=(podman --storage-driver vfs --runtime runc)
cleanup() {
  "${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true
  if [ "$keep_image" -eq 0 ]; then "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true; fi
  rm -rf "$conf_dir"
}
trap cleanup EXIT

step "the Debian bookworm base"
if ! "${podman[@]}" image exists "$base"; then
  rootfs=$(mktemp -d)
  chmod 755 "$rootfs"  # the image's root directory: mktemp's 0700 would lock out the rattn user
  mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources | head -n 1)
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}"
  tar -C "$rootfs" -c . | "${podman[@]}" import - "$base"
  rm -rf "$rootfs"
fi
echo "$base present"

step "build $image"
# --format docker keeps the HEALTHCHECK (OCI images have no such field).
"${podman[@]}" build --isolation chroot --network host --format docker -f deploy/Dockerfile \
  --build-arg BUILD_BASE="$base" --build-arg RUNTIME_BASE="$base" -t "$image" .
echo "image size: $("${podman[@]}" image inspect --format '{{.Size}}' "$image" |
  awk '{printf "%.0f MiB", $1 / 1048576}')"

step "run"
"${podman[@]}" run -d --name "$name" --network host \
  -e FLAGS_listen="127.0.0.1:$grpc_port" -e FLAGS_metrics_listen="127.0.0.1:$metrics_port" \
  -e FLAGS_drain_timeout=20s -e FLAGS_target="127.0.0.1:$grpc_port" "$image" >/dev/null
cli=("${podman[@]}" exec "$name" rattn-cli --target="127.0.0.1:$grpc_port")
for _ in $(seq 60); do
  if "${cli[@]}" health >/dev/null 2>&1; then break; fi
  sleep 1
done
"${cli[@]}" health || fail "the server never reported SERVING"
uid=$("${podman[@]}" exec "$name" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
echo "runs as uid $uid"
"${podman[@]}" healthcheck run "$name" || fail "the image's HEALTHCHECK failed"
echo "HEALTHCHECK: healthy"
log_has "127.0.0.1:$grpc_port" ||
  fail "the server did not take --listen from FLAGS_listen"

step "generate through the container, then scrape /metrics"
metric() {
  /usr/bin/python3 - "$1" "http://127.0.0.1:$metrics_port/metrics" <<'PY'
import sys, urllib.request
name, url = sys.argv[1], sys.argv[2]
text = urllib.request.urlopen(url, timeout=5).read().decode()
print(sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")))
PY
}
before=$(metric rattn_generated_tokens_total)
"${cli[@]}" generate --max_new_tokens=12 --ignore_eos "The container says"
after=$(metric rattn_generated_tokens_total)
echo "rattn_generated_tokens_total: $before -> $after"
[ "$(/usr/bin/python3 -c "print(int($after - $before))")" = 12 ] ||
  fail "/metrics did not count the 12 generated tokens"

step "Prometheus with deploy/prometheus's configuration"
# rattn-bench runs in the container (the host may have no build of it).
bench_dir=$(mktemp -d)
mkdir -p "$bench_dir/tools"
cat >"$bench_dir/tools/rattn-bench" <<SH
#!/bin/sh
exec ${podman[*]} exec $name rattn-bench "\$@"
SH
chmod +x "$bench_dir/tools/rattn-bench"
/usr/bin/python3 scripts/prometheus-check.py --bin="$bench_dir" \
  --grpc="127.0.0.1:$grpc_port" --metrics="127.0.0.1:$metrics_port"
rm -rf "$bench_dir"

step "SIGTERM with a stream in flight"
stream_log=$(mktemp)
# 1,200 tokens take the default model a few seconds (about 10 on a busy 2-core machine, within
# the 20 s drain timeout); SIGTERM comes once the stream is running.
"${cli[@]}" generate --max_new_tokens=1200 --ignore_eos "A long answer" >"$stream_log" 2>&1 &
stream=$!
for _ in $(seq 100); do
  if "${cli[@]}" load 2>/dev/null | grep -Eq "^running +1$"; then break; fi
  sleep 0.1
done
"${podman[@]}" stop --time 40 "$name" >/dev/null
status=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")
wait "$stream" || fail "the in-flight stream failed during the drain: $(tail -n 3 "$stream_log")"
"${podman[@]}" logs "$name" 2>&1 | tail -n 4
log_has "received SIGTERM" || fail "no SIGTERM in the log"
log_has "draining: 1 running" ||
  fail "the drain did not see the in-flight stream"
log_has "drained; stopped" || fail "no completed drain in the log"
[ "$status" = 0 ] || fail "exit status $status"
grep -q "finish length" "$stream_log" || fail "the stream did not finish: $(tail -n 3 "$stream_log")"
rm -f "$stream_log"
echo "exit status 0 after the drain; the in-flight stream finished"

echo
echo "container-check: all checks passed ($((SECONDS - start)) s)"

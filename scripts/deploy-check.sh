#!/usr/bin/env bash
# Checks the deployment files in deploy/ without a cluster, a container engine or a GPU:
#   1. kustomize renders the base and both overlays (kubectl kustomize);
#   2. the rendered manifests pass schema and unknown-field validation (deploy/tools, with
#      npm packages pinned in deploy/tools/package-lock.json);
#   3. promtool checks the Prometheus configuration and the recording rules;
#   4. the rules, the Grafana dashboard, the compose files and the image agree with the server's
#      metrics and flags and with each other (deploy/tools/check_*.py); the Dockerfile lints
#      clean (dockerfile-utils), and so do the shell scripts (shellcheck).
# Needs kubectl, node and npm, promtool (Debian's prometheus package), shellcheck and Debian's
# python3 with python3-yaml; `npm ci` reaches the npm registry once, then runs from its cache.
# Usage: scripts/deploy-check.sh    (exits non-zero on the first failing check)
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
python=/usr/bin/python3
tools=deploy/tools

step() { printf '\n== %s\n' "$*"; }

step "tools"
missing=()
for tool in kubectl node npm promtool shellcheck "$python"; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
"$python" -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deploy-check: missing ${missing[*]} (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
echo "kubectl $(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: //p'), node" \
  "$(node --version), $(promtool --version 2>&1 | head -n 1)"
if ! cmp -s "$tools/package-lock.json" "$tools/node_modules/.rattn-installed-lock.json"; then
  (cd "$tools" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
  cp "$tools/package-lock.json" "$tools/node_modules/.rattn-installed-lock.json"
fi
echo "deploy/tools: npm packages as locked"

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT

step "kustomize renders the base and the overlays"
kubectl kustomize deploy/k8s/base >"$rendered/base.yaml"
for overlay in cpu gpu; do
  kubectl kustomize "deploy/k8s/overlays/$overlay" >"$rendered/$overlay.yaml"
done
for file in "$rendered"/*.yaml; do
  echo "  ok    $(basename "$file"): $(grep -c '^kind:' "$file") objects"
done

step "the rendered manifests against their kinds' schemas and types"
node "$tools/validate_manifests.mjs" "$rendered/cpu.yaml" "$rendered/gpu.yaml"

step "promtool"
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/rules.yml

step "recording rules, prometheus-adapter and the HPA against the server's metrics"
"$python" -B "$tools/check_rules.py" .

step "Grafana dashboards and provisioning"
"$python" -B "$tools/check_dashboard.py" .

step "compose files"
"$python" -B "$tools/check_compose.py" .

step "the image, the flags and the drain timing"
# dockerfile-utils prints nothing for a clean Dockerfile; any warning fails too.
lint=$("$tools/node_modules/.bin/dockerfile-utils" lint deploy/Dockerfile 2>&1) || true
if [ -n "$lint" ]; then
  printf '%s\n' "$lint"
  echo "  FAIL  deploy/Dockerfile: dockerfile-utils lint" >&2
  exit 1
fi
echo "  ok    deploy/Dockerfile passes dockerfile-utils lint"
shellcheck deploy/image/*.sh scripts/*.sh
echo "  ok    shellcheck: deploy/image/*.sh, scripts/*.sh"
"$python" -B "$tools/check_consistency.py" . "$rendered/cpu.yaml" "$rendered/gpu.yaml"

printf '\ndeploy-check: all checks passed in %d s\n' "$((SECONDS - start))"

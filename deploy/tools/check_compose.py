"""Checks deploy/compose.yaml (and the overrides beside it) without a container engine:
`docker compose config` needs one, and this machine has none.

  - every file parses, names only known top-level keys, and every service has an image;
  - build contexts and Dockerfiles exist; every bind-mounted path exists; every named volume is
    declared;
  - Prometheus scrapes rattn-server's service at its metrics port, and Grafana's provisioned
    data source points at the Prometheus service;
  - rattn-server's stop_grace_period covers --drain_timeout plus gRPC's 5 s shutdown grace.

Usage: check_compose.py REPO_ROOT
"""
import glob
import os
import re
import sys

import yaml

TOP_LEVEL = {"name", "services", "volumes", "networks", "configs", "secrets"}
SHUTDOWN_GRACE_SECONDS = 5  # kShutdownGrace in server/server.cc
DEFAULT_DRAIN_SECONDS = 30  # --drain_timeout's default
DEFAULT_METRICS_PORT = 9090  # --metrics_listen's default port


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def seconds(text):
    """'45s', '1m30s', '2m' -> seconds."""
    total = 0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def default_of(value):
    """'${NAME:-default}' -> 'default'; other strings unchanged."""
    match = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", str(value))
    return match.group(1) if match else str(value)


def check_file(path, base, problems):
    name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
    compose = load(path)
    for key in sorted(set(compose) - TOP_LEVEL):
        problems.append(f"{name}: unknown top-level key {key}")
    here = os.path.dirname(path)
    declared = set((compose.get("volumes") or {}) | ((base or {}).get("volumes") or {}))
    for service_name, service in compose.get("services", {}).items():
        where = f"{name}: service {service_name}"
        if "image" not in service and base is None:
            problems.append(f"{where}: no image")
        build = service.get("build")
        if isinstance(build, dict) and "context" in build:
            context = os.path.join(here, build["context"])
            if not os.path.isdir(context):
                problems.append(f"{where}: build context {build['context']} does not exist")
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(dockerfile):
                problems.append(f"{where}: {build.get('dockerfile')} does not exist")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                if not os.path.exists(os.path.join(here, source)):
                    problems.append(f"{where}: mounted path {source} does not exist")
            elif source not in declared:
                problems.append(f"{where}: volume {source} is not declared")
    return compose


def check_wiring(root, compose, problems):
    services = compose["services"]
    server = services["rattn-server"]
    env = server.get("environment", {})
    listen = default_of(env.get("FLAGS_metrics_listen", f"0.0.0.0:{DEFAULT_METRICS_PORT}"))
    metrics_target = f"rattn-server:{listen.rsplit(':', 1)[1]}"

    prometheus = load(os.path.join(root, "deploy/prometheus/prometheus.yml"))
    targets = [t for job in prometheus["scrape_configs"]
               for group in job.get("static_configs", []) for t in group["targets"]]
    if metrics_target not in targets:
        problems.append(f"prometheus.yml: scrapes {targets}, not {metrics_target}")

    pattern = os.path.join(root, "deploy/grafana/provisioning/datasources/*.yml")
    urls = [s["url"] for path in glob.glob(pattern) for s in load(path)["datasources"]]
    prometheus_port = services["prometheus"].get("ports", ["9090:9090"])[0].rsplit(":", 1)[1]
    if f"http://prometheus:{prometheus_port}" not in urls:
        problems.append(f"grafana data sources {urls} do not point at the prometheus service")

    drain = seconds(default_of(env.get("FLAGS_drain_timeout", f"{DEFAULT_DRAIN_SECONDS}s")))
    grace = seconds(server.get("stop_grace_period", "10s"))
    if grace < drain + SHUTDOWN_GRACE_SECONDS:
        problems.append(f"compose.yaml: rattn-server's stop_grace_period ({grace:g} s) is "
                        f"shorter than its drain ({drain:g} s) plus {SHUTDOWN_GRACE_SECONDS} s")
    return metrics_target, drain, grace


def main(root):
    problems = []
    base_path = os.path.join(root, "deploy/compose.yaml")
    base = check_file(base_path, None, problems)
    overrides = sorted(set(glob.glob(os.path.join(root, "deploy/compose.*.yaml"))))
    for path in overrides:
        check_file(path, base, problems)
    target, drain, grace = check_wiring(root, base, problems)
    for problem in problems:
        print(f"  FAIL  {problem}")
    if problems:
        return 1
    files = ", ".join(os.path.basename(p) for p in [base_path] + overrides)
    print(f"  ok    {files}: files and volumes exist; Prometheus scrapes {target}; Grafana reads "
          f"Prometheus; stop grace {grace:g} s covers the {drain:g} s drain")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

#!/usr/bin/python3
"""Runs Prometheus (Debian's package) with deploy/prometheus's configuration against a live
rattn-server and checks, through Prometheus's HTTP API, that the scrape target is up, that every
rule group evaluates cleanly and that every recording rule returns data (finite values for the
latency quantiles, which need traffic between two scrapes).

The configuration is deploy/prometheus/prometheus.yml and rules.yml unchanged except for the
scrape target, which points at the server under test instead of the compose service name.

Usage:
  scripts/prometheus-check.py [--bin=build/release]
      starts BIN/server/rattn-server on the default model (models/rattn-fortunes)
  scripts/prometheus-check.py --grpc=HOST:PORT --metrics=HOST:PORT [--bin=DIR]
      checks a server that is already running (the container check uses this); BIN/tools/
      rattn-bench sends the traffic
"""
import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPOSE_TARGET = "rattn-server:9090"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"prometheus-check: timed out after {timeout} s waiting for {what}")


def recording_rules():
    with open(os.path.join(ROOT, "deploy/prometheus/rules.yml"), encoding="utf-8") as f:
        groups = yaml.safe_load(f)["groups"]
    return [rule["record"] for group in groups for rule in group["rules"] if "record" in rule]


def start_server(bin_dir, workdir):
    model = os.path.join(ROOT, "models/rattn-fortunes")
    grpc = f"127.0.0.1:{free_port()}"
    metrics = f"127.0.0.1:{free_port()}"
    log = open(os.path.join(workdir, "server.log"), "wb")
    server = subprocess.Popen(
        [os.path.join(bin_dir, "server/rattn-server"), f"--model_dir={model}", f"--listen={grpc}",
         f"--metrics_listen={metrics}", "--memory_budget=256MiB", "--drain_timeout=5s"],
        stdout=log, stderr=subprocess.STDOUT)
    wait_until("rattn-server's /metrics",
               lambda: urllib.request.urlopen(f"http://{metrics}/metrics", timeout=2).status == 200,
               60)
    return server, grpc, metrics


def start_prometheus(workdir, metrics):
    config_dir = os.path.join(workdir, "prometheus")
    os.makedirs(config_dir)
    with open(os.path.join(ROOT, "deploy/prometheus/prometheus.yml"), encoding="utf-8") as f:
        config = f.read()
    if COMPOSE_TARGET not in config:
        raise SystemExit(f"prometheus-check: prometheus.yml no longer targets {COMPOSE_TARGET}")
    with open(os.path.join(config_dir, "prometheus.yml"), "w", encoding="utf-8") as f:
        f.write(config.replace(COMPOSE_TARGET, metrics))
    shutil.copy(os.path.join(ROOT, "deploy/prometheus/rules.yml"), config_dir)
    address = f"127.0.0.1:{free_port()}"
    log = open(os.path.join(workdir, "prometheus.log"), "wb")
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={config_dir}/prometheus.yml",
         f"--storage.tsdb.path={workdir}/tsdb", f"--web.listen-address={address}"],
        stdout=log, stderr=subprocess.STDOUT)
    wait_until("Prometheus to be ready",
               lambda: urllib.request.urlopen(f"http://{address}/-/ready", timeout=2).status == 200,
               60)
    return prometheus, f"http://{address}"


def send_traffic(bin_dir, grpc, seconds):
    # A steady trickle across several scrapes, so that every rate and quantile has an increase.
    subprocess.run(
        [os.path.join(bin_dir, "tools/rattn-bench"), f"--target={grpc}", "--concurrency=2",
         "--warmup=0s", f"--duration={seconds}s", "--prompt_len=16", "--output_len=24",
         "--progress=false"],
        check=True, stdout=subprocess.DEVNULL)


def check(api, rules, timeout):
    """Returns the problems still left when every check passed or `timeout` ran out."""
    deadline = time.monotonic() + timeout
    while True:
        problems = []
        targets = http_json(f"{api}/api/v1/targets")["data"]["activeTargets"]
        if len(targets) != 1 or targets[0]["health"] != "up":
            problems.append(f"scrape targets: {[(t['scrapeUrl'], t['health']) for t in targets]}")
        for group in http_json(f"{api}/api/v1/rules")["data"]["groups"]:
            for rule in group["rules"]:
                if rule.get("health") != "ok":
                    problems.append(f"rule {rule['name']}: health {rule.get('health')} "
                                    f"{rule.get('lastError', '')}")
        values = {}
        for record in rules:
            query = urllib.parse.urlencode({"query": record})
            result = http_json(f"{api}/api/v1/query?{query}")["data"]["result"]
            values[record] = [float(sample["value"][1]) for sample in result]
            if not result:
                problems.append(f"{record}: no data")
            elif not all(math.isfinite(v) for v in values[record]):
                problems.append(f"{record}: {values[record]}")
        if not problems or time.monotonic() > deadline:
            return problems, targets, values
        time.sleep(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build/release"))
    parser.add_argument("--grpc", help="HOST:PORT of a running server's gRPC endpoint")
    parser.add_argument("--metrics", help="HOST:PORT of the same server's /metrics")
    parser.add_argument("--traffic_seconds", type=int, default=20)
    args = parser.parse_args()
    if (args.grpc is None) != (args.metrics is None):
        parser.error("--grpc and --metrics go together")
    if shutil.which("prometheus") is None:
        raise SystemExit("prometheus-check: no prometheus on PATH (Debian's prometheus package)")

    started = time.monotonic()
    rules = recording_rules()
    processes = []
    workdir = tempfile.mkdtemp(prefix="rattn-prometheus-check-")
    try:
        grpc, metrics = args.grpc, args.metrics
        if grpc is None:
            server, grpc, metrics = start_server(args.bin, workdir)
            processes.append(server)
        prometheus, api = start_prometheus(workdir, metrics)
        processes.append(prometheus)
        print(f"prometheus-check: Prometheus at {api} scrapes {metrics}; "
              f"{len(rules)} recording rules; traffic for {args.traffic_seconds} s")
        send_traffic(args.bin, grpc, args.traffic_seconds)
        problems, targets, values = check(api, rules, timeout=30)
        for record in rules:
            shown = ", ".join(f"{v:.4g}" for v in values.get(record, [])) or "-"
            print(f"  {'ok  ' if values.get(record) else 'FAIL'}  {record} = {shown}")
        for problem in problems:
            print(f"  FAIL  {problem}")
        if problems:
            for name in ("server.log", "prometheus.log"):
                path = os.path.join(workdir, name)
                if os.path.exists(path):
                    print(f"--- tail of {name}")
                    with open(path, errors="replace") as f:
                        print("".join(f.readlines()[-20:]))
            return 1
        print(f"prometheus-check: target {targets[0]['scrapeUrl']} up, every rule group healthy, "
              f"all {len(rules)} recording rules return data "
              f"({time.monotonic() - started:.0f} s)")
        return 0
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Checks that the deploy files agree with the server and with each other, where nothing else
would notice a drift until a deployment misbehaves:

  - the image's --tryfromenv list is exactly rattn-server's flags (server/main.cc), and every
    FLAGS_<name> set in compose files or Kubernetes manifests names one of them;
  - every path the Dockerfile copies from the build context exists and is let through by
    .dockerignore;
  - in every rendered Kubernetes overlay, terminationGracePeriodSeconds covers the preStop
    sleep, --drain_timeout and gRPC's shutdown grace, and the liveness probe tolerates
    NOT_SERVING for longer than a drain.

Usage: check_consistency.py REPO_ROOT RENDERED.yaml...
"""
import fnmatch
import glob
import os
import re
import sys

import yaml

SHUTDOWN_GRACE_SECONDS = 5  # kShutdownGrace in server/server.cc


def read(root, relative):
    with open(os.path.join(root, relative), encoding="utf-8") as f:
        return f.read()


def server_flags(root):
    return set(re.findall(r"ABSL_FLAG\(\s*[^,]+,\s*(\w+),", read(root, "server/main.cc")))


def check_flags(root, flags, rendered_docs, problems):
    dockerfile = read(root, "deploy/Dockerfile")
    match = re.search(r'rattn-server",\s*"--tryfromenv=([a-z_,]+)"', dockerfile)
    if match is None:
        problems.append("Dockerfile: the entrypoint has no --tryfromenv list")
        return
    listed = match.group(1).split(",")
    for name in sorted(flags - set(listed)):
        problems.append(f"Dockerfile: --tryfromenv lacks rattn-server's flag {name}")
    for name in sorted(set(listed) - flags):
        problems.append(f"Dockerfile: --tryfromenv lists {name}, which rattn-server lacks")

    env_names = []
    for path in glob.glob(os.path.join(root, "deploy/compose*.yaml")):
        with open(path, encoding="utf-8") as f:
            for service in yaml.safe_load(f)["services"].values():
                env_names += [(os.path.basename(path), n) for n in service.get("environment", {})]
    for source, docs in rendered_docs.items():
        for doc in docs:
            if doc.get("kind") != "Deployment":
                continue
            for container in doc["spec"]["template"]["spec"]["containers"]:
                env_names += [(source, e["name"]) for e in container.get("env", [])]
    for source, name in env_names:
        if name.startswith("FLAGS_") and name[len("FLAGS_"):] not in flags:
            problems.append(f"{source}: {name} names no rattn-server flag")


def dockerignore_allows(patterns, path):
    allowed = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, body) or path.startswith(body + "/") or body == "*":
            allowed = negated
    return allowed


def check_copies(root, problems):
    patterns = [line.strip() for line in read(root, ".dockerignore").splitlines()
                if line.strip() and not line.startswith("#")]
    copied = 0
    for line in read(root, "deploy/Dockerfile").splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        for source in line.split()[1:-1]:
            copied += 1
            path = source.rstrip("/")
            if not os.path.exists(os.path.join(root, path)):
                problems.append(f"Dockerfile: COPY {source}: no such path")
            elif not dockerignore_allows(patterns, path):
                problems.append(f"Dockerfile: COPY {source}: excluded by .dockerignore")
    return copied


def duration_seconds(text):
    return sum(float(a) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u]
               for a, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text))


def check_timing(source, docs, problems):
    summaries = []
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for container in pod["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            drain = duration_seconds(env.get("FLAGS_drain_timeout") or "30s")
            command = (container.get("lifecycle", {}).get("preStop", {})
                       .get("exec", {}).get("command", []))
            pre_stop = float(command[1]) if command[:1] == ["sleep"] else 0
            needed = pre_stop + drain + SHUTDOWN_GRACE_SECONDS
            if grace < needed:
                problems.append(f"{source}: terminationGracePeriodSeconds {grace} < preStop "
                                f"{pre_stop:g} + drain {drain:g} + shutdown "
                                f"{SHUTDOWN_GRACE_SECONDS}")
            live = container.get("livenessProbe", {})
            tolerance = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
            if tolerance <= drain + SHUTDOWN_GRACE_SECONDS:
                problems.append(f"{source}: the liveness probe fails after {tolerance} s, "
                                f"within a drain of {drain:g} + {SHUTDOWN_GRACE_SECONDS} s")
            summaries.append(f"{source} grace {grace} s >= {needed:g} s")
    return summaries


def main(root, rendered):
    problems = []
    rendered_docs = {}
    for path in rendered:
        with open(path, encoding="utf-8") as f:
            rendered_docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(f) if d]
    flags = server_flags(root)
    check_flags(root, flags, rendered_docs, problems)
    copied = check_copies(root, problems)
    timings = []
    for source, docs in rendered_docs.items():
        timings += check_timing(source, docs, problems)
    for problem in problems:
        print(f"  FAIL  {problem}")
    if problems:
        return 1
    print(f"  ok    the image reads all {len(flags)} rattn-server flags from FLAGS_*, and every "
          "FLAGS_* set in compose and Kubernetes names one")
    print(f"  ok    the Dockerfile's {copied} copied paths exist and pass .dockerignore")
    print(f"  ok    drain timing: {'; '.join(timings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))

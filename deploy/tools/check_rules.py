"""Checks the recording rules beyond `promtool check rules`, which knows no metric names.

  - every name a rule reads is a metric rattn-server exports or a recorded series;
  - no series is recorded twice or under the name of an exported metric;
  - deploy/k8s/base/prometheusrule.yaml holds exactly the groups of rules.yml;
  - every prometheus-adapter rule reads an exported metric, and every Pods metric of the
    HorizontalPodAutoscaler is one the adapter serves.

Usage: check_rules.py REPO_ROOT
"""
import os
import re
import sys

import yaml

from promql_names import PROMETHEUS_SERIES, metric_names, server_metrics


def load(root, relative):
    with open(os.path.join(root, relative), encoding="utf-8") as f:
        return yaml.safe_load(f)


def check_recording_rules(rules, exported, problems):
    recorded = []
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                recorded.append(rule["record"])
    for name in sorted({n for n in recorded if recorded.count(n) > 1}):
        problems.append(f"rules.yml: {name} is recorded more than once")
    for name in sorted(set(recorded) & exported):
        problems.append(f"rules.yml: {name} is recorded under the name of an exported metric")
    known = exported | set(recorded) | PROMETHEUS_SERIES
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in sorted(metric_names(rule["expr"]) - known):
                problems.append(f"rules.yml: {rule.get('record', rule.get('alert'))} reads "
                                f"{name}, which neither rattn-server nor a rule produces")
    return set(recorded)


def check_prometheus_rule(rules, prometheus_rule, problems):
    if prometheus_rule.get("spec", {}).get("groups") != rules["groups"]:
        problems.append("deploy/k8s/base/prometheusrule.yaml: spec.groups differ from "
                        "deploy/prometheus/rules.yml")


def check_adapter(adapter, hpa, exported, problems):
    served = set()
    for rule in adapter["rules"]:
        query_names = metric_names(rule["seriesQuery"])
        for name in sorted(query_names - exported):
            problems.append(f"prometheus-adapter-rules.yaml: seriesQuery reads {name}, which "
                            "rattn-server does not export")
        renaming = rule.get("name", {})
        for name in query_names:
            matches = renaming.get("matches")
            served.add(re.sub(matches, renaming["as"], name) if matches and "as" in renaming
                       else name)
    for metric in hpa["spec"].get("metrics", []):
        if metric["type"] != "Pods":
            continue
        name = metric["pods"]["metric"]["name"]
        if name not in served:
            problems.append(f"hpa.yaml: Pods metric {name} is not served by "
                            "prometheus-adapter-rules.yaml")
    return served


def main(root):
    problems = []
    exported = server_metrics(os.path.join(root, "server/metrics.cc"))
    rules = load(root, "deploy/prometheus/rules.yml")
    recorded = check_recording_rules(rules, exported, problems)
    check_prometheus_rule(rules, load(root, "deploy/k8s/base/prometheusrule.yaml"), problems)
    served = check_adapter(load(root, "deploy/k8s/prometheus-adapter-rules.yaml"),
                           load(root, "deploy/k8s/base/hpa.yaml"), exported, problems)
    for problem in problems:
        print(f"  FAIL  {problem}")
    if problems:
        return 1
    print(f"  ok    {len(recorded)} recording rules read only the {len(exported)} series "
          "rattn-server exports or other rules; prometheusrule.yaml matches rules.yml")
    print(f"  ok    prometheus-adapter serves {', '.join(sorted(served))}; the HPA asks for "
          "nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

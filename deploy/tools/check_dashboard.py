"""Checks the Grafana dashboards and their provisioning, which Grafana itself would only
complain about at run time (an empty panel, a "No data" that is really a typo).

For every dashboard JSON under deploy/grafana/dashboards:
  - it parses, and its uid is unique among the dashboards; panel ids are unique in it;
  - every panel and query variable has a data source that is either the `datasource` variable
    or a provisioned data source's uid; every panel has at least one target, each with an
    expression and a distinct refId;
  - every expression (and every query variable) reads only recording rules of
    deploy/prometheus/rules.yml, series rattn-server exports, or Prometheus' own;
  - panels do not overlap on the grid.
And the provisioning: the dashboard provider's path is where deploy/compose.yaml mounts the
dashboards, and the `datasource` variable's default is a provisioned data source.

Usage: check_dashboard.py REPO_ROOT
"""
import glob
import json
import os
import sys

import yaml

from promql_names import PROMETHEUS_SERIES, metric_names, server_metrics


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def recorded_series(rules_path):
    rules = load_yaml(rules_path)
    return {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}


def provisioned_datasources(root):
    uids = set()
    pattern = os.path.join(root, "deploy/grafana/provisioning/datasources/*.yml")
    for path in glob.glob(pattern):
        for source in load_yaml(path).get("datasources", []):
            uids.add(source["uid"])
    return uids


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels inside a collapsed row


def check_datasource(where, datasource, variables, provisioned, problems):
    uid = datasource.get("uid") if isinstance(datasource, dict) else None
    if uid is None:
        problems.append(f"{where}: no data source uid")
    elif uid.startswith("$"):
        name = uid.strip("${}")
        if variables.get(name, {}).get("type") != "datasource":
            problems.append(f"{where}: data source {uid} names no datasource variable")
    elif uid not in provisioned:
        problems.append(f"{where}: data source uid {uid} is not provisioned")


def check_overlap(name, panels, problems):
    cells = {}
    for panel in panels:
        grid = panel.get("gridPos")
        if grid is None:
            problems.append(f"{name}: panel {panel.get('id')} has no gridPos")
            continue
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = cells.setdefault((x, y), panel.get("id"))
                if other != panel.get("id"):
                    problems.append(f"{name}: panels {other} and {panel.get('id')} overlap")
                    return


def check_dashboard(path, known, provisioned, problems):
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        try:
            dashboard = json.load(f)
        except json.JSONDecodeError as error:
            problems.append(f"{name}: not valid JSON: {error}")
            return None, 0
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    default = variables.get("datasource", {}).get("current", {}).get("value")
    if "datasource" in variables and default not in provisioned:
        problems.append(f"{name}: the datasource variable's default {default} is not provisioned")
    for variable in variables.values():
        if variable.get("type") != "query":
            continue
        check_datasource(f"{name}: variable {variable['name']}", variable.get("datasource"),
                         variables, provisioned, problems)
        query = variable.get("query")
        expr = query.get("query") if isinstance(query, dict) else query
        for metric in sorted(metric_names(expr) - known):
            problems.append(f"{name}: variable {variable['name']} reads unknown series {metric}")

    ids = []
    panels = [p for p in panels_of(dashboard) if p.get("type") != "row"]
    for panel in panels:
        where = f"{name}: panel {panel.get('id')} '{panel.get('title')}'"
        ids.append(panel.get("id"))
        check_datasource(where, panel.get("datasource"), variables, provisioned, problems)
        targets = panel.get("targets", [])
        if not targets:
            problems.append(f"{where}: no targets")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids):
            problems.append(f"{where}: repeated refId")
        for target in targets:
            if "datasource" in target:
                check_datasource(where, target["datasource"], variables, provisioned, problems)
            expr = target.get("expr", "").strip()
            if not expr:
                problems.append(f"{where}: target {target.get('refId')} has no expression")
            for metric in sorted(metric_names(expr) - known):
                problems.append(f"{where}: reads unknown series {metric}")
    for panel_id in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        problems.append(f"{name}: panel id {panel_id} is used more than once")
    check_overlap(name, panels, problems)
    return dashboard.get("uid"), len(panels)


def check_provider(root, problems):
    compose = load_yaml(os.path.join(root, "deploy/compose.yaml"))
    mounts = {}
    for volume in compose["services"]["grafana"].get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    pattern = os.path.join(root, "deploy/grafana/provisioning/dashboards/*.yml")
    for path in glob.glob(pattern):
        for provider in load_yaml(path).get("providers", []):
            folder = provider["options"]["path"]
            if mounts.get(folder) != "./grafana/dashboards":
                problems.append(f"{os.path.basename(path)}: provider path {folder} is not where "
                                "compose.yaml mounts deploy/grafana/dashboards")


def main(root):
    problems = []
    recorded = recorded_series(os.path.join(root, "deploy/prometheus/rules.yml"))
    known = (recorded | server_metrics(os.path.join(root, "server/metrics.cc")) |
             PROMETHEUS_SERIES)
    provisioned = provisioned_datasources(root)
    check_provider(root, problems)
    uids = {}
    summary = []
    for path in sorted(glob.glob(os.path.join(root, "deploy/grafana/dashboards/*.json"))):
        uid, panel_count = check_dashboard(path, known, provisioned, problems)
        if uid is None:
            problems.append(f"{os.path.basename(path)}: no uid")
        elif uid in uids:
            problems.append(f"{os.path.basename(path)}: uid {uid} is also {uids[uid]}'s")
        else:
            uids[uid] = os.path.basename(path)
        summary.append(f"{os.path.basename(path)} ({panel_count} panels)")
    if not uids and not problems:
        problems.append("deploy/grafana/dashboards: no dashboards")
    for problem in problems:
        print(f"  FAIL  {problem}")
    if problems:
        return 1
    print(f"  ok    {', '.join(summary)}: data sources provisioned, every expression reads "
          "recording rules or exported series, uids unique, no overlaps")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Metric names for the deploy checks: those a PromQL expression reads, and those that exist.

A metric exists when rattn-server exports it (every "rattn_..." name in server/metrics.cc; a
histogram also as _bucket, _sum and _count), when Prometheus makes it for every target, or when
a recording rule records it.
"""
import re

# Series Prometheus adds for every scrape target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def server_metrics(metrics_source):
    """The series rattn-server exports, read from server/metrics.cc."""
    with open(metrics_source, encoding="utf-8") as f:
        text = f.read()
    names = set(re.findall(r'"(rattn_[a-z0-9_]+)"', text))
    histograms = re.findall(r'AddHistogram\(\s*\w+,\s*"(rattn_[a-z0-9_]+)"', text)
    if not names or not histograms:
        raise ValueError(f"{metrics_source}: found no metric names; has the file changed?")
    for name in histograms:
        names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def metric_names(expr):
    """The metric names an expression reads. Label values, label names in by/without/on
    clauses, functions, keywords, numbers and durations are left out."""
    label_values = re.match(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)", expr)
    if label_values:  # Grafana's label_values(METRIC, LABEL)
        return {label_values.group(1)}
    text = _STRING.sub(" ", expr)
    previous = None
    while previous != text:  # matchers hold no braces, but grouping may nest in functions
        previous = text
        text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        name = match.group(0)
        following = text[match.end():].lstrip()
        if following.startswith("(") or name.lower() in _KEYWORDS:
            continue
        if match.start() > 0 and (text[match.start() - 1].isdigit() or
                                  text[match.start() - 1] in ".$"):
            continue  # the exponent of 1e3, or a Grafana variable such as $job
        names.add(name)
    return names

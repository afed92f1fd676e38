"""The Grafana dashboard and the Prometheus alert rules name only metrics kernel/metrics.py
exports, and between them show every one it exports: neither side can drift alone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from kernel import metrics
from tests.paths import ROOT

DASHBOARDS = sorted((ROOT / "deploy" / "grafana").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus records itself for each scrape target."""

_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "info": ("_info",),
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
)


def exported() -> frozenset[str]:
    """Every series name the registry can export, labelled metrics with no child yet too."""
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return frozenset(names)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label
    matchers, ranges, label lists, function calls, keywords and numbers are taken out."""
    bare = _STRINGS.sub(" ", expr)
    for pattern in (_MATCHERS, _RANGES, _LABEL_LISTS):
        bare = pattern.sub(" ", bare)
    return {name for name in _NAME.findall(bare) if name.lower() not in _KEYWORDS}


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        yield from _panel_exprs(path.name, json.loads(path.read_text(encoding="utf-8")))


def _panel_exprs(where: str, node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield f"{where}: {node.get('refId', '?')}", node["expr"]
        for key, value in node.items():
            yield from _panel_exprs(f"{where}/{node.get('title', key)}", value)
    elif isinstance(node, list):
        for item in node:
            yield from _panel_exprs(where, item)


def rule_exprs() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def test_the_name_finder_reads_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"x|y"}[5m]))) '
        '/ on (route) group_left b_total offset 1h > 3 and up{job="lienthong-router"} == 0 '
        "or (c - time()) < 30 * 86400"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "up", "c"}


def test_there_is_a_dashboard_and_it_is_grafana_json() -> None:
    assert DASHBOARDS
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert dashboard["uid"]
        assert dashboard["schemaVersion"] >= 36
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"


@pytest.mark.parametrize(("where", "expr"), [*dashboard_exprs(), *rule_exprs()])
def test_every_expression_names_exported_metrics(where: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - exported() - PROMETHEUS_OWN
    assert not unknown, f"{where}: {sorted(unknown)} not in kernel/metrics.py"


def test_every_exported_metric_is_shown_or_alerted_on() -> None:
    used = {name for _, expr in [*dashboard_exprs(), *rule_exprs()] for name in metric_names(expr)}
    families = {
        family.name: {family.name + suffix for suffix in _SUFFIXES[family.type]}
        for family in metrics.REGISTRY.collect()
    }
    unused = sorted(name for name, series in families.items() if not series & used)
    assert not unused, f"exported but on no dashboard and in no rule: {unused}"


def test_every_metric_is_documented() -> None:
    for family in metrics.REGISTRY.collect():
        assert len(family.documentation) > 20, f"{family.name} needs a help text that says what"

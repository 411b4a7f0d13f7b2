"""What the tests know about monitoring/: the metric catalogues, the recording rules, the PromQL checker, and the
committed Grafana dashboards with their queries made runnable.

- `catalogue()` reads docs/metrics.md's tables, `module_catalogue()` the metric objects of
  hotline/telemetry/catalogue.py; `selector_problems()` lists the names and label matchers of an expression that
  neither knows (tests/unit/test_monitoring_rules.py, tests/unit/test_dashboards.py);
- `panel_queries()` gives every target of every panel of monitoring/dashboards/*.json as PromQL that runs against
  a real Prometheus: Grafana's template variables replaced by what Grafana would send (`$queue` by the variable's
  "all" value `.*`, `$__rate_interval`, `$__interval`, `$__range`... by durations). tests/e2e/test_monitoring.py
  runs each one.

monitoring/ is read as files, never imported (docs/architecture.md); `load_script()` loads one of its scripts by
path for the tests of that script.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import promql_parser
import yaml

from tests.support import ROOT

MONITORING = ROOT / "monitoring"
PROM = MONITORING / "prometheus"
CONFIG = PROM / "prometheus.yml"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
DASHBOARDS = MONITORING / "dashboards"
PROVISIONING = MONITORING / "grafana" / "provisioning"
METRICS_MD = ROOT / "docs" / "metrics.md"

# labels every scraped series has, whatever docs/metrics.md lists
TARGET_LABELS = frozenset({"job", "instance"})

# What Grafana puts for its built-in variables, for a query over RANGE_S seconds at STEP_S (the embedded
# Prometheus scrapes every 15 s; Grafana's $__rate_interval is max(interval + scrape, 4 * scrape)).
SCRAPE_S = 15
RANGE_S = 3600
STEP_S = SCRAPE_S

# $name, ${name}, ${name:format} and the deprecated [[name]]
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


# ---- the catalogues


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    labels: frozenset[str]


def _with_series(name: str, kind: str, labels: frozenset[str]) -> dict[str, Metric]:
    out = {name: Metric(name, kind, labels)}
    if kind == "histogram":
        out[f"{name}_bucket"] = Metric(f"{name}_bucket", kind, labels | {"le"})
        out[f"{name}_sum"] = Metric(f"{name}_sum", kind, labels)
        out[f"{name}_count"] = Metric(f"{name}_count", kind, labels)
    return out


def catalogue(text: str) -> dict[str, Metric]:
    """Names of docs/metrics.md's tables (`| name | type | labels | ... |`), a histogram with its series."""
    out: dict[str, Metric] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 3:
            continue
        names = re.findall(r"`([a-z_][a-z0-9_]*)`", cells[0])
        kind = cells[1]
        if kind not in ("counter", "gauge", "histogram"):
            continue
        labels = frozenset(re.findall(r"[a-z_][a-z0-9_]*", cells[2]))
        for name in names:
            out.update(_with_series(name, kind, labels))
    return out


def module_catalogue(namespace: Mapping[str, object]) -> dict[str, Metric]:
    """The prometheus-client metrics among a module's names (hotline.telemetry.catalogue), by exposed name: a
    counter `x` as `x_total`, a histogram with its series."""
    from prometheus_client.metrics import MetricWrapperBase

    out: dict[str, Metric] = {}
    for value in namespace.values():
        if not isinstance(value, MetricWrapperBase):
            continue
        kind = value._type
        name = f"{value._name}_total" if kind == "counter" else value._name
        out.update(_with_series(name, kind, frozenset(value._labelnames)))
    return out


def known_metrics() -> dict[str, Metric]:
    """docs/metrics.md's names, and those of hotline/telemetry/catalogue.py that it would miss."""
    import hotline.telemetry.catalogue as module

    return module_catalogue(vars(module)) | catalogue(METRICS_MD.read_text(encoding="utf-8"))


# ---- the rules


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def rules(paths: list[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in paths:
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                yield path, rule


def recorded_names(paths: list[Path] = RULE_FILES) -> set[str]:
    return {rule["record"] for _, rule in rules(paths) if "record" in rule}


# ---- PromQL


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    """Every vector selector of the expression (those under range selectors and subqueries too); raises when the
    expression does not parse."""
    found: list[promql_parser.VectorSelector] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def selector_problems(
    expr: str,
    known: Mapping[str, Metric],
    recorded: set[str],
    *,
    foreign: Callable[[str], bool] | None = None,
) -> list[str]:
    """Metric names that are neither recorded, `up`, catalogued nor `foreign` (a name another exporter owns,
    whose labels are not checked), and matchers on labels a metric lacks."""
    problems = []
    for sel in selectors(expr):
        name = sel.name
        matchers = list(sel.matchers.matchers)
        if name is None:
            problems.append(f"selector without a literal metric name: {sel}")
            continue
        labels = {m.name for m in matchers if m.name != "__name__"}
        if name in recorded or (foreign is not None and foreign(name)):
            continue
        if name == "up":
            allowed = set(TARGET_LABELS)
        elif name in known:
            allowed = set(known[name].labels) | TARGET_LABELS
        else:
            problems.append(f"{name}: not in docs/metrics.md nor a recording rule")
            continue
        problems.extend(f"{name}: no label {label!r} in docs/metrics.md" for label in sorted(labels - allowed))
    return problems


def dashboard_foreign(name: str) -> bool:
    """Names a dashboard may use beyond the catalogues: Kamailio's own (xhttp_prom) and Prometheus's ALERTS."""
    return name == "ALERTS" or name.startswith("kamailio_")


# ---- the dashboards


def dashboards(directory: Path = DASHBOARDS) -> list[tuple[str, dict[str, Any]]]:
    """(file name, dashboard) of every committed dashboard, by file name."""
    out = []
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(board, dict), path
        out.append((path.name, board))
    return out


def panels(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's panels, those inside rows too (a row itself is not a panel)."""
    out: list[dict[str, Any]] = []
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def variable_values(board: Mapping[str, Any]) -> dict[str, str]:
    """What Grafana sends for each template variable with its default selection: the "all" value when the
    variable includes "all" (the dashboards select all by default), else its current value."""
    out = {}
    for var in board.get("templating", {}).get("list", []):
        current = (var.get("current") or {}).get("value")
        if var.get("includeAll") and var.get("allValue"):
            out[var["name"]] = var["allValue"]
        elif isinstance(current, str) and current and not current.startswith("$"):
            out[var["name"]] = current
        else:
            raise ValueError(f"template variable {var.get('name')!r}: no value to run its queries with")
    return out


def builtin_values(range_s: int = RANGE_S, step_s: int = STEP_S, scrape_s: int = SCRAPE_S) -> dict[str, str]:
    """Grafana's built-in variables for a query over range_s seconds at step_s."""
    return {
        "__interval": f"{step_s}s",
        "__interval_ms": str(step_s * 1000),
        "__rate_interval": f"{max(step_s + scrape_s, 4 * scrape_s)}s",
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(range_s * 1000),
    }


def runnable(expr: str, values: Mapping[str, str]) -> str:
    """The expression with every Grafana variable replaced; raises on one it does not know."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        if name not in values:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return VARIABLE.sub(value, expr)


def panel_queries(directory: Path = DASHBOARDS) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) of every target of every panel of the committed dashboards, with the
    variables replaced so that the expression runs against Prometheus as it is."""
    out = []
    for name, board in dashboards(directory):
        values = variable_values(board) | builtin_values()
        for panel in panels(board):
            for target in panel.get("targets", []):
                if target.get("expr") and not target.get("hide"):
                    out.append((name, panel["title"], runnable(target["expr"], values)))
    return out


def load_script(path: Path) -> ModuleType:
    """A script of monitoring/ (generate.py, render.py) loaded by path, for its own tests."""
    name = f"_monitoring_{path.parent.name}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module

"""The Prometheus side of monitoring/: config, recording rules and alerts checked by the real promtool, and their
names checked against the catalogues.

- `promtool check config` on monitoring/prometheus/prometheus.yml (its rule_files glob finds every rules file),
  `promtool check rules` on each rules file, `promtool test rules` on each tests/*.test.yml;
- every expression (rules, and the PromQL of `query` in annotations) parses with promql-parser, and every metric
  it selects is a recording rule of the files, `up`, or a name of docs/metrics.md (a histogram's _bucket, _sum,
  _count), with label matchers only on that metric's labels;
- recording rules are named `level:metric:operations`, and a KPI's rule has the docs/kpi.md formula (`接通率 v1`)
  in the comment above it;
- every alert has a severity, a Chinese summary and description, a runbook anchor that docs/alerts.md has, and
  promtool cases where it fires and where it does not.

The checkers (shared with tests/unit/test_dashboards.py, in tests/support/monitoring.py) are proved on snippets
at the end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.monitoring import (
    CONFIG,
    METRICS_MD,
    PROM,
    RULE_FILES,
    catalogue,
    load,
    rules,
    selector_problems,
    selectors,
)

TEST_FILES = sorted((PROM / "tests").glob("*.test.yml"))
KPI_MD = ROOT / "docs" / "kpi.md"
ALERTS_MD = ROOT / "docs" / "alerts.md"

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian's prometheus package; scripts/setup-system.sh installs it)",
)

CJK = re.compile(r"[\u4e00-\u9fff]")
RECORD_NAME = re.compile(r"^(hotline|queue|prefecture):[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")
SEVERITIES = {"critical", "warning"}
TEMPLATE_QUERY = re.compile(r"""\bquery\s+"((?:[^"\\]|\\.)*)\"""")


# ---- the documents (the catalogues and the PromQL checker: tests/support/monitoring.py)


def kpi_formulas(text: str) -> dict[str, str]:
    """docs/kpi.md's KPI ids and their formula names: {"answer_rate": "接通率 v1", ...}."""
    return {m[3]: f"{m[1]} {m[2]}" for m in re.finditer(r"^### (\S+) (v\d+) \(`([a-z_]+)`", text, re.M)}


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.M)}


# ---- the rules


def template_queries(annotations: dict[str, str]) -> list[str]:
    return [m[1].replace('\\"', '"') for text in annotations.values() for m in TEMPLATE_QUERY.finditer(text)]


def comment_above(lines: list[str], record: str) -> str:
    """The comment lines right above `- record: NAME` in a rules file."""
    idx = next(i for i, line in enumerate(lines) if line.strip() == f"- record: {record}")
    comments = []
    i = idx - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        comments.append(lines[i].strip())
        i -= 1
    return "\n".join(reversed(comments))


def kpi_of(record: str) -> str | None:
    """The docs/kpi.md id a recording rule computes (`queue:kpi_asa_seconds:mean5m` -> `asa`), None if no KPI."""
    metric = record.split(":")[1]
    if not metric.startswith("kpi_"):
        return None
    return re.sub(r"_seconds$", "", metric.removeprefix("kpi_"))


KNOWN = catalogue(METRICS_MD.read_text(encoding="utf-8"))
ALL_RULES = list(rules(RULE_FILES))
RECORDED = {r["record"] for _, r in ALL_RULES if "record" in r}
ALERTS = [(p, r) for p, r in ALL_RULES if "alert" in r]


# ---- promtool


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=100, check=False)


@needs_promtool
def test_config_is_valid() -> None:
    done = promtool("check", "config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rules_file_is_valid(path: Path) -> None:
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: Path) -> None:
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_files_are_there() -> None:
    assert {p.name for p in RULE_FILES} >= {"kpi.yml", "alerts.yml"}
    assert TEST_FILES, "no promtool tests in monitoring/prometheus/tests"


def test_config_jobs_and_rule_files() -> None:
    config = load(CONFIG)
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["hotline"]["static_configs"][0]["targets"] == ["127.0.0.1:9348"]
    assert jobs["kamailio"]["static_configs"][0]["targets"] == ["127.0.0.1:5065"]
    assert all(j.get("metrics_path", "/metrics") == "/metrics" for j in jobs.values())
    found = {p for pattern in config["rule_files"] for p in CONFIG.parent.glob(pattern)}
    assert found == set(RULE_FILES)


# ---- names


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_expressions_use_catalogued_metrics(path: Path) -> None:
    problems: list[str] = []
    for _, rule in rules([path]):
        name = rule.get("record") or rule["alert"]
        exprs = [rule["expr"], *template_queries(rule.get("annotations", {}))]
        for expr in exprs:
            problems.extend(f"{name}: {p}" for p in selector_problems(expr, KNOWN, RECORDED))
    assert not problems, "\n".join(problems)


def test_recording_rules_are_named_and_documented() -> None:
    formulas = kpi_formulas(KPI_MD.read_text(encoding="utf-8"))
    assert "answer_rate" in formulas and formulas["answer_rate"] == "接通率 v1"
    problems: list[str] = []
    names = [r["record"] for _, r in ALL_RULES if "record" in r]
    problems.extend(f"{n}: defined twice" for n in sorted({n for n in names if names.count(n) > 1}))
    for path, rule in ALL_RULES:
        if "record" not in rule:
            continue
        record = rule["record"]
        if not RECORD_NAME.match(record):
            problems.append(f"{record}: not level:metric:operations")
            continue
        comment = comment_above(path.read_text(encoding="utf-8").splitlines(), record)
        kpi = kpi_of(record)
        if not comment:
            problems.append(f"{record}: no comment above it")
        elif kpi is not None and kpi not in formulas:
            problems.append(f"{record}: {kpi!r} is not a KPI id of docs/kpi.md")
        elif kpi is not None and formulas[kpi] not in comment:
            problems.append(f"{record}: the comment above does not name {formulas[kpi]!r}")
    assert not problems, "\n".join(problems)


def test_every_alert_has_severity_chinese_text_and_a_runbook() -> None:
    assert ALERTS
    doc_anchors = anchors(ALERTS_MD.read_text(encoding="utf-8"))
    problems = []
    for _, rule in ALERTS:
        name = rule["alert"]
        ann = rule.get("annotations", {})
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity not one of {sorted(SEVERITIES)}")
        for key in ("summary", "description"):
            if not CJK.search(ann.get(key, "")):
                problems.append(f"{name}: {key} not in Chinese")
        runbook = ann.get("runbook", "")
        page, _, anchor = runbook.partition("#")
        if page != "docs/alerts.md" or anchor not in doc_anchors:
            problems.append(f"{name}: runbook {runbook!r} is not an anchor of docs/alerts.md")
    assert not problems, "\n".join(problems)


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for _, r in ALERTS}
    assert names - firing == set(), "alerts without a promtool case where they fire"
    assert names - quiet == set(), "alerts without a promtool case where they do not fire"
    assert (firing | quiet) - names == set(), "promtool cases for alerts that do not exist"


def test_the_alerts_of_the_issue_are_there() -> None:
    assert {r["alert"] for _, r in ALERTS} >= {
        "ServiceLevelBelowTarget",
        "NoAgentLoggedIn",
        "AbandonmentSpike",
        "CellDown",
        "CellFlapping",
        "FrontDown",
        "FrontTargetsDown",
        "TranscriptionBacklogGrowing",
        "CallsFailing",
        "DatabaseUnreachable",
        "HotlineDown",
    }


# ---- the checkers, proved on snippets

SNIPPET_MD = """
| name | type | labels | counts |
|---|---|---|---|
| `hotline_calls_offered_total` | counter | queue, prefecture | visits |
| `hotline_kpi_today_numerator`, `hotline_kpi_today_denominator` | gauge | kpi | its parts |
| `hotline_talk_seconds` | histogram | queue | talk |
| `label` | values |
"""


def test_catalogue_reads_tables() -> None:
    known = catalogue(SNIPPET_MD)
    assert set(known) == {
        "hotline_calls_offered_total",
        "hotline_kpi_today_numerator",
        "hotline_kpi_today_denominator",
        "hotline_talk_seconds",
        "hotline_talk_seconds_bucket",
        "hotline_talk_seconds_sum",
        "hotline_talk_seconds_count",
    }
    assert known["hotline_calls_offered_total"].labels == {"queue", "prefecture"}
    assert "le" in known["hotline_talk_seconds_bucket"].labels
    assert "hotline_queue_waiting" in KNOWN and "hotline_queue_wait_seconds_sum" in KNOWN


def test_selector_check_catches_unknown_names_and_labels() -> None:
    known = catalogue(SNIPPET_MD)
    ok = 'sum by (queue) (increase(hotline_calls_offered_total{job="hotline",queue="a"}[5m])) > 0 or up == 0'
    assert selector_problems(ok, known, set()) == []
    assert selector_problems("queue:x:rate5m > 1", known, {"queue:x:rate5m"}) == []
    assert selector_problems("rate(hotline_talk_seconds_bucket{le='30'}[5m])", known, set()) == []
    assert selector_problems("rate(hotline_calls_answered_total[5m])", known, set()) == [
        "hotline_calls_answered_total: not in docs/metrics.md nor a recording rule"
    ]
    assert selector_problems("sum_over_time(nope[10m:1m])", known, set()) == [
        "nope: not in docs/metrics.md nor a recording rule"
    ]
    assert selector_problems('hotline_calls_offered_total{outcome="x"}', known, set()) == [
        "hotline_calls_offered_total: no label 'outcome' in docs/metrics.md"
    ]
    assert selector_problems('{__name__="hotline_calls_offered_total"}', known, set())[0].startswith(
        "selector without a literal metric name"
    )
    with pytest.raises(ValueError):
        selectors("sum(rate(x[5m])")


def test_template_queries_and_comments() -> None:
    ann = {"description": 'x {{ with query "hotline_kpi_target{kpi=`sl`}" }}{{ . | first | value }}{{ end }}'}
    assert template_queries(ann) == ["hotline_kpi_target{kpi=`sl`}"]
    lines = ["    rules:", "      # 接通率 v1: a / b", "      - record: hotline:kpi_answer_rate:ratio_rate5m"]
    assert comment_above(lines, "hotline:kpi_answer_rate:ratio_rate5m") == "# 接通率 v1: a / b"
    assert comment_above(lines[1:2] + lines[2:] + ["      - record: x:y:z"], "x:y:z") == ""
    assert kpi_of("queue:kpi_asa_seconds:mean5m") == "asa"
    assert kpi_of("hotline:calls_offered:increase5m") is None
    assert kpi_formulas("### 接通率 v1 (`answer_rate`, answer rate, ratio)\n") == {"answer_rate": "接通率 v1"}


def test_anchors_follow_github() -> None:
    assert anchors("# Alerts\n## CellDown\n### What to do, first\n") == {"alerts", "celldown", "what-to-do-first"}

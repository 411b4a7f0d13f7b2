"""Metrics end to end, checked against a real Prometheus: `hotline up` runs its own Prometheus (scraping the node's
/metrics every second, with the rules of monitoring/prometheus/rules), real calls go through the front — one caller
answered who takes the survey, one who asks for a callback and is called back, one who gives up in the queue —
then every agent logs out. Prometheus's figures must equal the SQL KPIs of docs/kpi.md over the same calls, every
recording rule and every dashboard panel must return data, and the NoAgentLoggedIn alert must fire."""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from db import kpi as kpi_rows
from hotline.kpi import scorecard
from tests.support import ROOT
from tests.support.monitoring import panel_queries
from tests.support.ports import free_port
from tests.support.stack import (
    HOST,
    Stack,
    agent_states,
    logged_in_agent,
    move_agent,
    paused_agent,
    registered_poor_caller,
    select,
    select_until,
)
from tests.support.transcribe import korean_model_path

pytestmark = [pytest.mark.sip, pytest.mark.timeout(480)]

# The office hours of this run never close: the calls take the menu's path at any hour of any day, and the
# service runs on the real clock (PostgreSQL stamps the events with it, and "today" is the day of those stamps).
ALWAYS_OPEN = """\
timezone: Asia/Shanghai
weekly: {mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"], thu: ["00:00-24:00"],
         fri: ["00:00-24:00"], sat: ["00:00-24:00"], sun: ["00:00-24:00"]}
statutory_holidays: false
exceptions: []
"""


@pytest.fixture
def stack_clock() -> str:
    return ""  # the real clock (see ALWAYS_OPEN)


@pytest.fixture
def stack_files() -> dict[str, str]:
    return {"schedules/office_hours.yaml": ALWAYS_OPEN}


@pytest.fixture
def prometheus_port() -> int:
    return free_port()


@pytest.fixture
def stack_env(tmp_path: Path, prometheus_port: int) -> dict[str, str]:
    rules = tmp_path / "rules"
    rules.mkdir()
    for src in (ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml"):
        doc = yaml.safe_load(src.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "NoAgentLoggedIn":
                    rule["for"] = "2s"  # 5m in production
        (rules / src.name).write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return {
        "HOTLINE_PROMETHEUS_ENABLED": "true",
        "HOTLINE_PROMETHEUS_PORT": str(prometheus_port),
        "HOTLINE_PROMETHEUS_SCRAPE_INTERVAL_S": "1",
        "HOTLINE_PROMETHEUS_RULES_DIR": str(rules),
        "HOTLINE_METRICS_PORT": str(free_port()),
        "HOTLINE_METRICS_REFRESH_S": "1",
        "HOTLINE_METRICS_KPI_REFRESH_S": "2",
        "HOTLINE_TRANSCRIBE_MODEL_PATH": str(korean_model_path()),
        "HOTLINE_TRANSCRIBE_PORT": str(free_port()),
        "HOTLINE_TRANSCRIBE_LIVE_STREAMS": "4",
    }


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}" if params else f"{self.base}{path}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        result = data["result"]
        return result if data["resultType"] == "vector" else [{"metric": {}, "value": result}]

    def value(self, expr: str) -> float | None:
        """The single value of an expression (None when it returns nothing)."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def now(self) -> float:
        """Prometheus's own clock (the test reads no wall clock of its own)."""
        return float(self.query("time()")[0]["value"][1])

    def has_data(self, expr: str, since: float) -> bool:
        """Whether an expression had a value at any step since `since`, as a dashboard over that range shows it."""
        data = self.get("/api/v1/query_range", query=expr, start=f"{since:.3f}", end=f"{self.now():.3f}", step="2")
        return any(series["values"] for series in data["result"])

    async def until(self, expr: str, expected: float, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while (got := self.value(expr)) is None or not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9):
            assert time.monotonic() < deadline, f"{expr} = {got}, expected {expected}"
            await asyncio.sleep(0.5)


async def _settled(stack: Stack, username: str, limit: float = 30) -> None:
    """Wait for an agent back to available after a call (wrap-up is 1 s here)."""
    deadline = time.monotonic() + limit
    while (states := await agent_states(stack, username))[-1:] != ["available"] or "wrap_up" not in states:
        assert time.monotonic() < deadline, f"{username} did not come back to available: {states}"
        await asyncio.sleep(0.5)


async def _calls(stack: Stack) -> None:
    """The three callers of the scenario, one after the other."""
    await registered_poor_caller(stack)  # 1 s wrap-up, 4 s ring timeout
    await logged_in_agent(stack, "lawyer01", "agent-password-1")
    await paused_agent(stack, "lawyer02", "agent-password-2")

    # 1. Answered by lawyer01, who hangs up first; the caller answers the survey with 1 (满意, 是, 电视广播).
    phone = stack.phone("agent_hangs_up", "lawyer01", "agent-password-1", 1, extra=["-d", "3000"])
    try:
        caller = stack.sipp("caller_survey", 1, "-d", "38000", timeout=150)
        assert caller.returncode == 0, f"the survey caller failed: {caller.stdout[-1500:]}{caller.stderr[-800:]}"
        stack.done(phone, "lawyer01's phone")
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()
    answers = await select(stack.db, "SELECT question, answer FROM surveys ORDER BY id")
    if [tuple(a) for a in answers] != [("satisfaction", 1), ("first_choice", 1), ("channel", 1)]:
        events = await select(stack.db, "SELECT at, event, data FROM call_events ORDER BY id")
        raise AssertionError(f"survey answers {[tuple(a) for a in answers]}; events: {[tuple(e) for e in events]}")
    await _settled(stack, "lawyer01")
    await move_agent(stack, "lawyer01", "available", "paused")

    # 2. Nobody free: a caller asks to be called back, a second gives up after about 15 s in the queue (45 s into
    #    the call, the greeting included).
    asked = stack.sipp("caller_callback", 1, timeout=150)
    assert asked.returncode == 0, f"the callback request failed: {asked.stdout[-1500:]}"
    gave_up = stack.sipp("caller_menu", 1, "-d", "45000", timeout=90)
    assert gave_up.returncode == 0, f"the caller who gives up failed: {gave_up.stdout[-1500:]}"

    # 3. lawyer02 becomes free: the service rings them, calls the first caller back and bridges.
    phone = stack.phone("agent_phone", "lawyer02", "agent-password-2", 1, extra=["-rtp_echo"])
    gateway = stack.uas("callback_phone", stack.gateway_port, 1)
    try:
        await move_agent(stack, "lawyer02", "paused", "available")
        await select_until(stack.db, "SELECT 1 FROM calls WHERE direction = 'callback' AND ended_at IS NOT NULL")
        stack.done(gateway, "the called-back caller's phone")
    finally:
        stack.done(phone, "lawyer02's phone", 60)
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    await _settled(stack, "lawyer02")

    # 4. The end of the shift: everybody logs out.
    await move_agent(stack, "lawyer01", "paused", "logged_out")
    await move_agent(stack, "lawyer02", "available", "logged_out")


async def _sql_scorecard(stack: Stack) -> tuple[dict[str, Any], dict[str, Any]]:
    """docs/kpi.md's KPIs over every call of the run, and over today (Asia/Shanghai) as the service reads it."""
    conn = await asyncpg.connect(stack.db)
    try:
        start, now, midnight = await conn.fetchrow(
            "SELECT min(started_at) - interval '1 minute', now(), "
            "date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai' FROM calls"
        )
        return scorecard(await kpi_rows.read(conn, start, now)), scorecard(await kpi_rows.read(conn, midnight, now))
    finally:
        await conn.close()


async def test_prometheus_figures_equal_the_sql_kpis_and_every_rule_and_panel_has_data(
    stack: Stack, prometheus_port: int
) -> None:
    prom = Prometheus(prometheus_port)
    began = prom.now()
    await _calls(stack)
    card, today = await _sql_scorecard(stack)

    # The scenario itself: 3 offered visits, 1 answered live, 1 by callback, 1 abandoned, one survey.
    assert (card["answer_rate"].numerator, card["answer_rate"].denominator) == (2, 3)
    assert (card["abandon_rate"].numerator, card["satisfaction"].numerator, card["satisfaction"].denominator) == (
        1,
        1,
        1,
    )

    # Raw counters (all from 0 with this service) against the SQL numerators and denominators.
    counters = {
        "sum(hotline_calls_offered_total)": card["answer_rate"].denominator,
        "sum(hotline_calls_answered_total) + sum(hotline_calls_answered_by_callback_total)": card[
            "answer_rate"
        ].numerator,
        "sum(hotline_calls_answered_within_sl_total)": card["service_level"].numerator,
        "sum(hotline_calls_abandoned_total)": card["abandon_rate"].numerator,
        'sum(hotline_survey_answers_total{question="satisfaction",answer=~"满意|基本满意"})': card[
            "satisfaction"
        ].numerator,
        'sum(hotline_survey_answers_total{question="first_choice",answer="是"})': card["first_choice"].numerator,
        'sum(hotline_survey_answers_total{question="first_choice"})': card["first_choice"].denominator,
        'sum(hotline_survey_answers_total{question="channel"})': card["awareness"].denominator,
        'sum(hotline_queue_wait_seconds_count{outcome="answered"})': card["asa"].denominator,
        "sum(hotline_talk_seconds_count)": card["talk_time"].denominator,
        'sum(hotline_callback_attempts_total{result="connected"})': 1,
    }
    for expr, expected in counters.items():
        await prom.until(expr, expected)

    # Today's KPI gauges: the service's own scorecard over today, exported with numerator and denominator.
    for kpi, value in today.items():
        await prom.until(f'hotline_kpi_today_numerator{{kpi="{kpi}"}}', value.numerator)
        await prom.until(f'hotline_kpi_today_denominator{{kpi="{kpi}"}}', value.denominator)
        if value.value is not None:
            await prom.until(f'hotline_kpi_today{{kpi="{kpi}"}}', value.value)

    # The 1-day recording rules (their group is evaluated once a minute, so their expressions are evaluated now):
    # every series was created at 0 at the same scrape, so increase()'s extrapolation is the same factor above
    # and below the fraction bar and the ratio is the SQL one.
    groups = prom.get("/api/v1/rules", type="record")["groups"]
    rules = {r["name"]: r["query"] for g in groups for r in g["rules"]}
    for kpi in ("answer_rate", "service_level", "abandon_rate", "satisfaction", "first_choice", "awareness"):
        expected = card[kpi].value
        got = prom.value(rules[f"hotline:kpi_{kpi}:ratio_rate1d"])
        assert expected is not None and got is not None and math.isclose(got, expected, rel_tol=1e-6), (kpi, got)

    # Every recording rule has data now, and every panel of the dashboards has data over the run's range (some,
    # like occupancy, only while somebody is logged in, and the shift has ended).
    recorded = sorted(rules)
    assert len(recorded) > 50, recorded
    deadline = time.monotonic() + 70  # the 1-day group's first evaluation may be a minute away
    while empty := [name for name in recorded if not prom.query(name)]:
        assert time.monotonic() < deadline, f"recording rules without data: {empty}"
        await asyncio.sleep(1)
    panels = panel_queries()
    assert len(panels) > 30
    deadline = time.monotonic() + 60
    while empty_panels := [(board, title, expr) for board, title, expr in panels if not prom.has_data(expr, began)]:
        assert time.monotonic() < deadline, "panel queries without data:\n" + "\n".join(map(str, empty_panels))
        await asyncio.sleep(2)

    # Nobody logged in during office hours: the critical alert fires (its `for` shortened to 2 s for the test).
    firing = 'ALERTS{alertname="NoAgentLoggedIn",alertstate="firing"}'
    deadline = time.monotonic() + 60
    while not prom.query(firing):
        assert time.monotonic() < deadline, f"NoAgentLoggedIn did not fire: {prom.get('/api/v1/alerts')}"
        await asyncio.sleep(1)
    assert await select(stack.db, "SELECT 1 FROM agents WHERE state <> 'logged_out'") == []

"""The work-order REST API (agents/tickets/, agents/suggestions/) in the supervisor's web app on a loopback port,
against the real PostgreSQL: a work order pre-filled by the post-call analysis, then confirmed, corrected and
rejected."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from db import agents, tickets
from hotline.analysis import analyse_call
from hotline.clock import ShiftedClock
from hotline.config import Settings
from hotline.qa import load_rules
from hotline.supervisor.service import make_app
from hotline.tag import load_taxonomy
from tests.integration.test_analysis import CALLER, WAGES, answered_call

PASSWORD = "password-123"
PLAINTEXT = (CALLER, "+86" + CALLER, "86" + CALLER)


@dataclass
class Api:
    url: str
    session: aiohttp.ClientSession
    pool: asyncpg.Pool
    number: str
    answers: list[str] = field(default_factory=list)

    async def call(
        self, method: str, path: str, user: str | None = "lawyer01", body: Any = None, password: str = PASSWORD
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if user is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        data = body if isinstance(body, bytes) or body is None else json.dumps(body, ensure_ascii=False).encode()
        async with self.session.request(method, self.url + path, data=data, headers=headers) as resp:
            text = await resp.text()
        self.answers.append(text)
        return resp.status, json.loads(text)

    async def decide(self, field: str, value: str, present: bool = True, user: str = "lawyer01") -> tuple[int, Any]:
        body = {"field": field, "value": value, "present": present}
        return await self.call("POST", f"/api/tickets/{self.number}/fields", user, body)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async with self.pool.acquire() as conn:
            return [tuple(r) for r in await conn.fetch(sql, *args)]


@pytest.fixture
async def api(db: str) -> AsyncIterator[Api]:
    """The supervisor's web app with lawyer01 (the assignee), lawyer02 (another lawyer) and boss (a supervisor),
    and the work order the analysis pre-filled for a call lawyer01 answered."""
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        lawyer = await agents.create(conn, "lawyer01", "张律师", "lawyer", PASSWORD)
        await agents.create(conn, "lawyer02", "李律师", "lawyer", PASSWORD)
        await agents.create(conn, "boss", "王主任", "supervisor", PASSWORD)
        call_id = await answered_call(conn, lawyer.id, WAGES)
        outcome = await analyse_call(conn, call_id, load_taxonomy(), load_rules())
        stamps = await conn.fetchval("SELECT now()")
    assert outcome.ticket_number is not None
    # The app's "today" (default periods) on the clock PostgreSQL stamps the rows with: under faketime the test
    # process's clock is elsewhere, as it would be for a service run with HOTLINE_CLOCK.
    runner = web.AppRunner(make_app(Settings(), pool, ShiftedClock(stamps)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    async with aiohttp.ClientSession() as session:
        client = Api(f"http://127.0.0.1:{runner.addresses[0][1]}", session, pool, outcome.ticket_number)
        yield client
    await runner.cleanup()
    await pool.close()
    for text in client.answers:
        assert not any(number in text for number in PLAINTEXT), text


def _suggestions(view: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(s["field"], s["value"]): (s["status"], s["final_value"]) for s in view["suggestions"]}


async def test_assignee_reads_the_prefilled_work_order_with_the_caller_masked_and_the_read_is_audited(
    api: Api,
) -> None:
    status, view = await api.call("GET", f"/api/tickets/{api.number}")

    assert status == 200
    assert (view["number"], view["status"], view["priority"], view["assignee"]) == (
        api.number,
        "new",
        "normal",
        "lawyer01",
    )
    assert view["caller_masked"] == "139****2345"
    assert view["prefecture"] == {"code": "530100", "name": "昆明市"}
    assert (view["legal_area"], view["service"], view["flags"]) == ("劳动争议", "法律援助", ["农民工欠薪"])
    assert _suggestions(view) == {
        ("legal_area", "劳动争议"): ("suggested", None),
        ("service", "法律援助"): ("suggested", None),
        ("flag", "农民工欠薪"): ("suggested", None),
    }
    assert all(s["source"] == "tagger" and s["rule"] and s["score"] is not None for s in view["suggestions"])
    assert dt.datetime.fromisoformat(view["created_at"]).tzinfo is not None
    assert await api.fetch("SELECT actor, action, object_type, object_id FROM audit_log") == [
        ("lawyer01", "read", "ticket", api.number)
    ]
    assert await api.fetch("SELECT detail FROM audit_log") == [("{}",)]


async def test_agent_confirms_corrects_and_rejects_and_the_accuracy_counts_each_decision(api: Api) -> None:
    status, view = await api.decide("legal_area", "劳动争议")
    assert status == 200 and _suggestions(view)[("legal_area", "劳动争议")] == ("confirmed", "劳动争议")
    status, view = await api.decide("service", "法律咨询")
    assert status == 200 and _suggestions(view)[("service", "法律援助")] == ("corrected", "法律咨询")
    status, view = await api.decide("flag", "农民工欠薪", present=False)
    assert status == 200 and _suggestions(view)[("flag", "农民工欠薪")] == ("rejected", None)
    assert (view["legal_area"], view["service"], view["flags"]) == ("劳动争议", "法律咨询", [])

    decided_by = await api.fetch(
        "SELECT DISTINCT a.username FROM ticket_suggestions s JOIN agents a ON a.id = s.decided_by"
    )
    assert decided_by == [("lawyer01",)]
    updates = await api.fetch(
        "SELECT actor, object_id, detail->>'field', detail->>'suggestion' FROM audit_log WHERE action = 'update'"
    )
    assert sorted(updates) == [
        ("lawyer01", api.number, "flag", "rejected"),
        ("lawyer01", api.number, "legal_area", "confirmed"),
        ("lawyer01", api.number, "service", "corrected"),
    ]

    # Decisions are stamped by PostgreSQL (docs/architecture.md, "Whose clock wins"): ask for its day, which
    # under faketime or HOTLINE_CLOCK is not the test process's day.
    ((stamped,),) = await api.fetch(
        "SELECT DISTINCT (decided_at AT TIME ZONE 'Asia/Shanghai')::date FROM ticket_suggestions "
        "WHERE decided_at IS NOT NULL"
    )
    today = stamped.isoformat()
    status, report = await api.call("GET", f"/api/suggestions/accuracy?since={today}&until={today}", "boss")
    assert status == 200 and (report["since"], report["until"]) == (today, today)
    by_field = {f["field"]: f for f in report["fields"]}
    assert (by_field["legal_area"]["confirmed"], by_field["legal_area"]["rate"]) == (1, 1.0)
    assert (by_field["service"]["corrected"], by_field["service"]["rate"]) == (1, 0.0)
    assert (by_field["flag"]["rejected"], by_field["flag"]["decided"], by_field["flag"]["rate"]) == (1, 1, 0.0)
    status, default_period = await api.call("GET", "/api/suggestions/accuracy", "boss")
    assert status == 200 and default_period["fields"] == report["fields"]
    status, past = await api.call("GET", "/api/suggestions/accuracy?since=2020-01-01&until=2020-01-31", "boss")
    assert status == 200 and all(f["decided"] == 0 and f["rate"] is None for f in past["fields"])


async def test_supervisor_may_read_and_decide_another_agent_may_not(api: Api) -> None:
    path = f"/api/tickets/{api.number}"
    status, body = await api.call("GET", path, "lawyer02")
    assert status == 403 and "only its assignee and supervisors" in body["error"]
    status, body = await api.decide("flag", "老年人", user="lawyer02")
    assert status == 403
    status, body = await api.call("GET", "/api/suggestions/accuracy", "lawyer01")
    assert status == 403 and "accuracy" in body["error"]

    assert (await api.call("GET", path, "boss"))[0] == 200
    status, view = await api.decide("flag", "农民工欠薪", user="boss")
    assert status == 200 and _suggestions(view)[("flag", "农民工欠薪")] == ("confirmed", "农民工欠薪")
    assert await api.fetch("SELECT actor, action FROM audit_log ORDER BY id") == [("boss", "read"), ("boss", "update")]
    assert (await api.fetch("SELECT flags FROM tickets"))[0][0] == ["农民工欠薪"]


async def test_missing_or_wrong_credentials_get_401_and_unknown_work_orders_404(api: Api) -> None:
    for method, path in (
        ("GET", f"/api/tickets/{api.number}"),
        ("POST", f"/api/tickets/{api.number}/fields"),
        ("GET", "/api/suggestions/accuracy"),
    ):
        status, body = await api.call(method, path, None)
        assert status == 401 and "console password" in body["error"]
        assert await api.call(method, path, "lawyer01", password="wrong") == (
            401,
            {"error": "wrong username or password"},
        )
    status, body = await api.call("GET", "/api/tickets/YN-20000101-000001", "boss")
    assert status == 404 and "YN-20000101-000001" in body["error"]
    status, body = await api.call("POST", "/api/tickets/YN-20000101-000001/fields", "boss", {"field": "flag"})
    assert status == 404
    assert await api.fetch("SELECT count(*) FROM audit_log") == [(0,)]


async def test_bad_input_is_refused_with_what_was_expected_and_nothing_changes(api: Api) -> None:
    path = f"/api/tickets/{api.number}/fields"
    cases: list[tuple[Any, str]] = [
        (b"{not json", "body: expected JSON"),
        (["legal_area", "劳动争议"], "body: expected an object"),
        ({"field": "priority", "value": "urgent"}, '"field": expected one of legal_area, service, flag'),
        ({"field": ["flag"], "value": "老年人"}, "\"field\": expected one of legal_area, service, flag; got ['flag']"),
        ({"field": "legal_area", "value": "婚姻"}, '"value": expected a legal_area label, one of 婚姻家庭'),
        ({"field": "flag", "value": "劳动争议"}, "got '劳动争议'"),
        ({"field": "service", "value": "法律咨询", "present": "yes"}, '"present": expected true or false'),
    ]
    for body, message in cases:
        status, answer = await api.call("POST", path, "lawyer01", body)
        assert status == 400 and message in answer["error"], (body, answer)
    for query, message in (
        ("since=2026-13-01", "\"since\": expected a date YYYY-MM-DD; got '2026-13-01'"),
        ("until=yesterday", '"until": expected a date'),
        ("since=2026-03-02&until=2026-03-01", '"until" 2026-03-01 is before "since" 2026-03-02'),
    ):
        status, answer = await api.call("GET", f"/api/suggestions/accuracy?{query}", "boss")
        assert status == 400 and message in answer["error"], (query, answer)

    status, view = await api.call("GET", f"/api/tickets/{api.number}")
    assert (view["legal_area"], view["service"], view["flags"]) == ("劳动争议", "法律援助", ["农民工欠薪"])
    assert {s for s, _ in _suggestions(view).values()} == {"suggested"}


async def test_closed_work_order_refuses_decisions_until_reopened(api: Api) -> None:
    async with api.pool.acquire() as conn:
        for step in ("in_progress", "answered", "closed"):
            await tickets.transition(conn, api.number, step, actor="lawyer01", answer="已解答")

    status, body = await api.decide("service", "法律咨询")

    assert status == 409 and f"work order {api.number} is closed" in body["error"]
    status, view = await api.call("GET", f"/api/tickets/{api.number}")
    assert (view["status"], view["service"], view["answer"]) == ("closed", "法律援助", "已解答")
    assert _suggestions(view)[("service", "法律援助")] == ("suggested", None)

    async with api.pool.acquire() as conn:
        await tickets.transition(conn, api.number, "reopened", actor="boss", reason="来电人补充事实")
    status, view = await api.decide("service", "法律咨询")
    assert status == 200 and _suggestions(view)[("service", "法律援助")] == ("corrected", "法律咨询")

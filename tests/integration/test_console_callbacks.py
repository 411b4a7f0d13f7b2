"""What the console does after a call, against the real PostgreSQL: a supervisor calls back a caller who
abandoned today (one click on the wallboard), an agent schedules one at wrap-up for a chosen time. Each lands
in the queue as a callback entry the dispatcher offers (not before its time), once, audited; bad input is
refused field by field and changes nothing. A supervisor records the result of the survey's follow-up of a
dissatisfied caller, which closes that work order."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from db import agents, calls, tickets
from hotline.caller.phone import parse_caller
from hotline.clock import ShiftedClock
from hotline.config import ConsoleSettings, Settings
from hotline.events import CallEvent
from hotline.supervisor.service import make_app
from tests.support.calls import CALLER, KEYS, WAGES, answered_call

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # a working-day morning


@dataclass
class Console:
    client: TestClient  # type: ignore[type-arg]
    pool: asyncpg.Pool

    async def post(self, user: str, path: str, body: Any = None) -> tuple[int, Any]:
        token = base64.b64encode(f"{user}:{user}-password".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        data = json.dumps({} if body is None else body, ensure_ascii=False)
        async with self.client.post(path, data=data, headers=headers) as resp:
            return resp.status, await resp.json()

    async def get(self, user: str, path: str) -> tuple[int, Any]:
        token = base64.b64encode(f"{user}:{user}-password".encode()).decode()
        async with self.client.get(path, headers={"Authorization": f"Basic {token}"}) as resp:
            return resp.status, await resp.json()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))


@pytest.fixture
async def console(db: str) -> AsyncIterator[Console]:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        for user, role in (("lawyer01", "lawyer"), ("lawyer02", "lawyer"), ("boss", "supervisor")):
            await agents.create(conn, user, user, role, f"{user}-password")
    settings = Settings(console=ConsoleSettings(require_registration=False))
    app = make_app(settings, pool, ShiftedClock(NOW))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Console(client, pool)
    finally:
        await client.close()
        await pool.close()


async def _abandoned(pool: asyncpg.Pool) -> UUID:
    """A caller who hung up while waiting in the legal-aid queue."""
    async with pool.acquire() as conn:
        call_id = await calls.start(conn, sip_call_id="sip-abandoned", caller=parse_caller(CALLER), keys=KEYS)
        await calls.answered(conn, call_id)
        queue_id = await conn.fetchval("SELECT id FROM queues WHERE name = 'legal_aid'")
        await calls.add_event(conn, call_id, CallEvent.ENTERQUEUE, queue_id=queue_id)
        await calls.add_event(conn, call_id, CallEvent.ABANDON, queue_id=queue_id, data={"waited": 95.0})
        await calls.end(conn, call_id, "abandoned")
    return call_id


async def test_supervisor_calls_back_an_abandoned_caller_once_and_it_is_queued_and_audited(console: Console) -> None:
    call_id = await _abandoned(console.pool)
    status, board = await console.get("boss", "/supervisor/wallboard")
    assert status == 200
    (row,) = [r for r in board["abandoned"] if r["call_id"] == str(call_id)]
    assert row["callback_requested"] is False and row["caller_masked"] == "139****2345"

    status, board = await console.post("boss", f"/supervisor/abandoned/{call_id}/callback")
    assert status == 200, board
    (row,) = [r for r in board["abandoned"] if r["call_id"] == str(call_id)]
    assert row["callback_requested"] is True
    assert CALLER not in json.dumps(board)

    (callback,) = await console.fetch(
        "SELECT b.status, b.reason, b.scheduled_for, a.username FROM callbacks b JOIN agents a ON a.id = b.requested_by"
    )
    assert (callback["status"], callback["username"], callback["scheduled_for"]) == ("waiting", "boss", None)
    (entry,) = await console.fetch("SELECT state, callback_id IS NOT NULL AS cb, not_before FROM queue_entries")
    assert (entry["state"], entry["cb"], entry["not_before"]) == ("waiting", True, None)
    (audit,) = await console.fetch("SELECT actor, detail FROM audit_log WHERE object_type = 'callback'")
    assert audit["actor"] == "boss" and json.loads(audit["detail"])["call"] == str(call_id)

    status, again = await console.post("boss", f"/supervisor/abandoned/{call_id}/callback")
    assert status == 409 and "已有待回拨" in again["error"]
    assert len(await console.fetch("SELECT id FROM callbacks")) == 1


async def test_only_supervisors_call_back_from_the_wallboard_and_unknown_calls_are_404(console: Console) -> None:
    call_id = await _abandoned(console.pool)
    status, _ = await console.post("lawyer01", f"/supervisor/abandoned/{call_id}/callback")
    assert status == 403
    status, body = await console.post("boss", "/supervisor/abandoned/not-a-call/callback")
    assert status == 404 and "not a call id" in body["error"]
    assert await console.fetch("SELECT id FROM callbacks") == []


async def _handled(console: Console, agent: str) -> str:
    """A call the agent answered and that has ended, and its work order assigned to the agent."""
    async with console.pool.acquire() as conn:
        agent_id = (await agents.get(conn, agent)).id
        call_id = await answered_call(conn, agent_id, WAGES, queue="legal_aid")
        order = await tickets.create(
            conn, prefix="YN", tz="Asia/Shanghai", actor=agent, call_id=call_id, assignee_id=agent_id
        )
    return order.number


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"at": "2026-12-07T09:00", "reason": "补充材料"}, "at", "回拨时间已过"),
        ({"at": "2027-02-01T09:00", "reason": "补充材料"}, "at", "不能晚于 30 天后"),
        ({"at": "明天上午", "reason": "补充材料"}, "at", "格式应为 YYYY-MM-DDTHH:MM"),
        ({"at": "2026-12-08T09:30", "reason": " "}, "reason", "请填写回拨原因"),
        ({"at": "2026-12-08T09:30", "reason": "长" * 201}, "reason", "不能超过 200 字"),
        ({"reason": "补充材料"}, "at", "请填写回拨时间"),
    ],
)
async def test_a_bad_callback_time_or_reason_is_refused_by_field_and_nothing_is_queued(
    console: Console, body: dict[str, str], field: str, message: str
) -> None:
    number = await _handled(console, "lawyer01")
    status, answer = await console.post("lawyer01", f"/agent/tickets/{number}/callback", body)
    assert status == 422 and message in answer["fields"][field], answer
    assert await console.fetch("SELECT id FROM callbacks") == []


async def test_agent_schedules_a_callback_for_tomorrow_morning_and_only_once(console: Console) -> None:
    number = await _handled(console, "lawyer01")
    body = {"at": "2026-12-08T09:30", "reason": "来电人补充工资条后再答复"}

    status, _ = await console.post("lawyer02", f"/agent/tickets/{number}/callback", body)
    assert status == 403  # not their work order
    status, desk = await console.post("lawyer01", f"/agent/tickets/{number}/callback", body)
    assert status == 200, desk

    due = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    (callback,) = await console.fetch("SELECT status, scheduled_for, next_attempt_at, reason FROM callbacks")
    assert (callback["status"], callback["scheduled_for"], callback["next_attempt_at"]) == ("waiting", due, due)
    assert callback["reason"] == "来电人补充工资条后再答复"
    (entry,) = await console.fetch("SELECT state, not_before FROM queue_entries WHERE callback_id IS NOT NULL")
    assert (entry["state"], entry["not_before"]) == ("waiting", due)  # the dispatcher waits for it

    status, again = await console.post("lawyer01", f"/agent/tickets/{number}/callback", body)
    assert status == 409 and "不能重复预约" in again["error"]
    assert len(await console.fetch("SELECT id FROM callbacks")) == 1


async def _dissatisfied(console: Console) -> tuple[str, str]:
    """A call lawyer01 answered whose caller said 不满意 in the survey: the flow opened a follow-up work order
    (as hotline/cell/flowapp.py does) besides lawyer01's own."""
    async with console.pool.acquire() as conn:
        agent_id = (await agents.get(conn, "lawyer01")).id
        call_id = await answered_call(conn, agent_id, WAGES, queue="legal_aid")
        await calls.save_survey_answer(conn, call_id, "satisfaction", 3, "不满意")
        own = await tickets.create(conn, prefix="YN", tz="Asia/Shanghai", actor="lawyer01", call_id=call_id)
        follow_up = await tickets.create(
            conn,
            prefix="YN",
            tz="Asia/Shanghai",
            actor="ivr",
            call_id=call_id,
            priority="urgent",
            facts="[follow_up] survey satisfaction=不满意",
        )
        await calls.add_event(conn, call_id, CallEvent.IVR, data={"ticket": follow_up.number, "kind": "follow_up"})
    return own.number, follow_up.number


async def test_the_follow_up_list_shows_dissatisfied_callers_and_a_result_closes_the_work_order(
    console: Console,
) -> None:
    own, number = await _dissatisfied(console)
    status, listed = await console.get("boss", "/supervisor/follow-ups")
    assert status == 200
    (item,) = listed["follow_ups"]
    assert (item["number"], item["status"], item["caller_masked"], item["handled_by"], item["result"]) == (
        number,
        "new",
        "139****2345",
        "lawyer01",
        None,
    )
    assert item["answers"] == "satisfaction：不满意" and CALLER not in json.dumps(listed)

    status, refused = await console.post("boss", f"/supervisor/follow-ups/{number}", {"result": "  "})
    assert status == 422 and "请填写回访结果" in refused["fields"]["result"]
    status, refused = await console.post("lawyer01", f"/supervisor/follow-ups/{number}", {"result": "已回访"})
    assert status == 403
    status, refused = await console.post("boss", f"/supervisor/follow-ups/{own}", {"result": "已回访"})
    assert status == 404  # the agent's own work order is not a follow-up

    result = "已回访：来电人对答复时长不满，已致歉并补充说明仲裁时效"
    status, listed = await console.post("boss", f"/supervisor/follow-ups/{number}", {"result": result})
    assert status == 200, listed
    (item,) = listed["follow_ups"]
    assert (item["status"], item["result"]) == ("closed", result)
    steps = await console.fetch(
        "SELECT l.to_status, l.actor FROM ticket_status_log l JOIN tickets t ON t.id = l.ticket_id "
        "WHERE t.number = $1 ORDER BY l.id",
        number,
    )
    assert [(r["to_status"], r["actor"]) for r in steps] == [
        ("new", "ivr"),
        ("in_progress", "boss"),
        ("answered", "boss"),
        ("follow_up", "boss"),
        ("closed", "boss"),
    ]
    status, again = await console.post("boss", f"/supervisor/follow-ups/{number}", {"result": result})
    assert status == 409 and "已办结" in again["error"]

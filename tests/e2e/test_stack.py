"""Real calls through Kamailio into pjsua2 cells, with records in PostgreSQL (no mocks)."""

from __future__ import annotations

import array
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import asyncpg
import pytest

from hotline.flow import evaluate, load_schedule
from tests.e2e.conftest import SCENARIOS, Stack, free_udp_block
from tests.integration.cli import ROOT, env_for, hotline

pytestmark = pytest.mark.sip


def _channel_rms(path: Path) -> tuple[float, float]:
    """RMS of the loudest second of each channel (left: caller, right: agent)."""
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        samples = array.array("h", w.readframes(w.getnframes()))
    left, right = samples[0::2], samples[1::2]

    def loudest(xs: array.array[int]) -> float:
        windows = (xs[i : i + 8000] for i in range(0, max(len(xs) - 7999, 1), 4000))
        return max((sum(x * x for x in win) / max(len(win), 1)) ** 0.5 for win in windows)

    return loudest(left), loudest(right)


async def _rows(db: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _wait_answered(db: str, count: int, limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while len(await _rows(db, "SELECT id FROM calls WHERE answered_at IS NOT NULL")) < count:
        assert time.monotonic() < deadline, f"{count} call(s) were not answered"
        await asyncio.sleep(0.2)


async def _wait_ended(db: str, count: int, limit: float = 15) -> None:
    """sipp is done when its last message is out; the cell closes the record right after."""
    deadline = time.monotonic() + limit
    while len(await _rows(db, "SELECT id FROM calls WHERE ended_at IS NOT NULL")) < count:
        assert time.monotonic() < deadline, "call records were not closed"
        await asyncio.sleep(0.1)


async def test_more_calls_than_one_cell_holds_are_all_answered_and_recorded(stack: Stack) -> None:
    # Each registry-build cell holds 2 inbound calls (4 legs); 3 at once need the front to spread them.
    done = stack.sipp("uac_hold.xml", 3, "-d", "8000")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    await _wait_ended(stack.db, 3)
    rows = await _rows(stack.db, "SELECT id, cell, outcome, caller_masked, prefecture_code, node_path FROM calls")
    assert len(rows) == 3
    assert {r["cell"] for r in rows} == {"cell1", "cell2"}
    assert {r["outcome"] for r in rows} == {"ivr_only"}  # hung up during the greeting
    assert {r["caller_masked"] for r in rows} == {"139****2345"}
    assert {r["prefecture_code"] for r in rows} == {"530100"}
    assert {tuple(r["node_path"]) for r in rows} == {("welcome",)}
    recs = await _rows(stack.db, "SELECT path, channels FROM recordings")
    assert len(recs) == 3
    for rec in recs:
        left, _right = _channel_rms(Path(rec["path"]))
        assert left > 50, f"caller channel of {rec['path']} is silent"
    events = await _rows(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", rows[0]["id"])
    assert [e["event"] for e in events] == ["INCOMING", "ANSWER", "RECORDING", "HANGUP"]


async def test_caller_walks_the_default_flow_by_dtmf_into_a_queue(stack: Stack) -> None:
    """A registered poor household (建档立卡) types 1 2 during the greeting: Mandarin, 法律援助; the registry
    lookup raises the caller's priority (out of office hours: the on-duty lawyer queue instead). Nobody is
    logged in, so the caller is offered voicemail and a callback ticket."""
    poor = stack.tmp / "poor.csv"
    poor.write_text("姓名,电话\n甲,13908712345\n", encoding="utf-8")
    imported = hotline(stack.db, "registry", "import", str(poor), "--kind", "建档立卡")
    assert imported.returncode == 0, imported.stderr
    started = dt.datetime.now(dt.UTC)
    done = stack.sipp("uac_menu.xml", 1, "-d", "60000", timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    await _wait_ended(stack.db, 1)
    (call,) = await _rows(stack.db, "SELECT id, flow_id, flow_revision, node_path, digits, outcome FROM calls")
    assert (call["flow_id"], call["flow_revision"]) == ("yunnan_12348", 1)
    path = list(call["node_path"])
    hours = evaluate(load_schedule(ROOT / "ivr_flows" / "schedules" / "office_hours.yaml"), started).state
    if hours == "open":
        assert path[:8] == [
            "welcome",
            "language",
            "office_hours",
            "main_menu",
            "aid_service",
            "aid_registry",
            "aid_registered_poor",
            "aid_queue",
        ], path
        assert call["digits"].split() == ["language=1", "main_menu=2"]
        queue = "legal_aid"
    else:
        assert path[:3] == ["welcome", "language", "office_hours"] and "duty_queue" in path, path
        queue = "duty_lawyer"
    assert path[-1] == "voicemail"
    assert call["outcome"] == "voicemail"
    events = await _rows(
        stack.db,
        "SELECT e.event, q.name FROM call_events e LEFT JOIN queues q ON q.id = e.queue_id "
        "WHERE e.call_id = $1 ORDER BY e.id",
        call["id"],
    )
    names = [e["event"] for e in events]
    assert ("ENTERQUEUE", queue) in [(e["event"], e["name"]) for e in events]
    if hours == "open":
        entered = await _rows(
            stack.db, "SELECT data FROM call_events WHERE call_id = $1 AND event = 'ENTERQUEUE'", call["id"]
        )
        assert '"priority": 30' in entered[0]["data"]
    assert names.index("ENTERQUEUE") < names.index("EXITEMPTY") < names.index("VOICEMAIL")
    tickets = await _rows(stack.db, "SELECT number, facts, caller_masked FROM tickets WHERE call_id = $1", call["id"])
    assert len(tickets) == 1 and tickets[0]["caller_masked"] == "139****2345"


async def test_call_to_another_number_is_refused_by_the_front(stack: Stack) -> None:
    done = stack.sipp("uac_hold.xml", 1, "-d", "1000", number="99999", timeout=30)
    assert done.returncode != 0
    assert await _rows(stack.db, "SELECT id FROM calls") == []


async def test_a_killed_cell_closes_its_calls_as_failed_restarts_and_others_keep_working(stack: Stack) -> None:
    callers = stack.callers_in_background(3, hold_ms=25000)
    try:
        await _wait_answered(stack.db, 3)
        by_cell = await _rows(stack.db, "SELECT cell, count(*) AS n FROM calls GROUP BY cell ORDER BY n DESC")
        victim = by_cell[0]["cell"]
        health = stack.health()
        pid = health[victim]["pid"]  # type: ignore[index]
        os.kill(pid, signal.SIGKILL)

        deadline = time.monotonic() + 20
        while True:
            open_calls = await _rows(stack.db, "SELECT id FROM calls WHERE cell = $1 AND ended_at IS NULL", victim)
            if not open_calls:
                break
            assert time.monotonic() < deadline, "records of the dead cell were left open"
            await asyncio.sleep(0.2)
        failed = await _rows(stack.db, "SELECT outcome FROM calls WHERE cell = $1", victim)
        assert [r["outcome"] for r in failed] == ["failed"] * by_cell[0]["n"]
        survivors = await _rows(stack.db, "SELECT ended_at FROM calls WHERE cell <> $1", victim)
        assert all(r["ended_at"] is None for r in survivors), "calls on the other cell were disturbed"

        deadline = time.monotonic() + 30
        while True:
            h = stack.health()[victim]
            if h["state"] == "running" and h["restarts"] == 1:  # type: ignore[index]
                break
            assert time.monotonic() < deadline, f"{victim} did not restart: {h}"
            await asyncio.sleep(0.3)
    finally:
        callers.kill()
        callers.wait()
    done = stack.sipp("uac_hold.xml", 2, "-d", "2000")
    assert done.returncode == 0, done.stdout[-2000:]


async def test_reload_swaps_in_a_new_revision_and_keeps_the_old_one_on_a_broken_file(stack: Stack) -> None:
    flow = stack.flows / "yunnan_12348.yaml"
    original = flow.read_text(encoding="utf-8")
    during = stack.callers_in_background(1, hold_ms=12000)
    try:
        await _wait_answered(stack.db, 1)
        flow.write_text(original.replace("revision: 1", "revision: 2", 1), encoding="utf-8")
        out = hotline(stack.db, "reload", **stack.env)
        assert out.returncode == 0, out.stderr
        await asyncio.sleep(2)
        assert during.wait(timeout=30) == 0, "the call in progress was dropped by the reload"
    finally:
        if during.poll() is None:
            during.kill()
            during.wait()
    done = stack.sipp("uac_hold.xml", 1, "-d", "2000")
    assert done.returncode == 0
    await _wait_ended(stack.db, 2)
    revisions = await _rows(stack.db, "SELECT flow_revision FROM calls ORDER BY started_at")
    assert [r["flow_revision"] for r in revisions] == [1, 2]

    flow.write_text(
        original.replace("revision: 1", "revision: 3", 1).replace("next: office_hours}", "next: nowhere}", 1),
        encoding="utf-8",
    )
    assert hotline(stack.db, "reload", **stack.env).returncode == 0
    await asyncio.sleep(2)
    assert "nowhere" in stack.log  # the refusal names the problem in the log
    done = stack.sipp("uac_hold.xml", 1, "-d", "2000")
    assert done.returncode == 0
    await _wait_ended(stack.db, 3)
    revisions = await _rows(stack.db, "SELECT flow_revision FROM calls ORDER BY started_at")
    assert [r["flow_revision"] for r in revisions] == [1, 2, 2]


async def _agent(stack: Stack, username: str, password: str) -> None:
    """An agent in the legal-aid and on-duty queues, logged in (its phone is registered separately)."""
    added = subprocess.run(  # noqa: ASYNC221 (a short CLI call before the calls start)
        [sys.executable, "-m", "hotline", "agent", "add", username, "--name", "律师", "--role", "lawyer"],
        input=password + "\n",
        cwd=ROOT,
        env=env_for(stack.db, **stack.env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert added.returncode == 0, added.stderr
    conn = await asyncpg.connect(stack.db)
    try:
        await conn.execute(
            "INSERT INTO queue_members (queue_id, agent_id) SELECT q.id, a.id FROM queues q, agents a "
            "WHERE q.name IN ('legal_aid', 'duty_lawyer') AND a.username = $1",
            username,
        )
    finally:
        await conn.close()
    login = hotline(stack.db, "agent", "login", username, **stack.env, HOTLINE_AGENT_PASSWORD=password)  # REST API
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == f"agent {username}: available"


def _phone(stack: Stack, scenario: str, username: str, password: str) -> subprocess.Popen[bytes]:
    """A sipp agent phone for one call, registered as `username` through the front."""
    port = free_udp_block(1, 41000, 45000)
    phone = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
         "-mp", str(free_udp_block(4, 45000, 50000)), "-m", "1", "-nostdin", "-timeout", "110", "-trace_err"],
        cwd=stack.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    registered = stack.sipp_register(username, password, port)
    assert registered.returncode == 0, registered.stdout[-1500:]
    return phone


async def _registered_poor_caller(stack: Stack) -> None:
    conn = await asyncpg.connect(stack.db)
    try:
        await conn.execute("UPDATE queues SET wrapup_seconds = 1, ring_timeout_seconds = 4")
    finally:
        await conn.close()
    poor = stack.tmp / "poor.csv"
    poor.write_text("电话\n13908712345\n", encoding="utf-8")
    assert hotline(stack.db, "registry", "import", str(poor), "--kind", "低保", **stack.env).returncode == 0


def _phone_done(stack: Stack, phone: subprocess.Popen[bytes]) -> None:
    try:
        assert phone.wait(timeout=20) == 0, "an agent phone did not see its call through: " + "".join(
            p.read_text(errors="replace")[-1500:] for p in stack.tmp.glob("agent_*errors.log")
        )
    finally:
        if phone.poll() is None:
            phone.kill()
            phone.wait()


async def _agent_states(stack: Stack, username: str) -> list[str]:
    rows = await _rows(
        stack.db,
        "SELECT to_state FROM agent_state_log l JOIN agents a ON a.id = l.agent_id WHERE a.username = $1 ORDER BY l.id",
        username,
    )
    return [r["to_state"] for r in rows]


async def test_queued_caller_is_bridged_to_a_registered_agent_and_the_event_log_tells_the_story(
    stack: Stack,
) -> None:
    await _agent(stack, "lawyer01", "agent-password-1")
    await _registered_poor_caller(stack)
    phone = _phone(stack, "agent_phone.xml", "lawyer01", "agent-password-1")
    try:
        done = stack.sipp("uac_menu.xml", 1, "-d", "50000", timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        _phone_done(stack, phone)
    await _wait_ended(stack.db, 1)
    (call,) = await _rows(
        stack.db, "SELECT c.id, c.outcome, a.username FROM calls c LEFT JOIN agents a ON a.id = c.agent_id"
    )
    assert (call["outcome"], call["username"]) == ("answered", "lawyer01")
    events = [
        r["event"]
        for r in await _rows(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", call["id"])
    ]
    story = [
        e
        for e in events
        if e in ("INCOMING", "ANSWER", "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "RECORDING", "HANGUP")
    ]
    assert story == ["INCOMING", "ANSWER", "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "RECORDING", "HANGUP"], events
    (rec,) = await _rows(stack.db, "SELECT path FROM recordings WHERE call_id = $1", call["id"])
    left, right = _channel_rms(Path(rec["path"]))
    assert left > 50 and right > 50, "both the caller and the agent must be on the recording"
    deadline = time.monotonic() + 20
    while (states := await _agent_states(stack, "lawyer01"))[-1:] != ["available"] or "wrap_up" not in states:
        assert time.monotonic() < deadline, f"the agent did not go through wrap-up back to available: {states}"
        await asyncio.sleep(0.5)
    assert states == ["available", "reserved", "on_call", "wrap_up", "available"]


@pytest.mark.parametrize("first_phone", ["rings_unanswered", "not_registered"])
async def test_ring_no_answer_moves_the_caller_to_the_next_agent(stack: Stack, first_phone: str) -> None:
    await _agent(stack, "lawyer01", "agent-password-1")  # logged in first: longest idle, offered first
    await _agent(stack, "lawyer02", "agent-password-2")
    await _registered_poor_caller(stack)
    phones = [_phone(stack, "agent_phone.xml", "lawyer02", "agent-password-2")]
    if first_phone == "rings_unanswered":
        phones.append(_phone(stack, "agent_no_answer.xml", "lawyer01", "agent-password-1"))
    try:
        done = stack.sipp("uac_menu.xml", 1, "-d", "55000", timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        for phone in phones:
            _phone_done(stack, phone)
    await _wait_ended(stack.db, 1)
    (call,) = await _rows(
        stack.db, "SELECT c.id, c.outcome, a.username FROM calls c LEFT JOIN agents a ON a.id = c.agent_id"
    )
    assert (call["outcome"], call["username"]) == ("answered", "lawyer02")
    events = await _rows(
        stack.db,
        "SELECT e.event, a.username, e.data FROM call_events e LEFT JOIN agents a ON a.id = e.agent_id "
        "WHERE e.call_id = $1 AND e.event IN ('RINGNOANSWER', 'CONNECT') ORDER BY e.id",
        call["id"],
    )
    assert [(e["event"], e["username"]) for e in events] == [("RINGNOANSWER", "lawyer01"), ("CONNECT", "lawyer02")]
    if first_phone == "rings_unanswered":
        assert (await _agent_states(stack, "lawyer01"))[:3] == ["available", "reserved", "available"]
    else:  # the front answers 480 for a known agent without a registered phone: paused with the reason
        assert '"status": 480' in events[0]["data"]
        assert (await _agent_states(stack, "lawyer01"))[:3] == ["available", "reserved", "paused"]
        (agent,) = await _rows(stack.db, "SELECT state, state_reason FROM agents WHERE username = 'lawyer01'")
        assert (agent["state"], agent["state_reason"]) == ("paused", "phone unreachable (480)")

"""Real calls through Kamailio into pjsua2 cells, with records in PostgreSQL (no mocks)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
from pathlib import Path

import pytest

from hotline.caller import simulated
from hotline.caller.privacy import NumberKeys
from hotline.flow import evaluate, load_schedule
from tests.support import ROOT
from tests.support.cli import SECRET, hotline
from tests.support.stack import (
    NATIONAL_DAY,
    WORKDAY_MORNING,
    WORKDAY_NIGHT,
    Stack,
    agent_states,
    channel_rms,
    logged_in_agent,
    registered_poor_caller,
    select,
    wait_answered,
    wait_ended,
)

pytestmark = pytest.mark.sip


async def test_more_calls_than_one_cell_holds_are_all_answered_and_recorded(stack: Stack) -> None:
    # Each registry-build cell holds 2 inbound calls (4 legs); 3 at once need the front to spread them.
    done = stack.sipp("caller_hold", 3, "-d", "8000")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    await wait_ended(stack.db, 3)
    found = await select(stack.db, "SELECT id, cell, outcome, caller_masked, prefecture_code, node_path FROM calls")
    assert len(found) == 3
    assert {r["cell"] for r in found} == {"cell1", "cell2"}
    assert {r["outcome"] for r in found} == {"ivr_only"}  # hung up during the greeting
    assert {r["caller_masked"] for r in found} == {"139****2345"}
    assert {r["prefecture_code"] for r in found} == {"530100"}
    assert {tuple(r["node_path"]) for r in found} == {("welcome",)}
    recs = await select(stack.db, "SELECT path, channels FROM recordings")
    assert len(recs) == 3
    for rec in recs:
        left, _right = channel_rms(Path(rec["path"]))
        assert left > 50, f"caller channel of {rec['path']} is silent"
    events = await select(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", found[0]["id"])
    assert [e["event"] for e in events] == ["INCOMING", "ANSWER", "RECORDING", "HANGUP"]


OPEN_PATH = ["welcome", "language", "office_hours", "main_menu", "aid_service", "aid_registry",
             "aid_registered_poor", "aid_queue"]  # fmt: skip


@pytest.mark.parametrize(
    ("stack_clock", "hours", "expected_path", "queue"),
    [
        pytest.param(WORKDAY_MORNING, "open", OPEN_PATH, "legal_aid", id="workday-morning"),
        pytest.param(
            WORKDAY_NIGHT,
            "closed",
            ["welcome", "language", "office_hours", "after_hours_notice", "duty_queue"],
            "duty_lawyer",
            id="workday-night",
        ),
        pytest.param(
            NATIONAL_DAY,
            "holiday",
            ["welcome", "language", "office_hours", "holiday_notice", "duty_queue"],
            "duty_lawyer",
            id="national-day",
        ),
    ],
)
async def test_caller_walks_the_default_flow_by_dtmf_into_a_queue(
    stack: Stack, stack_clock: str, hours: str, expected_path: list[str], queue: str
) -> None:
    """A registered poor household (建档立卡) types 1 2 during the greeting: Mandarin, then in office hours
    法律援助, where the registry lookup raises the caller's priority; at night and on a holiday the flow says so
    and queues for the on-duty lawyer instead. Nobody is logged in, so the caller is offered voicemail and a
    callback ticket. The stack's clock is pinned, so each run checks all three paths."""
    started = dt.datetime.fromisoformat(stack_clock)
    schedule = load_schedule(ROOT / "ivr_flows" / "schedules" / "office_hours.yaml")
    assert evaluate(schedule, started).state == hours  # the pinned instant means what the case says
    poor = stack.tmp / "poor.csv"
    poor.write_text("姓名,电话\n甲,13908712345\n", encoding="utf-8")
    imported = hotline(stack.db, "registry", "import", str(poor), "--kind", "建档立卡")
    assert imported.returncode == 0, imported.stderr
    done = stack.sipp("caller_menu", 1, "-d", "60000", timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    await wait_ended(stack.db, 1)
    (call,) = await select(stack.db, "SELECT id, flow_id, flow_revision, node_path, digits, outcome FROM calls")
    assert (call["flow_id"], call["flow_revision"]) == ("yunnan_12348", 1)
    path = list(call["node_path"])
    assert path[: len(expected_path)] == expected_path, path
    assert call["digits"].split()[0] == "language=1"
    if hours == "open":
        assert call["digits"].split() == ["language=1", "main_menu=2"]
    assert path[-1] == "voicemail", path
    assert call["outcome"] == "voicemail"
    events = await select(
        stack.db,
        "SELECT e.event, q.name, e.data FROM call_events e LEFT JOIN queues q ON q.id = e.queue_id "
        "WHERE e.call_id = $1 ORDER BY e.id",
        call["id"],
    )
    names = [e["event"] for e in events]
    entered = [e for e in events if e["event"] == "ENTERQUEUE"]
    assert [e["name"] for e in entered] == [queue], events
    if hours == "open":
        assert '"priority": 30' in entered[0]["data"]
    assert names.index("ENTERQUEUE") < names.index("EXITEMPTY") < names.index("VOICEMAIL"), names
    tickets = await select(stack.db, "SELECT number, facts, caller_masked FROM tickets WHERE call_id = $1", call["id"])
    assert len(tickets) == 1 and tickets[0]["caller_masked"] == "139****2345"


async def test_a_call_with_the_simulators_signed_call_id_is_recorded_as_simulated(stack: Stack) -> None:
    keys = NumberKeys.from_master(SECRET.encode())  # the stack's privacy secret (tests/support/cli.py)
    signed = simulated.call_id(keys, "e2e", 1, "127.0.0.1")
    forged = "sim-e2e-2-0123456789abcdef@127.0.0.1"  # the simulator's form without the key
    for cid in (signed, forged):
        done = stack.sipp("caller_hold", 1, "-d", "3000", "-cid_str", cid)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    await wait_ended(stack.db, 2)
    found = await select(stack.db, "SELECT sip_call_id, simulated FROM calls")
    assert {(r["sip_call_id"], r["simulated"]) for r in found} == {(signed, True), (forged, False)}


async def test_call_to_another_number_is_refused_by_the_front(stack: Stack) -> None:
    done = stack.sipp("caller_hold", 1, "-d", "1000", number="99999", timeout=30)
    assert done.returncode != 0
    assert await select(stack.db, "SELECT id FROM calls") == []


async def test_a_killed_cell_closes_its_calls_as_failed_restarts_and_others_keep_working(stack: Stack) -> None:
    callers = stack.callers_in_background(3, hold_ms=25000)
    try:
        await wait_answered(stack.db, 3)
        by_cell = await select(stack.db, "SELECT cell, count(*) AS n FROM calls GROUP BY cell ORDER BY n DESC")
        victim = by_cell[0]["cell"]
        health = stack.health()
        pid = health[victim]["pid"]  # type: ignore[index]
        os.kill(pid, signal.SIGKILL)

        deadline = time.monotonic() + 20
        while True:
            open_calls = await select(stack.db, "SELECT id FROM calls WHERE cell = $1 AND ended_at IS NULL", victim)
            if not open_calls:
                break
            assert time.monotonic() < deadline, "records of the dead cell were left open"
            await asyncio.sleep(0.2)
        failed = await select(stack.db, "SELECT outcome FROM calls WHERE cell = $1", victim)
        assert [r["outcome"] for r in failed] == ["failed"] * by_cell[0]["n"]
        survivors = await select(stack.db, "SELECT ended_at FROM calls WHERE cell <> $1", victim)
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
    done = stack.sipp("caller_hold", 2, "-d", "2000")
    assert done.returncode == 0, done.stdout[-2000:]


async def test_reload_swaps_in_a_new_revision_and_keeps_the_old_one_on_a_broken_file(stack: Stack) -> None:
    flow = stack.flows / "yunnan_12348.yaml"
    original = flow.read_text(encoding="utf-8")
    during = stack.callers_in_background(1, hold_ms=12000)
    try:
        await wait_answered(stack.db, 1)
        flow.write_text(original.replace("revision: 1", "revision: 2", 1), encoding="utf-8")
        out = hotline(stack.db, "reload", **stack.env)
        assert out.returncode == 0, out.stderr
        await asyncio.sleep(2)
        assert during.wait(timeout=30) == 0, "the call in progress was dropped by the reload"
    finally:
        if during.poll() is None:
            during.kill()
            during.wait()
    done = stack.sipp("caller_hold", 1, "-d", "2000")
    assert done.returncode == 0
    await wait_ended(stack.db, 2)
    revisions = await select(stack.db, "SELECT flow_revision FROM calls ORDER BY started_at")
    assert [r["flow_revision"] for r in revisions] == [1, 2]

    flow.write_text(
        original.replace("revision: 1", "revision: 3", 1).replace("next: office_hours}", "next: nowhere}", 1),
        encoding="utf-8",
    )
    assert hotline(stack.db, "reload", **stack.env).returncode == 0
    await asyncio.sleep(2)
    assert "nowhere" in stack.log  # the refusal names the problem in the log
    done = stack.sipp("caller_hold", 1, "-d", "2000")
    assert done.returncode == 0
    await wait_ended(stack.db, 3)
    revisions = await select(stack.db, "SELECT flow_revision FROM calls ORDER BY started_at")
    assert [r["flow_revision"] for r in revisions] == [1, 2, 2]


async def test_queued_caller_is_bridged_to_a_registered_agent_and_the_event_log_tells_the_story(
    stack: Stack,
) -> None:
    await logged_in_agent(stack, "lawyer01", "agent-password-1")
    await registered_poor_caller(stack)
    phone = stack.phone("agent_phone", "lawyer01", "agent-password-1")
    try:
        done = stack.sipp("caller_menu", 1, "-d", "50000", timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        stack.done(phone, "an agent phone")
    await wait_ended(stack.db, 1)
    (call,) = await select(
        stack.db, "SELECT c.id, c.outcome, a.username FROM calls c LEFT JOIN agents a ON a.id = c.agent_id"
    )
    assert (call["outcome"], call["username"]) == ("answered", "lawyer01")
    events = [
        r["event"]
        for r in await select(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", call["id"])
    ]
    story = [
        e
        for e in events
        if e in ("INCOMING", "ANSWER", "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "RECORDING", "HANGUP")
    ]
    assert story == ["INCOMING", "ANSWER", "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "RECORDING", "HANGUP"], events
    (rec,) = await select(stack.db, "SELECT path FROM recordings WHERE call_id = $1", call["id"])
    left, right = channel_rms(Path(rec["path"]))
    assert left > 50 and right > 50, "both the caller and the agent must be on the recording"
    deadline = time.monotonic() + 20
    while (states := await agent_states(stack, "lawyer01"))[-1:] != ["available"] or "wrap_up" not in states:
        assert time.monotonic() < deadline, f"the agent did not go through wrap-up back to available: {states}"
        await asyncio.sleep(0.5)
    assert states == ["available", "reserved", "on_call", "wrap_up", "available"]


@pytest.mark.parametrize("first_phone", ["rings_unanswered", "not_registered"])
async def test_ring_no_answer_moves_the_caller_to_the_next_agent(stack: Stack, first_phone: str) -> None:
    await logged_in_agent(stack, "lawyer01", "agent-password-1")  # logged in first: longest idle, offered first
    await logged_in_agent(stack, "lawyer02", "agent-password-2")
    await registered_poor_caller(stack)
    phones = [stack.phone("agent_phone", "lawyer02", "agent-password-2")]
    if first_phone == "rings_unanswered":
        phones.append(stack.phone("agent_no_answer", "lawyer01", "agent-password-1"))
    try:
        done = stack.sipp("caller_menu", 1, "-d", "55000", timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        for phone in phones:
            stack.done(phone, "an agent phone")
    await wait_ended(stack.db, 1)
    (call,) = await select(
        stack.db, "SELECT c.id, c.outcome, a.username FROM calls c LEFT JOIN agents a ON a.id = c.agent_id"
    )
    assert (call["outcome"], call["username"]) == ("answered", "lawyer02")
    events = await select(
        stack.db,
        "SELECT e.event, a.username, e.data FROM call_events e LEFT JOIN agents a ON a.id = e.agent_id "
        "WHERE e.call_id = $1 AND e.event IN ('RINGNOANSWER', 'CONNECT') ORDER BY e.id",
        call["id"],
    )
    assert [(e["event"], e["username"]) for e in events] == [("RINGNOANSWER", "lawyer01"), ("CONNECT", "lawyer02")]
    if first_phone == "rings_unanswered":
        assert (await agent_states(stack, "lawyer01"))[:3] == ["available", "reserved", "available"]
    else:  # the front answers 480 for a known agent without a registered phone: paused with the reason
        assert '"status": 480' in events[0]["data"]
        assert (await agent_states(stack, "lawyer01"))[:3] == ["available", "reserved", "paused"]
        (agent,) = await select(stack.db, "SELECT state, state_reason FROM agents WHERE username = 'lawyer01'")
        assert (agent["state"], agent["state_reason"]) == ("paused", "phone unreachable (480)")

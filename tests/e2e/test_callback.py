"""Callbacks end to end: a caller in line asks to be called back, hangs up, keeps their place; when an agent
is free, the service rings the agent, calls the caller through the front's outbound gateway and bridges."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.stack import (
    Stack,
    agent_states,
    channel_rms,
    move_agent,
    paused_agent,
    registered_poor_caller,
    select,
    select_until,
)

pytestmark = [pytest.mark.sip, pytest.mark.timeout(240)]


async def _ask_for_callback(stack: Stack) -> Any:
    """A registered caller waits in the legal-aid (or after hours the on-duty) queue while the only agent is
    paused, asks for a callback on their own number and is hung up on; returns the callback row."""
    await paused_agent(stack, "lawyer01", "agent-password-1")
    await registered_poor_caller(stack)
    caller = stack.sipp("caller_callback", 1, timeout=150)
    if caller.returncode != 0:
        events = await select(stack.db, "SELECT event, data FROM call_events ORDER BY id")
        raise AssertionError(f"the caller's request did not go through; events: {[tuple(e) for e in events]}")
    found = await select(
        stack.db,
        """SELECT b.id, b.call_id, b.status, b.number_masked, e.state AS entry, e.entered_at,
                  (SELECT at FROM call_events WHERE call_id = b.call_id AND event = 'ENTERQUEUE') AS joined
           FROM callbacks b JOIN queue_entries e ON e.callback_id = b.id""",
    )
    if len(found) != 1:
        events = await select(stack.db, "SELECT event, data FROM call_events ORDER BY id")
        raise AssertionError(f"expected one callback in line; events: {[tuple(e) for e in events]}")
    (callback,) = found
    assert (callback["status"], callback["entry"], callback["number_masked"]) == ("waiting", "waiting", "139****2345")
    # The place kept: the entry still holds the moment the caller joined the queue, not the request's.
    assert abs((callback["entered_at"] - callback["joined"]).total_seconds()) < 2
    (original,) = await select(stack.db, "SELECT outcome FROM calls WHERE id = $1", callback["call_id"])
    assert original["outcome"] == "callback"
    return callback


async def test_callback_rings_the_agent_then_calls_the_caller_back_and_bridges(stack: Stack) -> None:
    callback = await _ask_for_callback(stack)
    phone = stack.phone("agent_phone", "lawyer01", "agent-password-1", 1, extra=["-rtp_echo"])
    gateway = stack.uas("callback_phone", stack.gateway_port, 1)
    try:
        await move_agent(stack, "lawyer01", "paused", "available")
        (call,) = await select_until(
            stack.db,
            "SELECT id, outcome, parent_call_id, direction, caller_masked FROM calls "
            "WHERE direction = 'callback' AND ended_at IS NOT NULL",
        )
        stack.done(gateway, "the caller's phone (outbound gateway)")
    finally:
        stack.done(phone, "the agent's phone", 60)
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    assert (call["outcome"], call["parent_call_id"], call["caller_masked"]) == (
        "answered",
        callback["call_id"],
        "139****2345",
    )
    (done,) = await select(
        stack.db, "SELECT status, attempts, completed_at FROM callbacks WHERE id = $1", callback["id"]
    )
    assert (done["status"], done["attempts"]) == ("connected", 1) and done["completed_at"] is not None
    attempts = await select(
        stack.db, "SELECT attempt, result, call_id FROM callback_attempts WHERE callback_id = $1", callback["id"]
    )
    assert [(a["attempt"], a["result"], a["call_id"]) for a in attempts] == [(1, "connected", call["id"])]
    events = [
        r["event"]
        for r in await select(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", call["id"])
    ]
    assert [e for e in events if e in ("ANSWER", "CONNECT", "COMPLETECALLER", "RECORDING")] == [
        "ANSWER",
        "CONNECT",
        "COMPLETECALLER",
        "RECORDING",
    ], events
    story = await select(
        stack.db,
        "SELECT event, data FROM call_events WHERE call_id = $1 AND event LIKE 'CALLBACK%' ORDER BY id",
        callback["call_id"],
    )
    assert [r["event"] for r in story] == ["CALLBACK", "CALLBACKATTEMPT"]
    (rec,) = await select(stack.db, "SELECT path FROM recordings WHERE call_id = $1", call["id"])
    left, right = channel_rms(Path(rec["path"]))
    assert left > 50 and right > 50, "both the called-back caller and the agent must be on the recording"
    deadline = time.monotonic() + 20
    while (states := await agent_states(stack, "lawyer01"))[-1:] != ["available"] or "wrap_up" not in states:
        assert time.monotonic() < deadline, f"the agent did not go through wrap-up back to available: {states}"
        await asyncio.sleep(0.5)
    assert states[-5:] == ["available", "reserved", "on_call", "wrap_up", "available"]


async def test_a_busy_caller_is_retried_with_spacing_then_the_callback_fails(stack: Stack) -> None:
    callback = await _ask_for_callback(stack)
    conn = await asyncpg.connect(stack.db)
    try:
        await conn.execute("UPDATE callbacks SET retry_seconds = 4, max_attempts = 2 WHERE id = $1", callback["id"])
    finally:
        await conn.close()
    phone = stack.phone("agent_phone", "lawyer01", "agent-password-1", 2, extra=["-rtp_echo"])
    gateway = stack.uas("uas_busy", stack.gateway_port, 2)
    try:
        await move_agent(stack, "lawyer01", "paused", "available")
        await select_until(stack.db, "SELECT 1 FROM callbacks WHERE id = $1 AND status = 'failed'", callback["id"])
        stack.done(gateway, "the busy caller's phone")
    finally:
        stack.done(phone, "the agent's phone", 60)
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    attempts = await select(
        stack.db,
        "SELECT attempt, result, status_code, started_at, ended_at FROM callback_attempts "
        "WHERE callback_id = $1 ORDER BY attempt",
        callback["id"],
    )
    assert [(a["attempt"], a["result"], a["status_code"]) for a in attempts] == [(1, "busy", 486), (2, "busy", 486)]
    assert (attempts[1]["started_at"] - attempts[0]["ended_at"]).total_seconds() >= 4, "retries keep their spacing"
    (entry,) = await select(stack.db, "SELECT state FROM queue_entries WHERE callback_id = $1", callback["id"])
    assert entry["state"] == "left"
    results = [
        r["data"]
        for r in await select(
            stack.db,
            "SELECT data FROM call_events WHERE call_id = $1 AND event = 'CALLBACKATTEMPT' ORDER BY id",
            callback["call_id"],
        )
    ]
    assert len(results) == 2 and '"final": true' in results[1]
    assert await select(stack.db, "SELECT 1 FROM calls WHERE direction = 'callback'") == []
    deadline = time.monotonic() + 10
    while (await agent_states(stack, "lawyer01"))[-1:] != ["available"]:
        assert time.monotonic() < deadline, "the agent is free again after the last attempt"
        await asyncio.sleep(0.5)

"""Callbacks end to end: a caller in line asks to be called back, hangs up, keeps their place; when an agent
is free, the service rings the agent, calls the caller through the front's outbound gateway and bridges."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db import agents
from tests.e2e.conftest import SCENARIOS, Stack, free_udp_block
from tests.e2e.test_stack import _agent_states, _channel_rms, _phone_done, _registered_poor_caller, _rows

pytestmark = [pytest.mark.sip, pytest.mark.timeout(240)]


def _gateway(stack: Stack, scenario: str, calls: int) -> subprocess.Popen[bytes]:
    """A sipp UAS on the outbound gateway's address: the caller's phone as the PSTN trunk reaches it."""
    return subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(stack.gateway_port),
         "-mp", str(free_udp_block(4, 45000, 50000)), "-m", str(calls), "-nostdin", "-timeout", "150",
         "-trace_err"],
        cwd=stack.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _phone(stack: Stack, username: str, password: str, calls: int) -> subprocess.Popen[bytes]:
    """The agent's sipp phone for `calls` calls, registered through the front; it echoes what it hears, so
    the agent's channel carries the caller's words back once bridged."""
    port = free_udp_block(1, 41000, 45000)
    phone = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "agent_phone.xml"), "-i", "127.0.0.1", "-p", str(port),
         "-mp", str(free_udp_block(4, 45000, 50000)), "-m", str(calls), "-nostdin", "-timeout", "150",
         "-trace_err", "-rtp_echo"],
        cwd=stack.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    registered = stack.sipp_register(username, password, port)
    assert registered.returncode == 0, registered.stdout[-1500:]
    return phone


def _done(stack: Stack, proc: subprocess.Popen[bytes], what: str) -> None:
    try:
        assert proc.wait(timeout=60) == 0, f"{what} did not see its calls through: " + "".join(
            p.read_text(errors="replace")[-1500:] for p in stack.tmp.glob("*errors.log")
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _move(stack: Stack, username: str, expected: str, state: str) -> None:
    conn = await asyncpg.connect(stack.db)
    try:
        agent_id = await conn.fetchval("SELECT id FROM agents WHERE username = $1", username)
        assert await agents.move(conn, agent_id, expected, state, cause="supervisor", actor="test", reason="test")
    finally:
        await conn.close()


async def _paused_agent(stack: Stack, username: str, password: str) -> None:
    """An agent of the legal-aid and on-duty queues, logged in but paused: callers wait, nobody is offered."""
    conn = await asyncpg.connect(stack.db)
    try:
        agent = await agents.create(conn, username, "律师", "lawyer", password)
        await conn.execute(
            "INSERT INTO queue_members (queue_id, agent_id) SELECT id, $1 FROM queues "
            "WHERE name IN ('legal_aid', 'duty_lawyer')",
            agent.id,
        )
        assert await agents.move(conn, agent.id, "logged_out", "paused", cause="agent", actor=username, reason="会议")
    finally:
        await conn.close()


async def _ask_for_callback(stack: Stack) -> Any:
    """A registered caller waits in the legal-aid (or after hours the on-duty) queue while the only agent is
    paused, asks for a callback on their own number and is hung up on; returns the callback row."""
    await _paused_agent(stack, "lawyer01", "agent-password-1")
    await _registered_poor_caller(stack)
    caller = stack.sipp("uac_callback.xml", 1, timeout=150)
    if caller.returncode != 0:
        events = await _rows(stack.db, "SELECT event, data FROM call_events ORDER BY id")
        raise AssertionError(f"the caller's request did not go through; events: {[tuple(e) for e in events]}")
    found = await _rows(
        stack.db,
        """SELECT b.id, b.call_id, b.status, b.number_masked, e.state AS entry, e.entered_at,
                  (SELECT at FROM call_events WHERE call_id = b.call_id AND event = 'ENTERQUEUE') AS joined
           FROM callbacks b JOIN queue_entries e ON e.callback_id = b.id""",
    )
    if len(found) != 1:
        events = await _rows(stack.db, "SELECT event, data FROM call_events ORDER BY id")
        raise AssertionError(f"expected one callback in line; events: {[tuple(e) for e in events]}")
    (callback,) = found
    assert (callback["status"], callback["entry"], callback["number_masked"]) == ("waiting", "waiting", "139****2345")
    # The place kept: the entry still holds the moment the caller joined the queue, not the request's.
    assert abs((callback["entered_at"] - callback["joined"]).total_seconds()) < 2
    (original,) = await _rows(stack.db, "SELECT outcome FROM calls WHERE id = $1", callback["call_id"])
    assert original["outcome"] == "callback"
    return callback


async def _wait_for(stack: Stack, sql: str, *args: Any, limit: float = 90) -> list[Any]:
    deadline = time.monotonic() + limit
    while not (rows := await _rows(stack.db, sql, *args)):
        assert time.monotonic() < deadline, f"timed out waiting for: {sql}"
        await asyncio.sleep(0.5)
    return rows


async def test_callback_rings_the_agent_then_calls_the_caller_back_and_bridges(stack: Stack) -> None:
    callback = await _ask_for_callback(stack)
    phone = _phone(stack, "lawyer01", "agent-password-1", 1)
    gateway = _gateway(stack, "callback_phone.xml", 1)
    try:
        await _move(stack, "lawyer01", "paused", "available")
        (call,) = await _wait_for(
            stack,
            "SELECT id, outcome, parent_call_id, direction, caller_masked FROM calls "
            "WHERE direction = 'callback' AND ended_at IS NOT NULL",
        )
        _done(stack, gateway, "the caller's phone (outbound gateway)")
    finally:
        _phone_done(stack, phone)
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    assert (call["outcome"], call["parent_call_id"], call["caller_masked"]) == (
        "answered",
        callback["call_id"],
        "139****2345",
    )
    (done,) = await _rows(
        stack.db, "SELECT status, attempts, completed_at FROM callbacks WHERE id = $1", callback["id"]
    )
    assert (done["status"], done["attempts"]) == ("connected", 1) and done["completed_at"] is not None
    attempts = await _rows(
        stack.db, "SELECT attempt, result, call_id FROM callback_attempts WHERE callback_id = $1", callback["id"]
    )
    assert [(a["attempt"], a["result"], a["call_id"]) for a in attempts] == [(1, "connected", call["id"])]
    events = [
        r["event"]
        for r in await _rows(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", call["id"])
    ]
    assert [e for e in events if e in ("ANSWER", "CONNECT", "COMPLETECALLER", "RECORDING")] == [
        "ANSWER",
        "CONNECT",
        "COMPLETECALLER",
        "RECORDING",
    ], events
    story = await _rows(
        stack.db,
        "SELECT event, data FROM call_events WHERE call_id = $1 AND event LIKE 'CALLBACK%' ORDER BY id",
        callback["call_id"],
    )
    assert [r["event"] for r in story] == ["CALLBACK", "CALLBACKATTEMPT"]
    (rec,) = await _rows(stack.db, "SELECT path FROM recordings WHERE call_id = $1", call["id"])
    left, right = _channel_rms(Path(rec["path"]))
    assert left > 50 and right > 50, "both the called-back caller and the agent must be on the recording"
    deadline = time.monotonic() + 20
    while (states := await _agent_states(stack, "lawyer01"))[-1:] != ["available"] or "wrap_up" not in states:
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
    phone = _phone(stack, "lawyer01", "agent-password-1", 2)
    gateway = _gateway(stack, "callback_busy.xml", 2)
    try:
        await _move(stack, "lawyer01", "paused", "available")
        await _wait_for(stack, "SELECT 1 FROM callbacks WHERE id = $1 AND status = 'failed'", callback["id"])
        _done(stack, gateway, "the busy caller's phone")
    finally:
        _phone_done(stack, phone)
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    attempts = await _rows(
        stack.db,
        "SELECT attempt, result, status_code, started_at, ended_at FROM callback_attempts "
        "WHERE callback_id = $1 ORDER BY attempt",
        callback["id"],
    )
    assert [(a["attempt"], a["result"], a["status_code"]) for a in attempts] == [(1, "busy", 486), (2, "busy", 486)]
    assert (attempts[1]["started_at"] - attempts[0]["ended_at"]).total_seconds() >= 4, "retries keep their spacing"
    (entry,) = await _rows(stack.db, "SELECT state FROM queue_entries WHERE callback_id = $1", callback["id"])
    assert entry["state"] == "left"
    results = [
        r["data"]
        for r in await _rows(
            stack.db,
            "SELECT data FROM call_events WHERE call_id = $1 AND event = 'CALLBACKATTEMPT' ORDER BY id",
            callback["call_id"],
        )
    ]
    assert len(results) == 2 and '"final": true' in results[1]
    assert await _rows(stack.db, "SELECT 1 FROM calls WHERE direction = 'callback'") == []
    deadline = time.monotonic() + 10
    while (await _agent_states(stack, "lawyer01"))[-1:] != ["available"]:
        assert time.monotonic() < deadline, "the agent is free again after the last attempt"
        await asyncio.sleep(0.5)

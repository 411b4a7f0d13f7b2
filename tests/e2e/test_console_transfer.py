"""Blind transfer from the console over the whole stack: lawyer01 answers a real caller, asks the console to
transfer them (to the on-duty queue, or straight to lawyer02); the cell hangs up lawyer01's phone, the caller
is bridged to lawyer02, the event log tells it, and the work order follows the call to lawyer02."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.stack import Stack, agent_states, logged_in_agent, registered_poor_caller, select, wait_ended

pytestmark = [pytest.mark.sip, pytest.mark.timeout(200)]


def _api(stack: Stack, user: str, password: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{stack.http_port}{path}", data=data)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode() or "{}")


async def _until_state(stack: Stack, username: str, state: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while (await agent_states(stack, username))[-1:] != [state]:
        if time.monotonic() > deadline:
            events = await select(stack.db, "SELECT event, agent_id, data FROM call_events ORDER BY id")
            log = await select(
                stack.db, "SELECT agent_id, from_state, to_state, reason, at FROM agent_state_log ORDER BY id"
            )
            raise AssertionError(
                f"{username} never reached {state}: {[tuple(e) for e in events]} {[tuple(r) for r in log]}"
            )
        await asyncio.sleep(0.3)


@pytest.mark.parametrize("target", [{"queue": "duty_lawyer"}, {"agent": "lawyer02"}], ids=["to-queue", "to-agent"])
async def test_an_agent_transfers_a_live_caller_and_the_work_order_follows(
    stack: Stack, target: dict[str, str]
) -> None:
    await logged_in_agent(stack, "lawyer01", "agent-password-1")  # logged in first: offered first
    await logged_in_agent(stack, "lawyer02", "agent-password-2")
    await registered_poor_caller(stack)
    await select(stack.db, "UPDATE queues SET wrapup_seconds = 120")  # lawyer01 stays in wrap-up to be seen there
    phones = [
        stack.phone("agent_phone", "lawyer01", "agent-password-1"),
        stack.phone("agent_phone", "lawyer02", "agent-password-2"),
    ]
    try:
        caller = asyncio.create_task(asyncio.to_thread(stack.sipp, "caller_menu", 1, "-d", "45000", timeout=170))
        await _until_state(stack, "lawyer01", "on_call")
        status, desk = await asyncio.to_thread(_api, stack, "lawyer01", "agent-password-1", "/agent/desk")
        assert status == 200 and desk["ticket"] is not None, desk
        number = desk["ticket"]["number"]
        assert {"username": "lawyer02", "display_name": "律师"} in desk["transfer_targets"]["agents"]

        status, answer = await asyncio.to_thread(_api, stack, "lawyer01", "agent-password-1", "/agent/transfer", target)
        assert status == 200, answer
        await _until_state(stack, "lawyer02", "on_call")
        await _until_state(stack, "lawyer01", "wrap_up", limit=5)

        status, desk2 = await asyncio.to_thread(_api, stack, "lawyer02", "agent-password-2", "/agent/desk")
        assert status == 200 and desk2["ticket"]["number"] == number, desk2  # the same work order
        (order,) = await select(
            stack.db, "SELECT a.username FROM tickets t JOIN agents a ON a.id = t.assignee_id WHERE number = $1", number
        )
        assert order["username"] == "lawyer02"

        # lawyer01 is no longer connected with the caller: a transfer from them is refused, with the reason.
        status, refused = await asyncio.to_thread(
            _api, stack, "lawyer01", "agent-password-1", "/agent/transfer", {"queue": "legal_aid"}
        )
        assert status == 409 and "没有接通的来电" in refused["error"]

        done = await caller
        assert done.returncode == 0, done.stdout[-2000:]
    finally:
        for phone in phones:
            stack.done(phone, "an agent phone")
    await wait_ended(stack.db, 1)
    (call,) = await select(stack.db, "SELECT c.id, a.username FROM calls c JOIN agents a ON a.id = c.agent_id")
    assert call["username"] == "lawyer02"
    events = await select(
        stack.db,
        "SELECT e.event, a.username, e.data FROM call_events e LEFT JOIN agents a ON a.id = e.agent_id "
        "WHERE e.call_id = $1 AND e.event IN ('CONNECT', 'BLINDTRANSFER', 'COMPLETECALLER', 'COMPLETEAGENT') "
        "ORDER BY e.id",
        call["id"],
    )
    story = [(e["event"], e["username"]) for e in events]
    assert story == [
        ("CONNECT", "lawyer01"),
        ("BLINDTRANSFER", "lawyer01"),
        ("CONNECT", "lawyer02"),
        ("COMPLETECALLER", "lawyer02"),
    ], story
    transfer = json.loads(events[1]["data"])
    assert transfer == {**target, "by": "lawyer01"}
    (row,) = await select(stack.db, "SELECT status FROM transfers")
    assert row["status"] == "done"

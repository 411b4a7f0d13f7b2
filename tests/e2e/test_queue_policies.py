"""Queue policies through the whole stack: a caller who would make the line longer than the queue's
`max_length` is not queued and goes where the flow sends a full queue (the default flow: a message)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.stack import Stack, paused_agent, registered_poor_caller, select, wait_ended

pytestmark = [pytest.mark.sip, pytest.mark.timeout(200)]


async def test_a_caller_who_would_make_the_line_too_long_is_turned_to_voicemail(stack: Stack) -> None:
    await paused_agent(stack, "lawyer01", "agent-password-1")  # logged in: callers may join, nobody is offered
    await registered_poor_caller(stack)
    conn = await asyncpg.connect(stack.db)
    try:  # legal aid in office hours, the on-duty lawyer after them: one place each
        await conn.execute("UPDATE queues SET max_length = 1 WHERE name IN ('legal_aid', 'duty_lawyer')")
    finally:
        await conn.close()
    done = stack.sipp("caller_menu", 2, "-d", "60000", timeout=170)
    assert done.returncode == 0, done.stdout[-2000:]
    await wait_ended(stack.db, 2)
    stories = {}
    for call in await select(stack.db, "SELECT id FROM calls"):
        events = await select(stack.db, "SELECT event FROM call_events WHERE call_id = $1 ORDER BY id", call["id"])
        stories[call["id"]] = [e["event"] for e in events]
    full = [s for s in stories.values() if "FULL" in s]
    queued = [s for s in stories.values() if "FULL" not in s]
    assert len(full) == 1 and len(queued) == 1, stories
    assert "VOICEMAIL" in full[0] and "ENTERQUEUE" in queued[0] and "VOICEMAIL" not in queued[0], stories

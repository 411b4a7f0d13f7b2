"""A cell killed (SIGKILL) under a live call: the front ends the caller's dialog at once (the sipp caller's
scenario expects the BYE), and the record is closed as failed with the IVR path so far and the partial recording
registered (marked partial)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.stack import Stack, select, select_until, wait_answered

pytestmark = [pytest.mark.sip, pytest.mark.timeout(240)]


async def test_a_killed_cells_caller_gets_a_bye_and_its_record_keeps_path_and_partial_recording(stack: Stack) -> None:
    caller = asyncio.ensure_future(asyncio.to_thread(stack.sipp, "caller_menu_until_bye", 1, timeout=170))
    await wait_answered(stack.db, 1)
    (call,) = await select_until(
        stack.db,
        "SELECT id, cell FROM calls WHERE cardinality(node_path) >= 3",
        what="the call's IVR path kept as it goes",
        limit=60,
    )
    pid = stack.health()[call["cell"]]["pid"]  # type: ignore[index]
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    done = await asyncio.wait_for(caller, 60)
    released = time.monotonic() - killed

    assert done.returncode == 0, "the caller got no BYE: " + done.stdout[-1500:]
    assert released < 5, f"the caller was released {released:.1f} s after the cell died"
    (record,) = await select_until(
        stack.db,
        "SELECT outcome, node_path, ended_at FROM calls WHERE id = $1 AND ended_at IS NOT NULL",
        call["id"],
        what="the dead cell's record closed",
        limit=20,
    )
    assert record["outcome"] == "failed"
    assert list(record["node_path"])[:3] == ["welcome", "language", "office_hours"], record["node_path"]
    (recording,) = await select(stack.db, "SELECT path, partial, ended_at - started_at AS length FROM recordings")
    assert recording["partial"] is True
    assert recording["length"].total_seconds() > 2
    path = Path(recording["path"])
    assert await asyncio.to_thread(path.exists)
    assert not await asyncio.to_thread(lambda: list(path.parent.glob("*.part.wav"))), "part files left behind"
    events = await select(stack.db, "SELECT event, data FROM call_events WHERE call_id = $1 ORDER BY id", call["id"])
    assert [e["event"] for e in events][-2:] == ["RECORDING", "FAILED"], events

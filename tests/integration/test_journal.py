"""The durable write path against a real PostgreSQL that is stopped and started (a throw-away cluster): writes made
while it is down are journaled (fsync'd), replayed in order with their true times once it is back, exactly once
even when replayed twice, and replayed by the next run of a process that stopped before it could."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hotline.cell.journal import DurableWriter, Journal, journals_status
from tests.support.pgcluster import Cluster, pg_cluster

__all__ = ["pg_cluster"]  # the fixture, imported for pytest

pytestmark = pytest.mark.timeout(120)


async def make_writer(cluster: Cluster, directory: Path, *, max_bytes: int = 1 << 20) -> tuple[Any, DurableWriter]:
    pool = await asyncpg.create_pool(cluster.url, min_size=0, max_size=2, timeout=2)
    writer = DurableWriter(pool, Journal(directory, "cell9", max_bytes), process="cell9", timeout_s=1.0, retry_s=0.2)
    await writer.start()
    return pool, writer


async def open_call(writer: DurableWriter, call_id: uuid.UUID) -> None:
    await writer.write(
        "open",
        call_id=call_id,
        sip_call_id=f"journal-{call_id}",
        caller_masked="139****2345",
        caller_kind="mobile",
        caller_hmac=b"\x01" * 32,
        caller_enc=b"\x02" * 40,
        prefecture_code="530100",
        province="云南省",
        cell="cell9",
        trunk=None,
        simulated=False,
    )


async def rows(url: str, call_id: uuid.UUID) -> tuple[Any, list[Any]]:
    conn = await asyncpg.connect(url)
    try:
        call = await conn.fetchrow("SELECT * FROM calls WHERE id = $1", call_id)
        events = await conn.fetch("SELECT event, at, data FROM call_events WHERE call_id = $1 ORDER BY id", call_id)
        return call, list(events)
    finally:
        await conn.close()


async def drained(writer: DurableWriter, limit_s: float = 20) -> None:
    for _ in range(int(limit_s / 0.1)):
        if not writer.journaling:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"journal not drained in {limit_s} s: {writer.status()}")


async def test_writes_during_an_outage_are_journaled_and_replayed_in_order_with_their_true_times(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    pool, writer = await make_writer(pg_cluster, tmp_path)
    call_id = uuid.uuid4()
    try:
        await open_call(writer, call_id)
        await writer.write("answered", call_id=call_id)
        assert not writer.journaling

        await asyncio.to_thread(pg_cluster.stop)
        before = dt.datetime.now(dt.UTC)
        await writer.write("event", call_id=call_id, event="IVR", queue_id=None, data={"node": "main_menu"})
        await writer.write(
            "path", call_id=call_id, flow_id="yunnan_12348", revision=3, node_path=["welcome", "main_menu"], digits="1"
        )
        await writer.write("survey", call_id=call_id, question="satisfaction", answer=1, label="满意")
        await writer.write("end", call_id=call_id, outcome="ivr_only", reason="caller hung up")
        after = dt.datetime.now(dt.UTC)

        assert writer.journaling
        status = writer.status()
        assert status["state"] == "journaling" and status["pending"] == 4, status
        lines = (tmp_path / "cell9.jsonl").read_text().splitlines()
        assert [json.loads(line)["op"] for line in lines] == ["event", "path", "survey", "end"]
        assert "13900000000" not in "".join(lines)
        assert journals_status(tmp_path)["state"] == "journaling"

        await asyncio.sleep(1.5)  # the outage lasts: replayed times must be the writes' own, not the replay's
        await asyncio.to_thread(pg_cluster.start)
        await drained(writer)

        call, events = await rows(pg_cluster.url, call_id)
        assert [e["event"] for e in events] == ["INCOMING", "ANSWER", "IVR", "SURVEY", "HANGUP"]
        assert call["outcome"] == "ivr_only"
        assert before <= call["ended_at"] <= after, "the close keeps its true time"
        assert before <= events[2]["at"] <= after
        assert call["node_path"] == ["welcome", "main_menu"] and call["digits"] == "1"
        assert not (tmp_path / "cell9.jsonl").exists()
        assert journals_status(tmp_path)["state"] == "direct"
        assert writer.status()["pending"] == 0
    finally:
        await writer.stop()
        await pool.close()


async def test_a_journal_replayed_twice_changes_nothing(pg_cluster: Cluster, tmp_path: Path) -> None:
    pool, writer = await make_writer(pg_cluster, tmp_path)
    call_id = uuid.uuid4()
    await asyncio.to_thread(pg_cluster.stop)
    try:
        await open_call(writer, call_id)
        await writer.write("event", call_id=call_id, event="IVR", queue_id=None, data={"node": "x"})
        await writer.write("end", call_id=call_id, outcome="abandoned", reason=None)
    finally:
        await writer.stop(grace_s=0)
        await pool.close()
    saved = (tmp_path / "cell9.jsonl").read_bytes()
    await asyncio.to_thread(pg_cluster.start)

    for _ in range(2):  # a crash after applying, before the offset was written: the same journal again
        (tmp_path / "cell9.jsonl").write_bytes(saved)
        (tmp_path / "cell9.offset").unlink(missing_ok=True)
        pool, writer = await make_writer(pg_cluster, tmp_path)  # a restarted process replays what it left
        try:
            await drained(writer)
        finally:
            await writer.stop()
            await pool.close()

    call, events = await rows(pg_cluster.url, call_id)
    assert [e["event"] for e in events] == ["INCOMING", "IVR", "HANGUP"]
    assert call["outcome"] == "abandoned"


async def test_a_torn_last_line_is_skipped_and_a_full_journal_refuses(pg_cluster: Cluster, tmp_path: Path) -> None:
    pool, writer = await make_writer(pg_cluster, tmp_path, max_bytes=900)
    call_id = uuid.uuid4()
    await asyncio.to_thread(pg_cluster.stop)
    try:
        await open_call(writer, call_id)  # about 600 bytes
        from hotline.cell.journal import JournalFull

        with pytest.raises(JournalFull, match=r"journal\.max_mb"):
            await writer.write("event", call_id=call_id, event="IVR", queue_id=None, data={"pad": "x" * 400})
    finally:
        await writer.stop(grace_s=0)
        await pool.close()
    with (tmp_path / "cell9.jsonl").open("ab") as f:
        f.write(b'{"w": "torn')  # a crash in the middle of an append that was never acknowledged
    assert journals_status(tmp_path)["state"] == "journaling"  # another process only reads: the tail stays
    assert (tmp_path / "cell9.jsonl").read_bytes().endswith(b'{"w": "torn')
    pool, writer = await make_writer(pg_cluster, tmp_path)  # the next run, still without the database
    try:
        await writer.write("end", call_id=call_id, outcome="failed", reason="cell stopped")
        await asyncio.to_thread(pg_cluster.start)
        await drained(writer)
    finally:
        await writer.stop()
        await pool.close()
    call, events = await rows(pg_cluster.url, call_id)
    assert [e["event"] for e in events] == ["INCOMING", "FAILED"]
    assert call["outcome"] == "failed"

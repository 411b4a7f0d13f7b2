"""Post-call backlog: recordings of ended calls with no complete live transcript, or whose live stream was
refused or failed, transcribed from the stereo WAV (left = caller, right = agent), oldest first."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prometheus_client import Gauge

from hotline.transcribe.models import ModelPool
from hotline.transcribe.service import segment_from_result, store_segment

log = logging.getLogger(__name__)

BACKLOG_CALLS = Gauge("hotline_transcribe_backlog_calls", "Ended calls waiting for post-call transcription")
BACKLOG_OLDEST = Gauge(
    "hotline_transcribe_backlog_oldest_seconds", "Seconds since the oldest waiting call's recording ended"
)

_PENDING = """
    FROM recordings r
    LEFT JOIN transcription_state s ON s.call_id = r.call_id
    WHERE r.ended_at IS NOT NULL
      AND s.batch_done_at IS NULL
      AND (s.live_failed IS NOT NULL
           OR (s.live_done_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM transcripts t WHERE t.call_id = r.call_id AND t.source = 'live')))
"""


@dataclass(frozen=True)
class BacklogItem:
    recording_id: int
    call_id: UUID
    path: Path


@dataclass(frozen=True)
class BacklogStats:
    calls: int
    oldest_seconds: float


async def stats(conn: Any) -> BacklogStats:
    """Backlog size and the age of its oldest entry; also updates the Prometheus gauges."""
    row = await conn.fetchrow(
        "SELECT count(DISTINCT r.call_id) AS n,"
        " coalesce(extract(epoch FROM now() - min(r.ended_at)), 0)::float8 AS oldest" + _PENDING
    )
    result = BacklogStats(int(row["n"]), max(0.0, float(row["oldest"])))
    BACKLOG_CALLS.set(result.calls)
    BACKLOG_OLDEST.set(result.oldest_seconds)
    return result


async def pending(conn: Any, limit: int = 100, busy: Collection[UUID] = ()) -> list[BacklogItem]:
    """The oldest waiting recordings, except those of ``busy`` calls (a live stream of theirs is still open)."""
    rows = await conn.fetch(
        "SELECT r.id, r.call_id, r.path" + _PENDING + " AND r.call_id <> ALL($2::uuid[]) ORDER BY r.ended_at, r.id"
        " LIMIT $1",
        limit,
        list(busy),
    )
    return [BacklogItem(r["id"], r["call_id"], Path(r["path"])) for r in rows]


async def transcribe_one(pool: Any, models: ModelPool, item: BacklogItem) -> int:
    """Transcribe one recording, replace the call's live rows with batch rows; return the segments stored.

    A recording that cannot be read is marked done with its error, so one bad file does not block the queue.
    """
    try:
        results = await models.transcribe_wav(item.path)
    except Exception as exc:
        log.warning("backlog: recording %s of call %s failed: %s", item.recording_id, item.call_id, exc)
        await _mark_done(pool, item.call_id, f"{type(exc).__name__}: {exc}")
        return 0
    segments = [
        seg for channel, res in results.items() for r in res if (seg := segment_from_result(channel, r)) is not None
    ]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM transcripts WHERE call_id = $1 AND source = 'live'", item.call_id)
        for seg in segments:
            await store_segment(conn, item.call_id, seg, "batch", item.recording_id)
        await _mark_done(conn, item.call_id, None)
    return len(segments)


async def _mark_done(conn: Any, call_id: UUID, error: str | None) -> None:
    await conn.execute(
        "INSERT INTO transcription_state (call_id, batch_done_at, batch_error) VALUES ($1, now(), $2)"
        " ON CONFLICT (call_id) DO UPDATE SET batch_done_at = now(), batch_error = EXCLUDED.batch_error",
        call_id,
        error,
    )


async def run_once(pool: Any, models: ModelPool, limit: int = 100, busy: Collection[UUID] = ()) -> list[BacklogItem]:
    """Work through up to ``limit`` waiting recordings, oldest first; return them in the order done.

    Run one backlog runner per database: two would transcribe the same recordings.
    """
    items = await pending(pool, limit, busy)
    for item in items:
        await transcribe_one(pool, models, item)
    await stats(pool)
    return items

"""Post-call backlog: recordings of ended calls with no complete live transcript, or whose live stream was
refused or failed, transcribed from the stereo WAV (left = caller, right = agent), oldest first."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db import transcription as state
from db.transcription import BacklogItem
from hotline.transcribe.models import ModelPool
from hotline.transcribe.service import segment_from_result, store_segment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BacklogStats:
    calls: int
    oldest_seconds: float


async def stats(conn: Any) -> BacklogStats:
    """Backlog size and the age of its oldest entry (the supervisor's metrics read the same query, so the
    backlog is measured while no transcription service runs too)."""
    return BacklogStats(*await state.backlog_size(conn))


async def pending(conn: Any, limit: int = 100, busy: Collection[UUID] = ()) -> list[BacklogItem]:
    """The oldest waiting recordings, except those of ``busy`` calls (a live stream of theirs is still open)."""
    return await state.backlog(conn, limit, busy)


async def transcribe_one(pool: Any, models: ModelPool, item: BacklogItem) -> int:
    """Transcribe one recording, replace the call's live rows with batch rows; return the segments stored.

    A recording that cannot be read is marked done with its error, so one bad file does not block the queue.
    """
    try:
        results = await models.transcribe_wav(item.path)
    except Exception as exc:
        log.warning("backlog: recording %s of call %s failed: %s", item.recording_id, item.call_id, exc)
        await state.mark_batch_done(pool, item.call_id, f"{type(exc).__name__}: {exc}")
        return 0
    segments = [
        seg for channel, res in results.items() for r in res if (seg := segment_from_result(channel, r)) is not None
    ]
    async with pool.acquire() as conn, conn.transaction():
        await state.delete_live_segments(conn, item.call_id)
        for seg in segments:
            await store_segment(conn, item.call_id, seg, "batch", item.recording_id)
        await state.mark_batch_done(conn, item.call_id, None)
    return len(segments)


async def run_once(pool: Any, models: ModelPool, limit: int = 100, busy: Collection[UUID] = ()) -> list[BacklogItem]:
    """Work through up to ``limit`` waiting recordings, oldest first; return them in the order done.

    Run one backlog runner per database: two would transcribe the same recordings.
    """
    items = await pending(pool, limit, busy)
    for item in items:
        await transcribe_one(pool, models, item)
    await stats(pool)
    return items

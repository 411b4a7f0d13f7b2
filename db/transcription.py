"""Transcripts (`transcripts`: segments of live streams and of recordings), the bookkeeping per call
(`transcription_state`), the post-call backlog, and the risk flags raised on live speech."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

RISK_CHANNEL = "hotline_risk"  # NOTIFY channel of risk flags raised during a call


async def mark_live_failed(conn: Any, call_id: UUID, reason: str) -> None:
    """A live stream of the call was refused or failed: its recording goes to the post-call backlog."""
    await conn.execute(
        "INSERT INTO transcription_state (call_id, live_failed, live_failed_at) VALUES ($1, $2, now())"
        " ON CONFLICT (call_id) DO UPDATE SET live_failed = EXCLUDED.live_failed,"
        " live_failed_at = EXCLUDED.live_failed_at, batch_done_at = NULL",
        call_id,
        reason[:500],
    )


async def mark_live_done(conn: Any, call_id: UUID) -> bool:
    """Every live stream of the call ended cleanly: its transcript is complete (NOTIFY 'transcribed').

    Returns False, and changes nothing, when a stream of the call was marked failed meanwhile."""
    done: bool | None = await conn.fetchval(
        "INSERT INTO transcription_state (call_id, live_done_at) VALUES ($1, now())"
        " ON CONFLICT (call_id) DO UPDATE SET live_done_at = now() WHERE transcription_state.live_failed IS NULL"
        " RETURNING true",
        call_id,
    )
    return bool(done)


async def add_risk_flag(conn: Any, call_id: UUID, flag: str, rule: str, score: float, notice: dict[str, Any]) -> bool:
    """Store the tagger's flag on the call and NOTIFY ``hotline_risk`` with ``notice`` (JSON), in one statement.

    Only the first time: returns False, and notifies nobody, when the call already has this flag from the tagger.
    """
    inserted: bool | None = await conn.fetchval(
        """WITH ins AS (
               INSERT INTO tags (call_id, kind, value, score, source, rule) VALUES ($1, 'flag', $2, $3, 'live', $4)
               ON CONFLICT (call_id, kind, value, source) DO NOTHING RETURNING id)
           SELECT true FROM (SELECT pg_notify($5, $6) FROM ins) AS sent""",
        call_id,
        flag,
        score,
        rule,
        RISK_CHANNEL,
        json.dumps(notice, ensure_ascii=False),
    )
    return bool(inserted)


async def add_segment(
    conn: Any,
    call_id: UUID,
    *,
    channel: str,
    start_ms: int,
    end_ms: int,
    text: str,
    confidence: float,
    words: str,
    source: str,
    recording_id: int | None = None,
) -> None:
    """Store one transcript segment; `words` is JSON ([{"word", "start_ms", "end_ms", "conf"}, ...])."""
    await conn.execute(
        "INSERT INTO transcripts (call_id, recording_id, channel, start_ms, end_ms, text, confidence, words, source)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
        call_id,
        recording_id,
        channel,
        start_ms,
        end_ms,
        text,
        confidence,
        words,
        source,
    )


async def delete_live_segments(conn: Any, call_id: UUID) -> None:
    """Forget the call's live segments (its recording's batch transcript replaces them)."""
    await conn.execute("DELETE FROM transcripts WHERE call_id = $1 AND source = 'live'", call_id)


async def mark_batch_done(conn: Any, call_id: UUID, error: str | None) -> None:
    """The call's recording was transcribed (or could not be: `error`); NOTIFY 'transcribed' by trigger."""
    await conn.execute(
        "INSERT INTO transcription_state (call_id, batch_done_at, batch_error) VALUES ($1, now(), $2)"
        " ON CONFLICT (call_id) DO UPDATE SET batch_done_at = now(), batch_error = EXCLUDED.batch_error",
        call_id,
        error,
    )


@dataclass(frozen=True)
class BacklogItem:
    recording_id: int
    call_id: UUID
    path: Path


# Recordings of ended calls with no complete live transcript, or whose live stream was refused or failed.
_BACKLOG = """
    FROM recordings r
    LEFT JOIN transcription_state s ON s.call_id = r.call_id
    WHERE r.ended_at IS NOT NULL
      AND s.batch_done_at IS NULL
      AND (s.live_failed IS NOT NULL
           OR (s.live_done_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM transcripts t WHERE t.call_id = r.call_id AND t.source = 'live')))
"""


async def backlog_size(conn: Any) -> tuple[int, float]:
    """The calls waiting for post-call transcription, and the seconds since the oldest one's recording ended."""
    row = await conn.fetchrow(
        "SELECT count(DISTINCT r.call_id) AS n,"
        " coalesce(extract(epoch FROM now() - min(r.ended_at)), 0)::float8 AS oldest" + _BACKLOG
    )
    return int(row["n"]), max(0.0, float(row["oldest"]))


async def backlog(conn: Any, limit: int, busy: Collection[UUID] = ()) -> list[BacklogItem]:
    """The oldest waiting recordings, except those of `busy` calls."""
    rows = await conn.fetch(
        "SELECT r.id, r.call_id, r.path" + _BACKLOG + " AND r.call_id <> ALL($2::uuid[]) ORDER BY r.ended_at, r.id"
        " LIMIT $1",
        limit,
        list(busy),
    )
    return [BacklogItem(r["id"], r["call_id"], Path(r["path"])) for r in rows]


async def transcribed_at(conn: Any, call_id: UUID) -> dt.datetime | None:
    """When the call's transcript was complete (the later of batch and live); None while it is not."""
    at: dt.datetime | None = await conn.fetchval(
        "SELECT greatest(batch_done_at, live_done_at) FROM transcription_state WHERE call_id = $1", call_id
    )
    return at


@dataclass(frozen=True)
class StoredSegment:
    channel: str
    start_ms: int
    end_ms: int
    text: str
    source: str  # live, batch
    recording_id: int | None


async def segments(conn: Any, call_id: UUID) -> list[StoredSegment]:
    """The call's transcript, in time order."""
    rows = await conn.fetch(
        """SELECT channel, start_ms, end_ms, text, source, recording_id FROM transcripts
           WHERE call_id = $1 ORDER BY start_ms, id""",
        call_id,
    )
    return [StoredSegment(**dict(r)) for r in rows]

"""Post-call analysis bookkeeping (`analysis_state`): which calls wait, the per-call lock, what a run found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

LOCK_CLASS = 12348_06  # pg_advisory_xact_lock(class, hashtext(call id)): one analysis of a call at a time
CHANNEL = "transcribed"  # NOTIFY'd with the call id by the transcription_state trigger (0005)

# Calls whose transcript is complete (batch or live) and that were not analysed on that transcript yet.
_PENDING = """
    SELECT s.call_id FROM transcription_state s
    JOIN calls c ON c.id = s.call_id
    LEFT JOIN analysis_state a ON a.call_id = s.call_id
    WHERE (s.batch_done_at IS NOT NULL OR s.live_done_at IS NOT NULL)
      AND (a.call_id IS NULL OR a.transcribed_at IS NULL
           OR a.transcribed_at < greatest(s.batch_done_at, s.live_done_at))
    ORDER BY c.started_at, c.id
    LIMIT $1
"""


async def pending(conn: Any, limit: int = 100) -> list[UUID]:
    """Calls waiting for analysis, oldest call first."""
    return [r["call_id"] for r in await conn.fetch(_PENDING, limit)]


async def lock_call(conn: Any, call_id: UUID) -> None:
    """Wait until no other transaction analyses the call; held until this transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_CLASS, str(call_id))


@dataclass(frozen=True)
class CallFacts:
    """What the analysis needs to know of a call."""

    id: UUID
    agent_id: int | None
    queue_id: int | None
    caller_masked: str
    prefecture_code: str | None


async def call_facts(conn: Any, call_id: UUID) -> CallFacts | None:
    row = await conn.fetchrow(
        "SELECT id, agent_id, queue_id, caller_masked, prefecture_code FROM calls WHERE id = $1", call_id
    )
    return None if row is None else CallFacts(**dict(row))


@dataclass(frozen=True)
class Analysed:
    transcribed_at: dt.datetime | None  # the transcript the last run saw (None: there was none)


async def last_run(conn: Any, call_id: UUID) -> Analysed | None:
    """The call's last analysis; None when it was never analysed."""
    row = await conn.fetchrow("SELECT transcribed_at FROM analysis_state WHERE call_id = $1", call_id)
    return None if row is None else Analysed(row["transcribed_at"])


async def mark_done(conn: Any, call_id: UUID, transcribed_at: dt.datetime | None, error: str | None) -> None:
    """The call was analysed on the transcript complete at `transcribed_at` (`error`: what kept it from it)."""
    await conn.execute(
        """INSERT INTO analysis_state (call_id, transcribed_at, done_at, error) VALUES ($1, $2, now(), $3)
           ON CONFLICT (call_id) DO UPDATE SET transcribed_at = EXCLUDED.transcribed_at,
               done_at = EXCLUDED.done_at, error = EXCLUDED.error""",
        call_id,
        transcribed_at,
        error,
    )


async def mark_failed(conn: Any, call_id: UUID, error: str) -> None:
    """The analysis of the call failed on its current transcript: it is not retried until the transcript
    changes (or by hand)."""
    await conn.execute(
        """INSERT INTO analysis_state (call_id, transcribed_at, done_at, error)
           SELECT $1, greatest(s.batch_done_at, s.live_done_at), now(), $2
           FROM calls c LEFT JOIN transcription_state s ON s.call_id = c.id WHERE c.id = $1
           ON CONFLICT (call_id) DO UPDATE SET transcribed_at = EXCLUDED.transcribed_at,
               done_at = EXCLUDED.done_at, error = EXCLUDED.error""",
        call_id,
        error,
    )

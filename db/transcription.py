"""Transcription bookkeeping per call (`transcription_state`) and the risk flags raised on live speech."""

from __future__ import annotations

import json
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

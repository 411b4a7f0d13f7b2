"""Callbacks that keep the caller's place (`callbacks`, `callback_attempts` and the caller's `queue_entries` row).

A requested callback waits in line under the caller's queue entry; the dispatcher offers it like any caller; a
cell claims the offer (waiting -> dialing) and records every attempt with its result. The lifecycle is told in
hotline/cell/callback.py, which runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from db.calls import add_event
from hotline.events import CallEvent


async def request(
    conn: Any,
    call_id: UUID,
    queue_id: int,
    *,
    number_hmac: bytes,
    number_enc: bytes,
    number_masked: str,
    keep_place: bool,
    at: datetime | None = None,
    reason: str | None = None,
    requested_by: int | None = None,
) -> int:
    """Open a callback for the call and put it in line, and log CALLBACK, in one transaction; returns its id.

    With `keep_place`, the entry the caller just left in this queue waits on under the callback (same entered_at,
    same priority); otherwise (or from another queue) the callback takes a place from now. With `at` (a callback
    the console scheduled), the entry is not offered before then; `reason` and `requested_by` say why and who."""
    async with conn.transaction():
        callback_id: int = await conn.fetchval(
            """INSERT INTO callbacks (call_id, queue_id, number_hmac, number_enc, number_masked, next_attempt_at,
                                      scheduled_for, reason, requested_by)
               VALUES ($1, $2, $3, $4, $5, coalesce($6, now()), $6, $7, $8) RETURNING id""",
            call_id,
            queue_id,
            number_hmac,
            number_enc,
            number_masked,
            at,
            reason,
            requested_by,
        )
        await conn.execute(
            """INSERT INTO queue_entries (call_id, queue_id, cell, callback_id, not_before)
               VALUES ($1, $2, 'callback', $3, $5)
               ON CONFLICT (call_id) DO UPDATE SET state = 'waiting', callback_id = EXCLUDED.callback_id,
                   cell = EXCLUDED.cell, agent_id = NULL, offered_at = NULL, not_before = EXCLUDED.not_before,
                   entered_at = CASE WHEN queue_entries.queue_id = EXCLUDED.queue_id AND $4
                                     THEN queue_entries.entered_at ELSE now() END,
                   queue_id = EXCLUDED.queue_id""",
            call_id,
            queue_id,
            callback_id,
            keep_place,
            at,
        )
        data: dict[str, Any] = {"number": number_masked, "keep_place": keep_place, "callback": callback_id}
        if at is not None:
            data["at"] = at.isoformat()
        if reason is not None:
            data["reason"] = reason
        await add_event(conn, call_id, CallEvent.CALLBACK, queue_id=queue_id, data=data)
    return callback_id


@dataclass(frozen=True)
class Source:
    """What a callback for an ended call needs from it: the caller's number (stored forms) and its queue."""

    call_id: UUID
    number_hmac: bytes
    number_enc: bytes
    number_masked: str
    queue_id: int | None
    ended: bool
    open_callback: int | None  # a callback of this call still waiting or dialling


async def source(conn: Any, call_id: UUID) -> Source | None:
    row = await conn.fetchrow(
        """SELECT c.id, c.caller_hmac, c.caller_enc, c.caller_masked, c.ended_at IS NOT NULL AS ended,
                  coalesce(e.queue_id, (SELECT queue_id FROM call_events WHERE call_id = c.id AND queue_id IS NOT NULL
                                        ORDER BY id DESC LIMIT 1)) AS queue_id,
                  (SELECT id FROM callbacks b WHERE b.call_id = c.id AND b.status IN ('waiting', 'dialing')
                   ORDER BY id DESC LIMIT 1) AS open_callback
           FROM calls c LEFT JOIN queue_entries e ON e.call_id = c.id WHERE c.id = $1""",
        call_id,
    )
    if row is None or row["caller_hmac"] is None or row["caller_enc"] is None:
        return None
    return Source(
        row["id"],
        row["caller_hmac"],
        row["caller_enc"],
        row["caller_masked"],
        row["queue_id"],
        row["ended"],
        row["open_callback"],
    )


async def of_call(conn: Any, call_id: UUID) -> list[dict[str, Any]]:
    """The callbacks asked for on the call, newest first: when, why, by whom, where they stand."""
    rows = await conn.fetch(
        """SELECT b.id, b.status, b.scheduled_for, b.requested_at, b.reason, b.attempts, b.max_attempts,
                  b.last_result, a.username AS requested_by
           FROM callbacks b LEFT JOIN agents a ON a.id = b.requested_by WHERE b.call_id = $1 ORDER BY b.id DESC""",
        call_id,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class ClaimedCallback:
    """An offered callback a cell took: whom to ring first (the reserved agent), then whom to call."""

    callback_id: int
    call_id: UUID  # the call that asked for the callback
    queue_id: int
    entry_id: int
    waited: float  # seconds the caller had waited when claimed (PostgreSQL's clock)
    agent_id: int
    username: str
    ring_timeout: float
    number_enc: bytes
    number_masked: str
    attempts: int
    max_attempts: int
    retry_seconds: int


async def claim(conn: Any, cell: str) -> ClaimedCallback | None:
    """Take the longest-offered callback no cell is dialling (waiting -> dialing, row locked, SKIP LOCKED)."""
    row = await conn.fetchrow(
        """UPDATE callbacks c SET status = 'dialing', cell = $1
           FROM (SELECT b.id, e.id AS entry_id, extract(epoch FROM now() - e.entered_at) AS waited, e.agent_id,
                        a.username, q.ring_timeout_seconds
                 FROM queue_entries e JOIN callbacks b ON b.id = e.callback_id
                 JOIN agents a ON a.id = e.agent_id JOIN queues q ON q.id = e.queue_id
                 WHERE e.state = 'offered' AND b.status = 'waiting'
                 ORDER BY e.offered_at LIMIT 1 FOR UPDATE OF b SKIP LOCKED) p
           WHERE c.id = p.id
           RETURNING c.id, c.call_id, c.queue_id, p.entry_id, p.waited, p.agent_id, p.username,
                     p.ring_timeout_seconds, c.number_enc, c.number_masked, c.attempts, c.max_attempts,
                     c.retry_seconds""",
        cell,
    )
    if row is None:
        return None
    return ClaimedCallback(
        row["id"],
        row["call_id"],
        row["queue_id"],
        row["entry_id"],
        float(row["waited"]),
        row["agent_id"],
        row["username"],
        float(row["ring_timeout_seconds"]),
        bytes(row["number_enc"]),
        row["number_masked"],
        row["attempts"],
        row["max_attempts"],
        row["retry_seconds"],
    )


async def start_attempt(conn: Any, callback_id: int, agent_id: int, cell: str) -> int:
    """Record the next attempt of a callback; returns its id."""
    attempt_id: int = await conn.fetchval(
        """INSERT INTO callback_attempts (callback_id, attempt, agent_id, cell)
           VALUES ($1, (SELECT count(*) + 1 FROM callback_attempts WHERE callback_id = $1), $2, $3)
           RETURNING id""",
        callback_id,
        agent_id,
        cell,
    )
    return attempt_id


async def calling_caller(conn: Any, callback_id: int, entry_id: int) -> None:
    """The caller's phone rings now: one of their attempts is used, and the offer is alive (the dispatcher's
    reconciliation returns offers idle for a minute)."""
    async with conn.transaction():
        await conn.execute("UPDATE callbacks SET attempts = attempts + 1 WHERE id = $1", callback_id)
        await conn.execute("UPDATE queue_entries SET offered_at = now() WHERE id = $1", entry_id)


async def connected(conn: Any, callback_id: int, entry_id: int, attempt_id: int, call_id: UUID) -> None:
    """Agent and caller are bridged in the call `call_id`: the callback, its entry and the attempt are done."""
    await conn.execute(
        "UPDATE callbacks SET status = 'connected', completed_at = now(), last_result = 'connected', "
        "cell = NULL WHERE id = $1",
        callback_id,
    )
    await conn.execute("UPDATE queue_entries SET state = 'connected' WHERE id = $1", entry_id)
    await conn.execute(
        "UPDATE callback_attempts SET ended_at = now(), result = 'connected', call_id = $2 WHERE id = $1",
        attempt_id,
        call_id,
    )


async def agent_not_reached(conn: Any, callback_id: int, attempt_id: int, status_code: int | None) -> None:
    """The reserved agent did not answer: the callback waits for the next agent (the caller keeps their attempts)."""
    await _undial(conn, callback_id)
    await conn.execute(
        "UPDATE callback_attempts SET ended_at = now(), result = 'agent_no_answer', status_code = $2 WHERE id = $1",
        attempt_id,
        status_code,
    )


async def caller_not_reached(
    conn: Any, callback_id: int, attempt_id: int, entry_id: int, result: str, status_code: int | None, *, final: bool
) -> None:
    """The caller did not answer (`result`): the attempt ends; the callback waits `retry_seconds` and is offered
    again, or, after the `final` attempt, fails and leaves the line."""
    await conn.execute(
        "UPDATE callback_attempts SET ended_at = now(), result = $2, status_code = $3 WHERE id = $1",
        attempt_id,
        result,
        status_code,
    )
    if final:
        await conn.execute(
            "UPDATE callbacks SET status = 'failed', completed_at = now(), last_result = $2, cell = NULL WHERE id = $1",
            callback_id,
            result,
        )
        await conn.execute("UPDATE queue_entries SET state = 'left' WHERE id = $1", entry_id)
    else:
        await conn.execute(
            """UPDATE callbacks SET status = 'waiting', cell = NULL, last_result = $2,
                      next_attempt_at = now() + make_interval(secs => retry_seconds) WHERE id = $1""",
            callback_id,
            result,
        )
        await _back_in_line(conn, entry_id, retry=True)


async def interrupted(conn: Any, callback_id: int, attempt_id: int, entry_id: int) -> bool:
    """Close a still open attempt as failed and give the callback back to the queue; False (nothing changed)
    when the attempt already has its result."""
    closed = await conn.fetchval(
        "UPDATE callback_attempts SET ended_at = now(), result = 'failed' WHERE id = $1 AND ended_at IS NULL "
        "RETURNING true",
        attempt_id,
    )
    if not closed:
        return False
    await _undial(conn, callback_id)
    await _back_in_line(conn, entry_id, retry=False)
    return True


async def _undial(conn: Any, callback_id: int) -> None:
    """No cell dials the callback any more: it waits for an offer again."""
    await conn.execute(
        "UPDATE callbacks SET status = 'waiting', cell = NULL WHERE id = $1 AND status = 'dialing'", callback_id
    )


async def _back_in_line(conn: Any, entry_id: int, *, retry: bool) -> None:
    """The offered callback waits in line again; for a retry, not before the callback's next attempt time."""
    await conn.execute(
        """UPDATE queue_entries e SET state = 'waiting', agent_id = NULL, offered_at = NULL,
                  not_before = CASE WHEN $2 THEN c.next_attempt_at ELSE e.not_before END
           FROM callbacks c WHERE c.id = e.callback_id AND e.id = $1 AND e.state = 'offered'""",
        entry_id,
        retry,
    )

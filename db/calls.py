"""Call records: one `calls` row per call, an append-only `call_events` log, recordings and survey answers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hotline.caller.phone import CallerNumber
from hotline.caller.privacy import NumberKeys
from hotline.events import CallEvent

OUTCOMES = (
    "answered",
    "abandoned",
    "ivr_only",
    "voicemail",
    "callback",
    "transferred",
    "failed",
    "rejected",
    "timeout",
)


@dataclass(frozen=True)
class CallRecord:
    id: UUID
    sip_call_id: str
    caller_masked: str
    caller_kind: str
    prefecture_code: str | None
    cell: str | None
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    flow_id: str | None
    flow_revision: int | None
    node_path: list[str]
    digits: str
    outcome: str | None

    @classmethod
    def from_row(cls, row: Any) -> CallRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


_COLUMNS = ", ".join(CallRecord.__dataclass_fields__)


@dataclass(frozen=True)
class CallerColumns:
    """What a call row keeps of its caller: never the plaintext number (an HMAC to find it, the ciphertext the
    handling agent may decrypt, the masked form)."""

    masked: str
    kind: str
    hmac: bytes | None
    enc: bytes | None
    prefecture_code: str | None
    province: str | None

    @classmethod
    def of(cls, caller: CallerNumber, keys: NumberKeys) -> CallerColumns:
        return cls(
            caller.masked,
            caller.kind,
            keys.digest(caller.e164) if caller.e164 else None,
            keys.encrypt(caller.e164) if caller.e164 else None,
            caller.prefecture.code if caller.prefecture else None,
            caller.region,
        )


async def start(
    conn: Any,
    *,
    sip_call_id: str,
    caller: CallerNumber,
    keys: NumberKeys,
    cell: str | None = None,
    trunk: str | None = None,
    simulated: bool = False,
) -> UUID:
    """Open the record of an inbound call (at INVITE) and log INCOMING, in one transaction (``simulated``: placed
    by `hotline simulate`, never counted in a real report)."""
    return await open_call(
        conn, CallerColumns.of(caller, keys), sip_call_id=sip_call_id, cell=cell, trunk=trunk, simulated=simulated
    )


async def open_call(
    conn: Any,
    caller: CallerColumns,
    *,
    sip_call_id: str,
    cell: str | None = None,
    trunk: str | None = None,
    simulated: bool = False,
    call_id: UUID | None = None,
    at: dt.datetime | None = None,
    write_id: UUID | None = None,
) -> UUID:
    """`start` from the caller's columns. A journaled write (hotline.cell.journal) gives its own `call_id`, its
    true time `at` and its `write_id`; writing it again changes nothing."""
    async with conn.transaction():
        made: UUID | None = await conn.fetchval(
            """
            INSERT INTO calls (id, sip_call_id, caller_hmac, caller_enc, caller_masked, caller_kind,
                               prefecture_code, province, trunk, cell, simulated, started_at)
            VALUES (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, coalesce($12, now()))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """,
            call_id,
            sip_call_id,
            caller.hmac,
            caller.enc,
            caller.masked,
            caller.kind,
            caller.prefecture_code,
            caller.province,
            trunk,
            cell,
            simulated,
            at,
        )
        if made is None:  # written before (a replay)
            assert call_id is not None
            return call_id
        await add_event(conn, made, CallEvent.INCOMING, data={"cell": cell}, at=at, write_id=write_id)
    return made


async def add_event(
    conn: Any,
    call_id: UUID,
    event: CallEvent,
    *,
    queue_id: int | None = None,
    agent_id: int | None = None,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    write_id: UUID | None = None,
) -> None:
    """Append one event to the call's log (`data`: JSON, never a plaintext number). `at`: when it happened (None:
    now); `write_id`: the journal's id of the write, which makes writing it twice a no-op."""
    await conn.execute(
        """INSERT INTO call_events (call_id, event, queue_id, agent_id, data, at, write_id)
           VALUES ($1, $2, $3, $4, $5::jsonb, coalesce($6, now()), $7) ON CONFLICT (write_id) DO NOTHING""",
        call_id,
        CallEvent(event).value,  # a stray string is refused here, before the CHECK would
        queue_id,
        agent_id,
        json.dumps(data or {}, ensure_ascii=False),
        at,
        write_id,
    )


async def answered(conn: Any, call_id: UUID, *, at: dt.datetime | None = None, write_id: UUID | None = None) -> None:
    async with conn.transaction():
        await conn.execute(
            """UPDATE calls SET answered_at = greatest(coalesce($2, now()), started_at)
               WHERE id = $1 AND answered_at IS NULL""",
            call_id,
            at,
        )
        await add_event(conn, call_id, CallEvent.ANSWER, at=at, write_id=write_id)


async def record_path(
    conn: Any, call_id: UUID, flow_id: str, revision: int, node_path: Sequence[str], digits: str
) -> None:
    """Store the flow the call ran (id, revision), the nodes it went through and the digits typed, as of now."""
    await conn.execute(
        "UPDATE calls SET flow_id = $2, flow_revision = $3, node_path = $4, digits = $5 WHERE id = $1",
        call_id,
        flow_id,
        revision,
        list(node_path),
        digits,
    )


async def set_queue(conn: Any, call_id: UUID, queue_id: int) -> None:
    """The queue the call waits in (the last one, for a call that was in several)."""
    await conn.execute("UPDATE calls SET queue_id = $2 WHERE id = $1", call_id, queue_id)


async def set_agent(conn: Any, call_id: UUID, agent_id: int) -> None:
    """The agent the call was bridged to."""
    await conn.execute("UPDATE calls SET agent_id = $2 WHERE id = $1", call_id, agent_id)


async def link_callback(conn: Any, call_id: UUID, parent_call_id: UUID, queue_id: int, agent_id: int) -> None:
    """Mark a call as the callback of `parent_call_id`, taken by `agent_id` for `queue_id` (simulated when the
    parent is)."""
    await conn.execute(
        """
        UPDATE calls SET direction = 'callback', parent_call_id = $2, queue_id = $3, agent_id = $4,
                         simulated = (SELECT p.simulated FROM calls p WHERE p.id = $2)
        WHERE id = $1
        """,
        call_id,
        parent_call_id,
        queue_id,
        agent_id,
    )


async def exists(conn: Any, call_id: UUID) -> bool:
    return await conn.fetchval("SELECT 1 FROM calls WHERE id = $1", call_id) is not None


async def end(
    conn: Any,
    call_id: UUID,
    outcome: str,
    *,
    reason: str | None = None,
    at: dt.datetime | None = None,
    write_id: UUID | None = None,
) -> bool:
    """Close a call once (at `at`, else now); a second close (e.g. the supervisor after the cell) changes nothing."""
    if outcome not in OUTCOMES:
        raise ValueError(f"call outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    async with conn.transaction():
        closed = await conn.fetchval(
            """UPDATE calls SET ended_at = greatest(coalesce($3, now()), started_at), outcome = $2
               WHERE id = $1 AND ended_at IS NULL RETURNING true""",
            call_id,
            outcome,
            at,
        )
        if closed:
            await add_event(
                conn,
                call_id,
                CallEvent.FAILED if outcome == "failed" else CallEvent.HANGUP,
                data={"outcome": outcome, "reason": reason},
                at=at,
                write_id=write_id,
            )
    return bool(closed)


async def set_recording_path(conn: Any, call_id: UUID, path: str) -> None:
    """Where the call's recording will be written (so that a dead cell's partial recording can be found)."""
    await conn.execute("UPDATE calls SET recording_path = $2 WHERE id = $1", call_id, path)


async def open_recordings_of_cell(conn: Any, cell: str) -> list[tuple[UUID, str]]:
    """(call id, recording path) of the cell's open calls whose recording was started and not registered."""
    rows = await conn.fetch(
        """SELECT c.id, c.recording_path FROM calls c
           WHERE c.cell = $1 AND c.ended_at IS NULL AND c.recording_path IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.path = c.recording_path)""",
        cell,
    )
    return [(r["id"], r["recording_path"]) for r in rows]


async def fail_open_calls_of_cell(conn: Any, cell: str, reason: str) -> int:
    """Close every open call of a cell that died; returns how many were closed."""
    ids = await conn.fetch("SELECT id FROM calls WHERE cell = $1 AND ended_at IS NULL", cell)
    count = 0
    for row in ids:
        count += await end(conn, row["id"], "failed", reason=reason)
    return count


async def get(conn: Any, call_id: UUID) -> CallRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM calls WHERE id = $1", call_id)
    return CallRecord.from_row(row) if row else None


async def events(conn: Any, call_id: UUID) -> list[CallEvent]:
    rows = await conn.fetch("SELECT event FROM call_events WHERE call_id = $1 ORDER BY at, id", call_id)
    return [CallEvent(r["event"]) for r in rows]


async def first_connect_at(conn: Any, call_id: UUID) -> dt.datetime | None:
    """When the call was first bridged to an agent (its first CONNECT); None when it never was."""
    at: dt.datetime | None = await conn.fetchval(
        "SELECT min(at) FROM call_events WHERE call_id = $1 AND event = 'CONNECT'", call_id
    )
    return at


async def add_recording(
    conn: Any,
    call_id: UUID,
    path: str,
    channels: int,
    sample_rate: int,
    seconds: float,
    size_bytes: int,
    sha256: str,
    *,
    partial: bool = False,
    at: dt.datetime | None = None,
    write_id: UUID | None = None,
) -> None:
    """Register the call's recording, which ended at `at` (else now, stamped by PostgreSQL) and lasted `seconds`,
    and log RECORDING; `partial`: what was on disk when its cell died. A path registered before is left as it
    is."""
    made = await conn.fetchval(
        """INSERT INTO recordings (call_id, path, channels, sample_rate, started_at, ended_at, size_bytes, sha256,
                                   partial)
           VALUES ($1, $2, $3, $4, coalesce($8, now()) - make_interval(secs => $5), coalesce($8, now()), $6, $7, $9)
           ON CONFLICT (path) DO NOTHING RETURNING true""",
        call_id,
        path,
        channels,
        sample_rate,
        seconds,
        size_bytes,
        sha256,
        at,
        partial,
    )
    if made or write_id is None:
        data: dict[str, Any] = {"seconds": round(seconds, 2), **({"partial": True} if partial else {})}
        await add_event(conn, call_id, CallEvent.RECORDING, data=data, at=at, write_id=write_id)


async def recording_started_at(conn: Any, recording_id: int) -> dt.datetime | None:
    started: dt.datetime | None = await conn.fetchval("SELECT started_at FROM recordings WHERE id = $1", recording_id)
    return started


async def save_survey_answer(
    conn: Any,
    call_id: UUID,
    question: str,
    answer: int | None,
    label: str | None,
    *,
    at: dt.datetime | None = None,
    write_id: UUID | None = None,
) -> None:
    """Store (or replace) the caller's answer to one survey question and log SURVEY."""
    await conn.execute(
        """INSERT INTO surveys (call_id, question, answer) VALUES ($1, $2, $3)
           ON CONFLICT (call_id, question) DO UPDATE SET answer = EXCLUDED.answer""",
        call_id,
        question,
        answer,
    )
    await add_event(
        conn, call_id, CallEvent.SURVEY, data={"question": question, "label": label}, at=at, write_id=write_id
    )

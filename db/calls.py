"""Call records: one `calls` row per inbound call and an append-only `call_events` log."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hotline.caller.phone import CallerNumber
from hotline.caller.privacy import NumberKeys

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


async def start(
    conn: Any,
    *,
    sip_call_id: str,
    caller: CallerNumber,
    keys: NumberKeys,
    cell: str | None = None,
    trunk: str | None = None,
) -> UUID:
    """Open the record of an inbound call (at INVITE) and log INCOMING, in one transaction."""
    digest = keys.digest(caller.e164) if caller.e164 else None
    cipher = keys.encrypt(caller.e164) if caller.e164 else None
    async with conn.transaction():
        call_id: UUID = await conn.fetchval(
            """
            INSERT INTO calls (sip_call_id, caller_hmac, caller_enc, caller_masked, caller_kind,
                               prefecture_code, province, trunk, cell)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
            """,
            sip_call_id,
            digest,
            cipher,
            caller.masked,
            caller.kind,
            caller.prefecture.code if caller.prefecture else None,
            caller.region,
            trunk,
            cell,
        )
        await add_event(conn, call_id, "INCOMING", data={"cell": cell})
    return call_id


async def add_event(
    conn: Any,
    call_id: UUID,
    event: str,
    *,
    queue_id: int | None = None,
    agent_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO call_events (call_id, event, queue_id, agent_id, data) VALUES ($1, $2, $3, $4, $5::jsonb)",
        call_id,
        event,
        queue_id,
        agent_id,
        json.dumps(data or {}, ensure_ascii=False),
    )


async def answered(conn: Any, call_id: UUID) -> None:
    async with conn.transaction():
        await conn.execute("UPDATE calls SET answered_at = now() WHERE id = $1 AND answered_at IS NULL", call_id)
        await add_event(conn, call_id, "ANSWER")


async def record_path(conn: Any, call_id: UUID, flow_id: str, revision: int, node: str, digits: str = "") -> None:
    await conn.execute(
        """UPDATE calls SET flow_id = $2, flow_revision = $3, node_path = node_path || $4::text,
                            digits = digits || $5 WHERE id = $1""",
        call_id,
        flow_id,
        revision,
        node,
        digits,
    )


async def end(conn: Any, call_id: UUID, outcome: str, *, reason: str | None = None) -> bool:
    """Close a call once; a second close (e.g. the supervisor after the cell) changes nothing."""
    if outcome not in OUTCOMES:
        raise ValueError(f"call outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    async with conn.transaction():
        closed = await conn.fetchval(
            "UPDATE calls SET ended_at = now(), outcome = $2 WHERE id = $1 AND ended_at IS NULL RETURNING true",
            call_id,
            outcome,
        )
        if closed:
            await add_event(
                conn,
                call_id,
                "FAILED" if outcome == "failed" else "HANGUP",
                data={"outcome": outcome, "reason": reason},
            )
    return bool(closed)


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


async def events(conn: Any, call_id: UUID) -> list[str]:
    rows = await conn.fetch("SELECT event FROM call_events WHERE call_id = $1 ORDER BY at, id", call_id)
    return [r["event"] for r in rows]

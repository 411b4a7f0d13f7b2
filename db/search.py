"""Supervisors' work-order search, and what a work order's page reads beside it: its calls, their recordings.

Every filter is a query parameter (``$n IS NULL OR ...``): a filter left None matches every work order; the SQL
text is the same whatever is searched. Callers' numbers come out masked only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import astuple, dataclass
from typing import Any
from uuid import UUID

MAX_LIMIT = 100  # rows of one page of results, at most

# The work order's prefecture: its own, else its call's; else `outside_yunnan` for a number placed elsewhere
# (calls.province is the geocoder's place, e.g. 北京市), else `unknown`, as the KPIs count them (db/kpi.py).
_PREFECTURE = """CASE WHEN coalesce(t.prefecture_code, c.prefecture_code) IS NOT NULL
                           THEN coalesce(t.prefecture_code, c.prefecture_code)::text
                      WHEN c.province IS NOT NULL AND c.province NOT LIKE '云南%' THEN 'outside_yunnan'
                      ELSE 'unknown' END"""

_COLUMNS = f"""t.number, t.status, t.priority, coalesce(t.caller_masked, c.caller_masked) AS caller_masked,
       {_PREFECTURE} AS prefecture, p.name AS prefecture_name, t.legal_area, t.service, t.deadline, t.created_at,
       t.closed_at, a.username AS agent, a.display_name AS agent_name"""

_FROM = """FROM tickets t
LEFT JOIN calls c ON c.id = t.call_id
LEFT JOIN agents a ON a.id = t.assignee_id
LEFT JOIN prefectures p ON p.code = coalesce(t.prefecture_code, c.prefecture_code)"""

# $1..$7: the fields of TicketFilter, in order.
_WHERE = f"""WHERE ($1::text IS NULL OR strpos(t.number, $1) > 0)
  AND ($2::timestamptz IS NULL OR t.created_at >= $2)
  AND ($3::timestamptz IS NULL OR t.created_at < $3)
  AND ($4::text IS NULL OR {_PREFECTURE} = $4)
  AND ($5::text IS NULL OR t.legal_area = $5)
  AND ($6::text IS NULL OR t.status = $6)
  AND ($7::text IS NULL OR a.username = $7)"""


@dataclass(frozen=True)
class TicketFilter:
    """What a search keeps; None keeps everything. The fields' order is the parameters' ($1..$7)."""

    number: str | None = None  # part of the number, e.g. 20261207 or 000012
    since: dt.datetime | None = None  # created at or after
    until: dt.datetime | None = None  # created before
    prefecture: str | None = None  # a prefecture code, `outside_yunnan` or `unknown`
    legal_area: str | None = None
    status: str | None = None
    agent: str | None = None  # the assignee's username


async def find_tickets(conn: Any, where: TicketFilter, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """One page of the work orders ``where`` keeps, newest first (``limit`` is capped at MAX_LIMIT)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS}
            {_FROM}
            {_WHERE}
            ORDER BY t.created_at DESC, t.id DESC
            LIMIT $8 OFFSET $9""",
        *astuple(where),
        max(1, min(limit, MAX_LIMIT)),
        max(0, offset),
    )
    return [dict(r) for r in rows]


async def count_tickets(conn: Any, where: TicketFilter) -> int:
    total: int = await conn.fetchval(f"SELECT count(*) {_FROM} {_WHERE}", *astuple(where))
    return total


async def ticket(conn: Any, number: str) -> dict[str, Any] | None:
    """The work order as its page shows it (the caller masked), None if there is no such number."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS}, t.call_id, t.flags, t.facts, t.answer, t.disposition, t.referral,
                   t.follow_up_result, t.updated_at
            {_FROM}
            WHERE t.number = $1""",
        number,
    )
    return dict(row) if row else None


async def ticket_calls(conn: Any, call_id: UUID) -> list[dict[str, Any]]:
    """The work order's call and the callbacks made for it, in time order (the caller masked)."""
    rows = await conn.fetch(
        """SELECT c.id, c.direction, c.caller_masked, c.started_at, c.answered_at, c.ended_at, c.outcome,
                  q.display_name AS queue, a.username AS agent, a.display_name AS agent_name,
                  extract(epoch FROM c.ended_at - c.started_at)::float8 AS seconds
           FROM calls c LEFT JOIN queues q ON q.id = c.queue_id LEFT JOIN agents a ON a.id = c.agent_id
           WHERE c.id = $1 OR c.parent_call_id = $1
           ORDER BY c.started_at, c.id""",
        call_id,
    )
    return [dict(r) for r in rows]


async def call_recordings(conn: Any, call_ids: list[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, call_id, channels, sample_rate, started_at, size_bytes,
                  extract(epoch FROM ended_at - started_at)::float8 AS seconds
           FROM recordings WHERE call_id = ANY($1::uuid[]) ORDER BY started_at, id""",
        call_ids,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class RecordingFile:
    id: int
    call_id: UUID
    path: str  # as the cell registered it (absolute, or relative to the service's working directory)
    size_bytes: int | None
    sha256: str | None
    ticket: str | None  # the call's first work order


async def recording(conn: Any, recording_id: int) -> RecordingFile | None:
    row = await conn.fetchrow(
        """SELECT r.id, r.call_id, r.path, r.size_bytes, r.sha256,
                  (SELECT number FROM tickets WHERE call_id = r.call_id ORDER BY id LIMIT 1) AS ticket
           FROM recordings r WHERE r.id = $1""",
        recording_id,
    )
    return RecordingFile(**dict(row)) if row else None

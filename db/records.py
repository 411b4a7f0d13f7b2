"""Call records and referrals as the REST API hands them to other systems (agents/calls, agents/referrals).

Both lists are read in pages by keyset: calls in (started_at, id) order, referrals in (created_at, id) order;
``after`` is the key of the last row of the previous page, so a page never repeats or skips a row that was
already there when the first page was read. Rows carry the caller only masked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hotline.kpi import TALK_END_EVENTS, VISIT_EXIT_EVENTS

# language: the language skill the call asked for in its queue (language:彝语); None when it never queued.
# wait: the first ENTERQUEUE to the queue exit after it (CONNECT, ABANDON, EXITWITH*...: docs/kpi.md), else to the
# call's end; None when it never queued.
# talk: the sum over its CONNECTs of the time to the next COMPLETE*/TRANSFER, else to the call's end.
_CALLS = """
SELECT c.id, c.started_at, c.answered_at, c.ended_at, c.direction, q.name AS queue, c.prefecture_code::text,
       c.outcome, c.caller_masked, a.username AS agent,
       (SELECT t.number FROM tickets t WHERE t.call_id = c.id ORDER BY t.id LIMIT 1) AS ticket,
       (SELECT coalesce((SELECT substr(s, 10) FROM unnest(e.skills) s WHERE s LIKE 'language:%' LIMIT 1), '普通话')
        FROM queue_entries e WHERE e.call_id = c.id) AS language,
       w.wait_s, k.talk_s
FROM calls c
LEFT JOIN queues q ON q.id = c.queue_id
LEFT JOIN agents a ON a.id = c.agent_id
LEFT JOIN LATERAL (
    SELECT round(extract(epoch FROM coalesce(
               (SELECT min(x.at) FROM call_events x
                WHERE x.call_id = c.id AND x.id > e.id AND x.event = ANY($2::text[])),
               c.ended_at) - e.at))::int AS wait_s
    FROM call_events e WHERE e.call_id = c.id AND e.event = 'ENTERQUEUE' ORDER BY e.id LIMIT 1
) w ON true
LEFT JOIN LATERAL (
    SELECT round(sum(extract(epoch FROM coalesce(
               (SELECT min(d.at) FROM call_events d
                WHERE d.call_id = c.id AND d.id > x.id AND d.event = ANY($1::text[])),
               c.ended_at) - x.at)))::int AS talk_s
    FROM call_events x WHERE x.call_id = c.id AND x.event = 'CONNECT'
) k ON true
"""

_EVENTS = (list(TALK_END_EVENTS), list(VISIT_EXIT_EVENTS))  # $1, $2 of _CALLS

_REFERRALS = """
SELECT t.id, t.number, t.referral, t.status, t.priority, t.created_at, t.deadline, t.prefecture_code::text,
       t.legal_area, t.service, t.flags, t.facts, t.legal_aid_hint, coalesce(t.caller_masked, c.caller_masked)
       AS caller_masked,
       (SELECT max(l.at) FROM ticket_status_log l WHERE l.ticket_id = t.id AND l.to_status = 'referred')
       AS referred_at
FROM tickets t
LEFT JOIN calls c ON c.id = t.call_id
WHERE t.referral IS NOT NULL
"""


@dataclass(frozen=True)
class CallRow:
    id: UUID
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    direction: str
    queue: str | None
    prefecture_code: str | None
    outcome: str | None
    caller_masked: str
    agent: str | None
    ticket: str | None
    language: str | None
    wait_s: int | None
    talk_s: int | None

    @classmethod
    def from_row(cls, row: Any) -> CallRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CallFilters:
    """Calls that started in [since, until), in the queue named ``queue``, from the prefecture ``prefecture``."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    queue: str | None = None
    prefecture: str | None = None


@dataclass(frozen=True)
class ReferralRow:
    id: int
    number: str
    referral: str
    status: str
    priority: str
    created_at: dt.datetime
    deadline: dt.datetime | None
    prefecture_code: str | None
    legal_area: str | None
    service: str | None
    flags: list[str]
    facts: str
    legal_aid_hint: bool
    caller_masked: str | None
    referred_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ReferralRow:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ReferralFilters:
    """Work orders referred to ``referral`` (a tickets.REFERRALS label), created at or after ``since``, in
    ``status``."""

    referral: str | None = None
    since: dt.datetime | None = None
    status: str | None = None


async def calls(conn: Any, where: CallFilters, after: tuple[dt.datetime, UUID] | None, limit: int) -> list[CallRow]:
    """Up to ``limit`` calls after the key ``after``, oldest first."""
    rows = await conn.fetch(
        _CALLS
        + """WHERE ($3::timestamptz IS NULL OR c.started_at >= $3) AND ($4::timestamptz IS NULL OR c.started_at < $4)
               AND ($5::text IS NULL OR q.name = $5) AND ($6::text IS NULL OR c.prefecture_code::text = $6)
               AND ($7::timestamptz IS NULL OR (c.started_at, c.id) > ($7, $8::uuid))
             ORDER BY c.started_at, c.id LIMIT $9""",
        *_EVENTS,
        where.since,
        where.until,
        where.queue,
        where.prefecture,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [CallRow.from_row(r) for r in rows]


async def call(conn: Any, call_id: UUID) -> CallRow | None:
    row = await conn.fetchrow(_CALLS + "WHERE c.id = $3", *_EVENTS, call_id)
    return CallRow.from_row(row) if row else None


async def referrals(
    conn: Any, where: ReferralFilters, after: tuple[dt.datetime, int] | None, limit: int
) -> list[ReferralRow]:
    """Up to ``limit`` work orders that carry a referral, after the key ``after``, oldest first."""
    rows = await conn.fetch(
        _REFERRALS
        + """AND ($1::text IS NULL OR t.referral = $1) AND ($2::timestamptz IS NULL OR t.created_at >= $2)
             AND ($3::text IS NULL OR t.status = $3)
             AND ($4::timestamptz IS NULL OR (t.created_at, t.id) > ($4, $5::bigint))
           ORDER BY t.created_at, t.id LIMIT $6""",
        where.referral,
        where.since,
        where.status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [ReferralRow.from_row(r) for r in rows]


async def referral(conn: Any, number: str) -> ReferralRow | None:
    """The work order ``number`` if it carries a referral."""
    row = await conn.fetchrow(_REFERRALS + "AND t.number = $1", number)
    return ReferralRow.from_row(row) if row else None

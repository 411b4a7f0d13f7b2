"""The call-record API's shapes: the list's query string and a call record as it is handed out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from multidict import MultiMapping

from agents import listing
from agents.api import BadRequest
from db.records import CallFilters, CallRow
from hotline.caller.prefectures import BY_CODE

KIND = "calls"
PARAMETERS = ("since", "until", "queue", "prefecture", *listing.COMMON)


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def call_query(query: MultiMapping[str], tz: dt.tzinfo, queues: Sequence[str]) -> listing.Asked[CallFilters, UUID]:
    """The list a query string asks for (BadQuery naming each wrong parameter); ``queues``: the queues' names."""
    errors = listing.Errors()
    asked = listing.single(query, PARAMETERS, errors)
    since, until = listing.period(asked, tz, errors)
    queue = listing.choice(asked, "queue", sorted(queues), errors)
    prefecture = listing.choice(asked, "prefecture", tuple(BY_CODE), errors)
    after = listing.after_key(asked, KIND, _uuid, errors)
    limit = listing.limit(asked, errors)
    errors.check()
    return listing.Asked(CallFilters(since, until, queue, prefecture), after, limit)


def call_id(value: str) -> UUID:
    found = _uuid(value)
    if found is None:
        raise BadRequest(f"通话编号“{value}”无效：应为 UUID，如 0b8f5a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
    return found


def prefecture_view(code: str | None) -> dict[str, str] | None:
    prefecture = BY_CODE.get(code) if code else None
    return {"code": prefecture.code, "name": prefecture.name} if prefecture else None


def _stamp(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at else None


def call_view(row: CallRow) -> dict[str, Any]:
    """A call record: the caller only masked."""
    return {
        "id": str(row.id),
        "started_at": row.started_at.isoformat(),
        "answered_at": _stamp(row.answered_at),
        "ended_at": _stamp(row.ended_at),
        "direction": row.direction,
        "queue": row.queue,
        "prefecture": prefecture_view(row.prefecture_code),
        "language": row.language,
        "outcome": row.outcome,
        "wait_s": row.wait_s,
        "talk_s": row.talk_s,
        "caller_masked": row.caller_masked,
        "agent": row.agent,
        "ticket": row.ticket,
    }


def key(row: CallRow) -> tuple[dt.datetime, str]:
    return row.started_at, str(row.id)


def calls_view(found: listing.Page[CallRow]) -> dict[str, Any]:
    return {"calls": [call_view(r) for r in found.rows], "next_cursor": found.next_cursor}

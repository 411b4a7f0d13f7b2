"""Work orders (话务工单): numbering and the status lifecycle.

new -> in_progress -> answered | referred -> follow_up -> closed, and closed -> reopened -> in_progress.
An answered or referred ticket that needs no follow-up call may close directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from hotline.errors import HotlineError


class Status(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    REFERRED = "referred"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    REOPENED = "reopened"


ALLOWED: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.IN_PROGRESS}),
    Status.IN_PROGRESS: frozenset({Status.ANSWERED, Status.REFERRED}),
    Status.ANSWERED: frozenset({Status.FOLLOW_UP, Status.CLOSED}),
    Status.REFERRED: frozenset({Status.FOLLOW_UP, Status.CLOSED}),
    Status.FOLLOW_UP: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset({Status.IN_PROGRESS}),
}

REFERRALS = ("法律援助", "人民调解", "公证", "司法鉴定", "仲裁", "其他部门")


class TransitionError(HotlineError):
    def __init__(self, number: str, current: str, wanted: str) -> None:
        allowed = ", ".join(sorted(ALLOWED.get(Status(current), ()))) or "none"
        super().__init__(
            f"work order {number} cannot go from {current!r} to {wanted!r} (allowed from {current!r}: {allowed})"
        )
        self.current, self.wanted = current, wanted


class TicketNotFound(HotlineError):
    pass


class TicketClosed(HotlineError):
    """A closed work order keeps what it was closed with; it must be reopened to change."""


def check_transition(number: str, current: str, wanted: str) -> Status:
    """Pure check of one step of the lifecycle; returns the new status."""
    try:
        src, dst = Status(current), Status(wanted)
    except ValueError:
        raise TransitionError(number, current, wanted) from None
    if dst not in ALLOWED[src]:
        raise TransitionError(number, current, wanted)
    return dst


@dataclass(frozen=True)
class Ticket:
    id: int
    number: str
    call_id: UUID | None
    assignee_id: int | None
    status: Status
    priority: str
    caller_masked: str | None
    prefecture_code: str | None
    legal_area: str | None
    service: str | None
    flags: list[str]
    facts: str
    answer: str
    disposition: str | None
    referral: str | None
    legal_aid_hint: bool
    deadline: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        return cls(
            **{name: row[name] for name in cls.__dataclass_fields__ if name != "status"},
            status=Status(row["status"]),
        )


_COLUMNS = ", ".join(n for n in Ticket.__dataclass_fields__)


def format_number(prefix: str, day: dt.date, seq: int) -> str:
    return f"{prefix}-{day:%Y%m%d}-{seq:06d}"


async def next_number(conn: Any, prefix: str, day: dt.date) -> str:
    """Allocate the next number of a day. The upsert serialises concurrent callers on the day's row."""
    seq = await conn.fetchval(
        """
        INSERT INTO ticket_counters AS c (day, last_value) VALUES ($1, 1)
        ON CONFLICT (day) DO UPDATE SET last_value = c.last_value + 1
        RETURNING last_value
        """,
        day,
    )
    return format_number(prefix, day, seq)


async def create(
    conn: Any,
    *,
    prefix: str,
    tz: str,
    actor: str,
    call_id: UUID | None = None,
    assignee_id: int | None = None,
    caller_masked: str | None = None,
    prefecture_code: str | None = None,
    legal_area: str | None = None,
    service: str | None = None,
    flags: list[str] | None = None,
    facts: str = "",
    priority: str = "normal",
    deadline: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    async with conn.transaction():
        if now is None:  # a record is stamped by PostgreSQL (docs/architecture.md, "Time")
            now = await conn.fetchval("SELECT now()")
        day = now.astimezone(ZoneInfo(tz)).date()
        number = await next_number(conn, prefix, day)
        row = await conn.fetchrow(
            f"""
            INSERT INTO tickets (number, call_id, assignee_id, caller_masked, prefecture_code, legal_area,
                                 service, flags, facts, priority, deadline, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
            RETURNING {_COLUMNS}
            """,
            number,
            call_id,
            assignee_id,
            caller_masked,
            prefecture_code,
            legal_area,
            service,
            flags or [],
            facts,
            priority,
            deadline,
            now,
        )
        await conn.execute(
            "INSERT INTO ticket_status_log (ticket_id, from_status, to_status, actor) VALUES ($1, NULL, 'new', $2)",
            row["id"],
            actor,
        )
    return Ticket.from_row(row)


async def get(conn: Any, number: str) -> Ticket:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tickets WHERE number = $1", number)
    if row is None:
        raise TicketNotFound(f"no work order numbered {number!r}")
    return Ticket.from_row(row)


async def transition(
    conn: Any,
    number: str,
    to: str,
    *,
    actor: str,
    reason: str | None = None,
    answer: str | None = None,
    referral: str | None = None,
    follow_up_result: str | None = None,
) -> Ticket:
    """Move a work order to another status; the row is locked so two agents cannot race."""
    async with conn.transaction():
        current = await conn.fetchval("SELECT status FROM tickets WHERE number = $1 FOR UPDATE", number)
        if current is None:
            raise TicketNotFound(f"no work order numbered {number!r}")
        dst = check_transition(number, current, to)
        if dst is Status.REFERRED and referral not in REFERRALS:
            raise HotlineError(
                f"work order {number}: a referral must name where it goes, one of {', '.join(REFERRALS)}; "
                f"got {referral!r}"
            )
        row = await conn.fetchrow(
            f"""
            UPDATE tickets SET status = $2, updated_at = now(),
                closed_at = CASE WHEN $2 = 'closed' THEN now() END,
                answer = coalesce($3, answer),
                referral = coalesce($4, referral),
                follow_up_result = coalesce($5, follow_up_result)
            WHERE number = $1
            RETURNING {_COLUMNS}
            """,
            number,
            dst.value,
            answer,
            referral,
            follow_up_result,
        )
        await conn.execute(
            """INSERT INTO ticket_status_log (ticket_id, from_status, to_status, actor, reason)
               VALUES ($1, $2, $3, $4, $5)""",
            row["id"],
            current,
            dst.value,
            actor,
            reason,
        )
    return Ticket.from_row(row)


async def open_for_assignee(conn: Any, assignee_id: int) -> list[Ticket]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM tickets WHERE assignee_id = $1 AND status <> 'closed'
            ORDER BY deadline NULLS LAST, created_at""",
        assignee_id,
    )
    return [Ticket.from_row(r) for r in rows]


async def first_of_call(conn: Any, call_id: UUID) -> Ticket | None:
    """The call's first work order, if it has one."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM tickets WHERE call_id = $1 ORDER BY id LIMIT 1", call_id)
    return Ticket.from_row(row) if row else None


async def of_call_with_facts(conn: Any, call_id: UUID, facts: str) -> Ticket | None:
    """The call's work order with exactly these facts (the IVR's, when a journaled write is replayed)."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM tickets WHERE call_id = $1 AND facts = $2 ORDER BY id LIMIT 1", call_id, facts
    )
    return Ticket.from_row(row) if row else None

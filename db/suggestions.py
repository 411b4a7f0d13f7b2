"""Suggested work-order fields (legal area, service, flags) and agents' decisions about them.

A suggestion is a value that a source (the tagger) filled into an empty field of a work order. The agent then
confirms it, corrects it (another value) or rejects it (the field is cleared, the flag removed); the decided
rows measure how often the suggestions were right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from db.tickets import Status, TicketClosed, TicketNotFound
from hotline.errors import HotlineError
from hotline.tag.taxonomy import FLAGS, LEGAL_AREAS, SERVICES

FIELDS: dict[str, tuple[str, ...]] = {"legal_area": LEGAL_AREAS, "service": SERVICES, "flag": FLAGS}
STATUSES = ("suggested", "confirmed", "corrected", "rejected")


@dataclass(frozen=True)
class Suggestion:
    id: int
    ticket_id: int
    field: str
    value: str
    source: str
    score: float | None
    rule: str | None
    status: str
    final_value: str | None
    decided_by: int | None
    decided_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> Suggestion:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


_COLUMNS = ", ".join(Suggestion.__dataclass_fields__)


def _check(field: str, value: str) -> None:
    if field not in FIELDS:
        raise HotlineError(f"work-order field {field!r} cannot be suggested: expected one of {', '.join(FIELDS)}")
    if value not in FIELDS[field]:
        raise HotlineError(f"{field} {value!r} is not a known label: expected one of {', '.join(FIELDS[field])}")


def ordered_flags(flags: Iterable[str]) -> list[str]:
    """Distinct flags in the published order (unknown ones last, as given)."""
    unique = list(dict.fromkeys(flags))
    return sorted(unique, key=lambda f: FLAGS.index(f) if f in FLAGS else len(FLAGS))


async def for_ticket(conn: Any, ticket_id: int) -> list[Suggestion]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM ticket_suggestions WHERE ticket_id = $1 ORDER BY id", ticket_id)
    return [Suggestion.from_row(r) for r in rows]


async def add(
    conn: Any,
    ticket_id: int,
    field: str,
    value: str,
    *,
    source: str = "tagger",
    score: float | None = None,
    rule: str | None = None,
) -> Suggestion | None:
    """Record a suggestion (the caller has filled the field); None if this value was suggested before."""
    _check(field, value)
    row = await conn.fetchrow(
        f"""INSERT INTO ticket_suggestions (ticket_id, field, value, source, score, rule)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (ticket_id, field, value, source) DO NOTHING
            RETURNING {_COLUMNS}""",
        ticket_id,
        field,
        value,
        source,
        score,
        rule,
    )
    return Suggestion.from_row(row) if row else None


async def withdraw(conn: Any, suggestion_ids: Iterable[int]) -> None:
    """Forget undecided suggestions (a new analysis no longer proposes them); decided ones are kept."""
    await conn.execute(
        "DELETE FROM ticket_suggestions WHERE id = ANY($1::bigint[]) AND status = 'suggested'", list(suggestion_ids)
    )


async def update_fields(
    conn: Any,
    ticket_id: int,
    *,
    fields: dict[str, str | None] | None = None,
    add_flags: Iterable[str] = (),
    remove_flags: Iterable[str] = (),
    priority: str | None = None,
) -> None:
    """Change the suggested fields of a work order (legal_area, service, flags, priority) in one statement."""
    fields = fields or {}
    unknown = set(fields) - {"legal_area", "service"}
    if unknown:
        raise ValueError(f"cannot set work-order fields {sorted(unknown)}")
    adding, removing = list(add_flags), set(remove_flags)
    if not fields and not adding and not removing and priority is None:
        return
    current: list[str] = await conn.fetchval("SELECT flags FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
    flags = ordered_flags([f for f in current if f not in removing] + adding)
    await conn.execute(
        """UPDATE tickets SET
               legal_area = CASE WHEN $2 THEN $3 ELSE legal_area END,
               service = CASE WHEN $4 THEN $5 ELSE service END,
               flags = $6, priority = coalesce($7, priority), updated_at = now()
           WHERE id = $1""",
        ticket_id,
        "legal_area" in fields,
        fields.get("legal_area"),
        "service" in fields,
        fields.get("service"),
        flags,
        priority,
    )


async def decide(
    conn: Any, ticket_number: str, field: str, value: str, agent_id: int, *, present: bool = True
) -> Suggestion | None:
    """An agent's decision on one field of a work order, applied to the work order and recorded against the
    open suggestion for it (returned; None when nothing was suggested there).

    ``present=True``: the field is ``value`` (legal area / service: set; flag: added). An open suggestion of the
    same value is confirmed, one of another value corrected. ``present=False``: the field is not ``value``
    (legal area / service: cleared if it holds it; flag: removed); an open suggestion of that value is rejected.
    A closed work order is refused (`TicketClosed`).
    """
    _check(field, value)
    async with conn.transaction():
        ticket = await conn.fetchrow(
            "SELECT id, status, legal_area, service, flags FROM tickets WHERE number = $1 FOR UPDATE", ticket_number
        )
        if ticket is None:
            raise TicketNotFound(f"no work order numbered {ticket_number!r}")
        if ticket["status"] == Status.CLOSED:
            raise TicketClosed(f"work order {ticket_number} is closed: reopen it before changing its {field}")
        ticket_id = ticket["id"]
        if field == "flag":
            open_row = await conn.fetchrow(
                f"""SELECT {_COLUMNS} FROM ticket_suggestions
                    WHERE ticket_id = $1 AND field = 'flag' AND value = $2 AND status = 'suggested'
                    ORDER BY id LIMIT 1""",
                ticket_id,
                value,
            )
            if present:
                await update_fields(conn, ticket_id, add_flags=[value])
            else:
                await update_fields(conn, ticket_id, remove_flags=[value])
        else:
            open_row = await conn.fetchrow(
                f"""SELECT {_COLUMNS} FROM ticket_suggestions
                    WHERE ticket_id = $1 AND field = $2 AND status = 'suggested'""",
                ticket_id,
                field,
            )
            if present:
                await update_fields(conn, ticket_id, fields={field: value})
            elif ticket[field] == value:
                await update_fields(conn, ticket_id, fields={field: None})
            if open_row is not None and not present and open_row["value"] != value:
                open_row = None  # the agent ruled out another value than the one suggested
        if open_row is None:
            return None
        if not present:
            status, final = "rejected", None
        elif open_row["value"] == value:
            status, final = "confirmed", value
        else:
            status, final = "corrected", value
        row = await conn.fetchrow(
            f"""UPDATE ticket_suggestions SET status = $2, final_value = $3, decided_by = $4, decided_at = now()
                WHERE id = $1 RETURNING {_COLUMNS}""",
            open_row["id"],
            status,
            final,
            agent_id,
        )
    return Suggestion.from_row(row)


@dataclass(frozen=True)
class Accuracy:
    """How the decided suggestions of one field fared. ``rate`` = confirmed / decided."""

    field: str
    decided: int
    confirmed: int
    corrected: int
    rejected: int

    @property
    def rate(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None


async def accuracy(
    conn: Any,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    source: str = "tagger",
) -> list[Accuracy]:
    """Per field, the suggestions of ``source`` decided in [since, until): confirmed, corrected, rejected.
    Undecided suggestions do not count; a value the agent added that nobody suggested is not seen here."""
    rows = await conn.fetch(
        """SELECT field,
                  count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
                  count(*) FILTER (WHERE status = 'corrected') AS corrected,
                  count(*) FILTER (WHERE status = 'rejected') AS rejected
           FROM ticket_suggestions
           WHERE source = $1 AND status <> 'suggested'
             AND ($2::timestamptz IS NULL OR decided_at >= $2) AND ($3::timestamptz IS NULL OR decided_at < $3)
           GROUP BY field""",
        source,
        since,
        until,
    )
    found = {r["field"]: r for r in rows}
    out: list[Accuracy] = []
    for field in FIELDS:
        r = found.get(field)
        c, k, j = (int(r["confirmed"]), int(r["corrected"]), int(r["rejected"])) if r else (0, 0, 0)
        out.append(Accuracy(field, c + k + j, c, k, j))
    return out

"""The work-order API's shapes: a decision on a suggested field, and the work order as it is shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.api import BadRequest
from db import suggestions, tickets
from hotline.caller.prefectures import BY_CODE

DECISION_EXAMPLE = '{"field": "legal_area", "value": "劳动争议", "present": true}'


@dataclass(frozen=True)
class Decision:
    """The field is ``value`` (``present``) or is not (a flag removed, a suggestion rejected)."""

    field: str
    value: str
    present: bool


def decision(body: Any) -> Decision:
    """The decision of a decoded request body (BadRequest saying what is wrong with it)."""
    if not isinstance(body, dict):
        raise BadRequest(f"body: expected an object such as {DECISION_EXAMPLE}")
    field, value, present = body.get("field"), body.get("value"), body.get("present", True)
    if not isinstance(field, str) or field not in suggestions.FIELDS:
        raise BadRequest(f'"field": expected one of {", ".join(suggestions.FIELDS)}; got {field!r}')
    labels = suggestions.FIELDS[field]
    if value not in labels:
        raise BadRequest(f'"value": expected a {field} label, one of {", ".join(labels)}; got {value!r}')
    if not isinstance(present, bool):
        raise BadRequest(f'"present": expected true or false; got {present!r}')
    return Decision(field, value, present)


def ticket_view(
    ticket: tickets.Ticket, assignee: str | None, suggested: list[suggestions.Suggestion]
) -> dict[str, Any]:
    """The work order as an agent sees it: the caller only masked."""
    prefecture = BY_CODE.get(ticket.prefecture_code) if ticket.prefecture_code else None
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "priority": ticket.priority,
        "caller_masked": ticket.caller_masked,
        "prefecture": {"code": prefecture.code, "name": prefecture.name} if prefecture else None,
        "legal_area": ticket.legal_area,
        "service": ticket.service,
        "flags": ticket.flags,
        "facts": ticket.facts,
        "answer": ticket.answer,
        "assignee": assignee,
        "created_at": ticket.created_at.isoformat(),
        "suggestions": [
            {
                "field": s.field,
                "value": s.value,
                "source": s.source,
                "score": s.score,
                "rule": s.rule,
                "status": s.status,
                "final_value": s.final_value,
            }
            for s in suggested
        ],
    }

"""The referral API's shapes: the kinds of referral by their English names, the list's query string, and a
referral as a receiving agency gets it (the facts with any phone number in them masked)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from multidict import MultiMapping

from agents import listing
from agents.calls.schemas import prefecture_view
from db.records import ReferralFilters, ReferralRow
from db.tickets import REFERRALS, Status
from hotline.logs import redact

KIND = "referrals"
# the API's names of the work order's referral labels (db.tickets.REFERRALS, in the same order)
KINDS: dict[str, str] = dict(
    zip(("legal_aid", "mediation", "notary", "appraisal", "arbitration", "other"), REFERRALS, strict=True)
)
NAMES = {label: name for name, label in KINDS.items()}
STATUSES = tuple(s.value for s in Status)
PARAMETERS = ("kind", "since", "status", *listing.COMMON)
SUMMARY_CHARS = 500
NUMBER = re.compile(r"[A-Z]{2,4}-[0-9]{8}-[0-9]{6}")  # tickets.number CHECK (0001)


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def referral_query(query: MultiMapping[str], tz: dt.tzinfo) -> listing.Asked[ReferralFilters, int]:
    """The list a query string asks for (BadQuery naming each wrong parameter)."""
    errors = listing.Errors()
    asked = listing.single(query, PARAMETERS, errors)
    kind = listing.choice(asked, "kind", tuple(KINDS), errors)
    since = listing.instant(asked, "since", tz, errors)
    status = listing.choice(asked, "status", STATUSES, errors)
    after = listing.after_key(asked, KIND, _id, errors)
    limit = listing.limit(asked, errors)
    errors.check()
    return listing.Asked(ReferralFilters(KINDS[kind] if kind else None, since, status), after, limit)


def summary(facts: str) -> str:
    """The facts as the agent wrote them, phone numbers masked, cut at SUMMARY_CHARS."""
    text = redact(facts.strip())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def referral_view(row: ReferralRow) -> dict[str, Any]:
    return {
        "ticket": row.number,
        "kind": NAMES[row.referral],
        "kind_name": row.referral,
        "status": row.status,
        "priority": row.priority,
        "created_at": row.created_at.isoformat(),
        "referred_at": row.referred_at.isoformat() if row.referred_at else None,
        "deadline": row.deadline.isoformat() if row.deadline else None,
        "prefecture": prefecture_view(row.prefecture_code),
        "legal_area": row.legal_area,
        "service": row.service,
        "flags": row.flags,
        "legal_aid_hint": row.legal_aid_hint,
        "facts_summary": summary(row.facts),
        "caller_masked": row.caller_masked,
    }


def key(row: ReferralRow) -> tuple[dt.datetime, int]:
    return row.created_at, row.id


def referrals_view(found: listing.Page[ReferralRow]) -> dict[str, Any]:
    return {"referrals": [referral_view(r) for r in found.rows], "next_cursor": found.next_cursor}

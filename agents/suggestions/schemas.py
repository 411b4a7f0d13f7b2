"""The accuracy report's shapes: the period asked for (days in the hotline's time zone) and the answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.api import BadRequest
from db import suggestions

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """Days ``first`` to ``last``, both included, in ``tz``."""

    first: dt.date
    last: dt.date
    tz: dt.tzinfo

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), self.tz)

    @property
    def until(self) -> dt.datetime:
        """The first instant after the period."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), self.tz)


def day(name: str, value: str | None, default: dt.date) -> dt.date:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f'"{name}": expected a date YYYY-MM-DD; got {value!r}') from None


def period(query: Mapping[str, str], today: dt.date, tz: dt.tzinfo) -> Period:
    """``since`` and ``until`` of a query string; by default the last DEFAULT_DAYS days up to ``today``."""
    first = day("since", query.get("since"), today - dt.timedelta(days=DEFAULT_DAYS))
    last = day("until", query.get("until"), today)
    if last < first:
        raise BadRequest(f'"until" {last} is before "since" {first}')
    return Period(first, last, tz)


def accuracy_view(asked: Period, rows: list[suggestions.Accuracy]) -> dict[str, Any]:
    return {
        "since": asked.first.isoformat(),
        "until": asked.last.isoformat(),
        "timezone": str(asked.tz),
        "fields": [
            {
                "field": a.field,
                "decided": a.decided,
                "confirmed": a.confirmed,
                "corrected": a.corrected,
                "rejected": a.rejected,
                "rate": a.rate,
            }
            for a in rows
        ],
    }

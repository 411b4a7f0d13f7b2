"""Choosing rows by period and splitting them by group (hotline, queue, prefecture, agent); all KPIs at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from hotline.errors import HotlineError
from hotline.kpi import compute
from hotline.kpi.model import DEFAULTS, KpiParams, KpiValue
from hotline.kpi.rows import CallCase, Conversation, QueueVisit, Row, SurveyCall

R = TypeVar("R", bound=Row)
K = TypeVar("K", bound=Hashable)

HOTLINE_KEY = "all"  # the one key of Group.HOTLINE
NONE_KEY = "none"  # rows with no queue or no agent


class Group(StrEnum):
    HOTLINE = "hotline"
    QUEUE = "queue"
    PREFECTURE = "prefecture"
    AGENT = "agent"


class PeriodError(HotlineError):
    pass


def key_of(row: Row, group: Group) -> str:
    if group is Group.HOTLINE:
        return HOTLINE_KEY
    if group is Group.QUEUE:
        return row.queue or NONE_KEY
    if group is Group.PREFECTURE:
        return row.prefecture
    return row.agent or NONE_KEY


def group_by(rows: Iterable[R], key: Callable[[R], K]) -> dict[K, list[R]]:
    """Rows split by any key, keys in order of first appearance."""
    groups: dict[K, list[R]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def group_rows(rows: Iterable[R], group: Group) -> dict[str, list[R]]:
    return group_by(rows, lambda row: key_of(row, group))


def check_period(since: dt.datetime, until: dt.datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise PeriodError(f"a period needs time zones: [{since.isoformat()}, {until.isoformat()})")
    if not since < until:
        raise PeriodError(f"a period must end after it starts: [{since.isoformat()}, {until.isoformat()})")


def in_period(rows: Iterable[R], since: dt.datetime, until: dt.datetime) -> list[R]:
    """The rows whose call started in [since, until)."""
    check_period(since, until)
    return [row for row in rows if since <= row.started_at < until]


def by_day(rows: Iterable[R], tz: dt.tzinfo) -> dict[dt.date, list[R]]:
    """Rows by the local day their call started (e.g. Asia/Shanghai), days in order."""
    days = group_by(rows, lambda row: row.started_at.astimezone(tz).date())
    return dict(sorted(days.items()))


@dataclass(frozen=True)
class KpiRows:
    """All the rows of one period (as db.kpi.read returns them)."""

    visits: Sequence[QueueVisit] = ()
    conversations: Sequence[Conversation] = ()
    surveys: Sequence[SurveyCall] = ()
    cases: Sequence[CallCase] = ()

    def in_period(self, since: dt.datetime, until: dt.datetime) -> KpiRows:
        return KpiRows(
            in_period(self.visits, since, until),
            in_period(self.conversations, since, until),
            in_period(self.surveys, since, until),
            in_period(self.cases, since, until),
        )

    def grouped(self, group: Group) -> dict[str, KpiRows]:
        """One KpiRows per key of the group (a key has rows of at least one kind), keys sorted."""
        visits, conversations = group_rows(self.visits, group), group_rows(self.conversations, group)
        surveys, cases = group_rows(self.surveys, group), group_rows(self.cases, group)
        keys = sorted({*visits, *conversations, *surveys, *cases})
        return {
            k: KpiRows(visits.get(k, []), conversations.get(k, []), surveys.get(k, []), cases.get(k, [])) for k in keys
        }


def scorecard(rows: KpiRows, params: KpiParams = DEFAULTS) -> dict[str, KpiValue]:
    """Every KPI of docs/kpi.md over the rows, by definition id (回应率 for registered poor callers as
    `response_rate_poor`)."""
    values = (
        compute.answer_rate(rows.visits, params),
        compute.service_level(rows.visits, params),
        compute.average_speed_of_answer(rows.visits, params),
        compute.abandon_rate(rows.visits, params),
        compute.average_talk_time(rows.conversations, params),
        compute.satisfaction_rate(rows.surveys, params),
        compute.rating_rate(rows.surveys, params),
        compute.first_choice_rate(rows.surveys, params),
        compute.awareness_rate(rows.surveys, params),
        compute.response_rate(rows.cases, params),
        compute.legal_aid_rate(rows.cases, params),
    )
    card = {v.definition.id: v for v in values}
    card["response_rate_poor"] = compute.response_rate(rows.cases, params, registered_poor_only=True)
    return card


def scorecards(rows: KpiRows, group: Group, params: KpiParams = DEFAULTS) -> dict[str, dict[str, KpiValue]]:
    """The scorecard of each key of a group."""
    return {key: scorecard(part, params) for key, part in rows.grouped(group).items()}

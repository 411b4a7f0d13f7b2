"""The work-order search's filters, read from the query string and checked field by field, in Chinese (the
supervisor reads the messages). A wrong filter answers 400 (:class:`BadFilters`): nothing is searched."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from agents.api import ApiError
from db.search import MAX_LIMIT, TicketFilter
from db.tickets import Status
from hotline.caller.prefectures import PREFECTURES
from hotline.kpi.rows import OUTSIDE_YUNNAN, UNKNOWN
from hotline.tag.taxonomy import LEGAL_AREAS

STATUS_NAMES = {
    "new": "新建",
    "in_progress": "办理中",
    "answered": "已答复",
    "referred": "已转介",
    "follow_up": "待回访",
    "closed": "已办结",
    "reopened": "重新办理",
}
assert set(STATUS_NAMES) == {s.value for s in Status}, "every work-order status has a Chinese name"
# the 16 prefectures, then the two groups of callers the KPIs count apart (db/kpi.py)
PREFECTURE_NAMES = {p.code: p.name for p in PREFECTURES} | {OUTSIDE_YUNNAN: "云南省外", UNKNOWN: "未知地区"}

FIELDS = ("number", "date_from", "date_to", "prefecture", "legal_area", "status", "agent", "page", "per_page")
PER_PAGE = 50
MAX_PAGE = 1000
_NUMBER = re.compile(r"[A-Z0-9-]{1,24}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class BadFilters(ApiError):
    """400 with ``{"error": ..., "fields": {name: message}}``."""

    status = 400

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("查询条件有误：" + "；".join(fields.values()))
        self.fields = fields


@dataclass(frozen=True)
class Search:
    where: TicketFilter
    page: int
    per_page: int
    form: dict[str, str]  # the filters as typed, to fill the form again

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def form_of(query: Mapping[str, str]) -> dict[str, str]:
    """The search form's fields as typed (trimmed), every field present."""
    return {name: str(query.get(name, "")).strip() for name in FIELDS}


def _date(form: dict[str, str], name: str, label: str, today: dt.date, errors: dict[str, str]) -> dt.date | None:
    raw = form[name]
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw) if _DATE.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None:
        errors[name] = f"{label}“{raw}”格式应为 YYYY-MM-DD"
    elif day > today:
        errors[name] = f"{label}不能晚于今天（{today.isoformat()}）"
    return day


def _choice(form: dict[str, str], name: str, label: str, allowed: Collection[str], errors: dict[str, str]) -> Any:
    value = form[name] or None
    if value is not None and value not in allowed:
        errors[name] = f"{label}“{value}”不在可选范围内"
    return value


def _whole(form: dict[str, str], name: str, label: str, default: int, top: int, errors: dict[str, str]) -> int:
    raw = form[name]
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= top:
        errors[name] = f"{label}应为 1 到 {top} 的整数"
        return default
    return int(raw)


def search(query: Mapping[str, str], today: dt.date, tz: dt.tzinfo, agents: Collection[str]) -> Search:
    """The search the query string asks for: dates are local days in ``tz`` (both included), none after
    ``today``; ``agents`` are the usernames that may be chosen. BadFilters names each wrong field."""
    form = form_of(query)
    errors: dict[str, str] = {}
    number = form["number"].upper() or None
    if number is not None and not _NUMBER.fullmatch(number):
        errors["number"] = "工单号只能包含字母、数字和“-”，最多 24 个字符"
    date_from = _date(form, "date_from", "起始日期", today, errors)
    date_to = _date(form, "date_to", "截止日期", today, errors)
    if date_from and date_to and date_to < date_from and "date_to" not in errors:
        errors["date_to"] = "截止日期不能早于起始日期"
    agent = form["agent"] or None
    if agent is not None and agent not in agents:
        errors["agent"] = f"坐席“{agent}”不存在"
    where = TicketFilter(
        number=number,
        since=dt.datetime.combine(date_from, dt.time(), tz) if date_from else None,
        until=dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tz) if date_to else None,
        prefecture=_choice(form, "prefecture", "地区", PREFECTURE_NAMES, errors),
        legal_area=_choice(form, "legal_area", "法律领域", LEGAL_AREAS, errors),
        status=_choice(form, "status", "状态", STATUS_NAMES, errors),
        agent=agent,
    )
    page = _whole(form, "page", "页码", 1, MAX_PAGE, errors)
    per_page = _whole(form, "per_page", "每页条数", PER_PAGE, MAX_LIMIT, errors)
    if errors:
        raise BadFilters(errors)
    return Search(where, page, per_page, form)

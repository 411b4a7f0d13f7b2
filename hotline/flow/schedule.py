"""Opening schedules: weekly periods, exception dates, and China's statutory holidays and make-up working days.

A schedule file lives in ``ivr_flows/schedules/NAME.yaml``; a flow's ``schedule`` node refers to it by NAME.
Evaluation is pure: ``evaluate(schedule, at)`` gives open, closed or holiday and says what decided it.

The order of rules for one local date:

1. an exception date listed in the file (closed, holiday, or open with its own hours);
2. when ``statutory_holidays`` is on and ``chinese_calendar`` knows the year: a statutory holiday (including
   the weekend days inside a holiday period) is ``holiday``; a make-up working day (调休上班, a Saturday or
   Sunday that is a working day) uses ``makeup_day_hours``, by default the hours of Monday;
3. the weekly periods. When ``chinese_calendar`` does not know the year, the weekly rule decides and the result
   says so (``basis == "weekly_fallback"``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hotline.flow.problems import FlowError, Problem, field_text
from hotline.flow.yamlsource import read_yaml

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERIOD = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
CALENDAR_VERSION = str(getattr(chinese_calendar, "__version__", "?"))

ScheduleState = Literal["open", "closed", "holiday"]
Basis = Literal["exception", "statutory_holiday", "makeup_workday", "weekly", "weekly_fallback"]


def _parse_period(text: str) -> tuple[dt.time, dt.time | None]:
    m = _PERIOD.match(text)
    if m is None:
        raise ValueError(f"period {text!r} is not HH:MM-HH:MM (24-hour clock, end may be 24:00)")
    start = dt.time(int(m[1]), int(m[2]))
    end = None if m[3] == "24" else dt.time(int(m[3]), int(m[4]))
    if m[3] == "24" and m[4] != "00":
        raise ValueError(f"period {text!r}: the day ends at 24:00")
    if end is not None and end <= start:
        raise ValueError(f"period {text!r} ends before it starts")
    return start, end


def _check_period(text: str) -> str:
    _parse_period(text)
    return text


Period = Annotated[
    str,
    AfterValidator(_check_period),
    Field(description="HH:MM-HH:MM local time; 24:00 ends the day", examples=["09:00-18:00"]),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExceptionDate(_Strict):
    date: dt.date
    state: ScheduleState
    hours: list[Period] = Field(default_factory=list, description="only with state: open; empty means all day")
    note: str | None = None

    @model_validator(mode="after")
    def _hours_only_when_open(self) -> ExceptionDate:
        if self.hours and self.state != "open":
            raise ValueError(f"hours are only allowed for state 'open', not {self.state!r}")
        return self


class Schedule(_Strict):
    name: str = Field("", description="set from the file name")
    timezone: str = "Asia/Shanghai"
    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[Period]]
    statutory_holidays: bool = True
    makeup_day_hours: list[Period] | None = None
    exceptions: list[ExceptionDate] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Asia/Shanghai)") from None
        return value

    @model_validator(mode="after")
    def _unique_dates(self) -> Schedule:
        seen: set[dt.date] = set()
        for exc in self.exceptions:
            if exc.date in seen:
                raise ValueError(f"exception date {exc.date} is listed twice")
            seen.add(exc.date)
        return self

    def hours_for(self, weekday: int) -> list[str]:
        return self.weekly.get(WEEKDAYS[weekday], [])  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True)
class ScheduleResult:
    state: ScheduleState
    basis: Basis
    local: dt.datetime
    holiday: str | None = None
    note: str = ""


def _within(periods: list[str], t: dt.time) -> bool:
    for text in periods:
        start, end = _parse_period(text)
        if start <= t and (end is None or t < end):
            return True
    return False


def _open_or_closed(periods: list[str], t: dt.time) -> ScheduleState:
    return "open" if _within(periods, t) else "closed"


def evaluate(schedule: Schedule, at: dt.datetime) -> ScheduleResult:
    """Whether the service is open at `at` (an aware datetime), by the rules in the module docstring."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("evaluate() needs an aware datetime")
    local = at.astimezone(ZoneInfo(schedule.timezone))
    day, t = local.date(), local.time().replace(tzinfo=None)

    for exc in schedule.exceptions:
        if exc.date == day:
            note = exc.note or f"exception date {day}"
            if exc.state == "open":
                state: ScheduleState = _open_or_closed(exc.hours, t) if exc.hours else "open"
                return ScheduleResult(state, "exception", local, note=note)
            return ScheduleResult(exc.state, "exception", local, note=note)

    weekly = schedule.hours_for(day.weekday())
    if not schedule.statutory_holidays:
        return ScheduleResult(_open_or_closed(weekly, t), "weekly", local)
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        note = (
            f"chinese_calendar {CALENDAR_VERSION} has no holiday data for {day.year}; judged by the weekly periods only"
        )
        return ScheduleResult(_open_or_closed(weekly, t), "weekly_fallback", local, note=note)
    if is_holiday and name is not None:
        return ScheduleResult(
            "holiday", "statutory_holiday", local, holiday=str(name), note=f"statutory holiday {name}"
        )
    if not is_holiday and day.weekday() >= 5:
        hours = schedule.makeup_day_hours if schedule.makeup_day_hours is not None else schedule.hours_for(0)
        note = f"make-up working day{f' for {name}' if name else ''}"
        return ScheduleResult(_open_or_closed(hours, t), "makeup_workday", local, note=note)
    return ScheduleResult(_open_or_closed(weekly, t), "weekly", local)


def calendar_years() -> tuple[int, int]:
    """The first and last year for which chinese_calendar knows holidays."""
    from chinese_calendar import constants

    return min(constants.holidays).year, max(constants.holidays).year


def check_schedule_file(path: Path) -> tuple[Schedule | None, list[Problem]]:
    """Parse and validate one schedule file; the schedule is None when there is any problem."""
    src = read_yaml(path)
    if src.data is None and not src.problems:
        src.problems.append(Problem(src.file, 1, None, None, "the file is empty: expected a schedule"))
    if src.problems:
        return None, src.problems
    if not isinstance(src.data, dict):
        return None, [Problem(src.file, 1, None, None, "expected a mapping with timezone, weekly and exceptions")]
    if "name" in src.data:
        return None, [Problem(src.file, src.line(("name",)), None, "name", "the name comes from the file name")]
    try:
        schedule = Schedule.model_validate({**src.data, "name": path.stem})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "missing":
                msg = "required field is missing"
            field = field_text(loc)
            problems.append(Problem(src.file, src.line(loc), None, field, msg))
        return None, problems
    return schedule, []


def load_schedule(path: Path) -> Schedule:
    """Load one schedule file or raise FlowError naming every problem."""
    schedule, problems = check_schedule_file(path)
    if schedule is None:
        raise FlowError(f"schedule {path}", problems)
    return schedule

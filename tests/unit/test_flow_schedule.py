"""Schedules: weekly periods, exception dates, statutory holidays and make-up working days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hotline.flow import FlowError, evaluate, load_schedule
from hotline.flow.schedule import Schedule, calendar_years, check_schedule_file

ROOT = Path(__file__).resolve().parents[2]
OFFICE = load_schedule(ROOT / "ivr_flows/schedules/office_hours.yaml")
CST = dt.timezone(dt.timedelta(hours=8))


def at(text: str, tz: dt.tzinfo = CST) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def test_weekday_inside_and_outside_periods() -> None:
    assert evaluate(OFFICE, at("2026-06-10T09:00")).state == "open"
    assert evaluate(OFFICE, at("2026-06-10T17:59")).state == "open"
    assert evaluate(OFFICE, at("2026-06-10T18:00")).state == "closed"
    assert evaluate(OFFICE, at("2026-06-10T08:59")).state == "closed"


def test_time_is_taken_in_the_schedule_zone() -> None:
    # 02:00 UTC is 10:00 in Kunming
    assert evaluate(OFFICE, dt.datetime(2026, 6, 10, 2, 0, tzinfo=dt.UTC)).state == "open"


def test_national_day_is_a_holiday_even_during_office_hours() -> None:
    result = evaluate(OFFICE, at("2026-10-01T10:00"))
    assert (result.state, result.basis, result.holiday) == ("holiday", "statutory_holiday", "National Day")


def test_weekend_inside_a_holiday_period_is_a_holiday() -> None:
    assert evaluate(OFFICE, at("2026-10-03T10:00")).state == "holiday"


def test_makeup_saturday_is_open() -> None:
    result = evaluate(OFFICE, at("2026-10-10T10:00"))
    assert (result.state, result.basis) == ("open", "makeup_workday")


def test_ordinary_saturday_is_closed() -> None:
    result = evaluate(OFFICE, at("2026-06-13T10:00"))
    assert (result.state, result.basis) == ("closed", "weekly")


def test_year_unknown_to_chinese_calendar_falls_back_and_says_so() -> None:
    first, last = calendar_years()
    assert first <= 2026 <= last
    result = evaluate(OFFICE, at(f"{last + 1}-10-01T10:00"))
    assert result.basis == "weekly_fallback"
    assert f"no holiday data for {last + 1}" in result.note


def test_exception_dates_win_over_the_calendar() -> None:
    schedule = Schedule.model_validate(
        {
            "name": "t",
            "weekly": {"mon": ["09:00-18:00"]},
            "exceptions": [
                {"date": "2026-10-01", "state": "open", "hours": ["09:00-12:00"]},
                {"date": "2026-06-10", "state": "closed", "note": "系统维护"},
            ],
        }
    )
    assert evaluate(schedule, at("2026-10-01T10:00")).state == "open"
    assert evaluate(schedule, at("2026-10-01T13:00")).state == "closed"
    closed = evaluate(schedule, at("2026-06-10T10:00"))
    assert (closed.state, closed.basis, closed.note) == ("closed", "exception", "系统维护")


def test_period_until_midnight() -> None:
    schedule = Schedule.model_validate({"name": "t", "weekly": {"wed": ["20:00-24:00"]}, "statutory_holidays": False})
    assert evaluate(schedule, at("2026-06-10T23:59")).state == "open"


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate(OFFICE, dt.datetime(2026, 6, 10, 10, 0))


def test_bad_schedule_file_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("timezone: Asia/Kunmin\nweekly:\n  mon: ['18:00-09:00']\n", encoding="utf-8")
    schedule, problems = check_schedule_file(path)
    assert schedule is None
    by_field = {p.field: p for p in problems}
    assert by_field["timezone"].line == 1 and "unknown time zone" in by_field["timezone"].message
    assert by_field["weekly.mon[0]"].line == 3 and "ends before it starts" in by_field["weekly.mon[0]"].message
    with pytest.raises(FlowError):
        load_schedule(path)

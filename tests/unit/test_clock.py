"""The clock seam: the real clock, a shifted one (whole services), a frozen one (unit tests)."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest

from hotline import clock

CST = ZoneInfo("Asia/Shanghai")


def test_the_system_clock_is_aware_utc_and_agrees_with_the_machine() -> None:
    now = clock.SYSTEM.now()
    assert now.tzinfo is not None and now.utcoffset() == dt.timedelta(0)
    assert abs(now.timestamp() - clock.SYSTEM.timestamp()) < 1
    assert clock.SYSTEM.offset() == 0


def test_a_shifted_clock_starts_where_it_is_told_and_runs_at_real_speed() -> None:
    start = dt.datetime(2026, 10, 1, 10, 0, tzinfo=CST)  # National Day, a holiday
    shifted = clock.ShiftedClock(start)
    first = shifted.now()
    assert dt.timedelta(0) <= first - start < dt.timedelta(seconds=1)
    assert shifted.today(CST) == dt.date(2026, 10, 1)
    again = clock.ShiftedClock(offset=shifted.offset())
    assert abs((again.now() - shifted.now()).total_seconds()) < 0.5


def test_a_frozen_clock_moves_only_when_told() -> None:
    frozen = clock.FrozenClock(dt.datetime(2026, 12, 7, 3, 0, tzinfo=CST))
    mono = frozen.monotonic()
    assert frozen.now() == frozen.now()
    frozen.advance(90)
    assert frozen.now() == dt.datetime(2026, 12, 7, 3, 1, 30, tzinfo=CST)
    assert frozen.monotonic() - mono == 90


async def test_a_frozen_clock_sleeps_without_waiting() -> None:
    frozen = clock.FrozenClock(dt.datetime(2026, 12, 7, 23, 59, 59, tzinfo=CST))
    await frozen.sleep(2)
    assert frozen.today(CST) == dt.date(2026, 12, 8)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-07T10:00", "needs its zone"),
        ("yesterday", "ISO 8601"),
        ("offset:soon", "offset:<seconds>"),
    ],
)
def test_a_bad_clock_setting_names_the_variable_and_what_was_expected(value: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected) as caught:
        clock.parse(value)
    assert "HOTLINE_CLOCK" in str(caught.value)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        clock.FrozenClock(dt.datetime(2026, 12, 7, 10, 0))
    with pytest.raises(ValueError, match="time zone"):
        clock.ShiftedClock(dt.datetime(2026, 12, 7, 10, 0))


def test_reading_the_environment_hands_children_the_offset_not_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_CLOCK", "2026-12-07T03:00:00+08:00")
    parent = clock.from_environment()
    assert parent.today(CST) == dt.date(2026, 12, 7)
    assert os.environ["HOTLINE_CLOCK"].startswith("offset:")
    child = clock.from_environment()  # a child started later reads the same time, not a later start
    assert abs((child.now() - parent.now()).total_seconds()) < 0.5
    monkeypatch.delenv("HOTLINE_CLOCK")
    assert clock.from_environment() is clock.SYSTEM

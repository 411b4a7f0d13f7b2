"""The one place that reads the time.

Everything that decides by time (a flow's schedule, "today" in an API or a command, how long a caller has
waited, when to retry) takes a :class:`Clock` instead of calling ``datetime.now()`` or ``time.time()``; a test
or a simulation passes another clock and pins the hour it needs. ``tests/unit/test_clock_seam.py`` fails the
build when a module outside this one reads the wall clock.

Whose clock wins (``docs/architecture.md``, "Time"): **records are stamped by PostgreSQL** (``now()``, the
transaction's start; one clock for every process on every machine), and a duration between two stored stamps
is computed in SQL. **Decisions are made with this clock** (schedules, flow start, "today", ticket number
dates). A duration measured inside one process uses :meth:`Clock.monotonic`. The two wall clocks are never
subtracted from each other.

A whole service can run on a shifted clock: ``HOTLINE_CLOCK=2026-10-01T10:00:00+08:00`` starts the clock at
that instant (it then runs at real speed); reading it rewrites the variable to the offset
(``HOTLINE_CLOCK=offset:<seconds>``), so the children ``hotline up`` starts later agree with it. PostgreSQL
keeps the real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

ENV = "HOTLINE_CLOCK"


class Clock:
    """The machine's clock. Subclasses shift or freeze it; every method is what a caller may rely on."""

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for durations measured inside one process."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def today(self, tz: dt.tzinfo) -> dt.date:
        """The calendar day in ``tz`` (the hotline's day is Asia/Shanghai's, not the machine's)."""
        return self.now().astimezone(tz).date()

    def timestamp(self) -> float:
        """Seconds since the epoch, for status lines and wire formats that want a number."""
        return self.now().timestamp()

    def offset(self) -> float:
        """Seconds this clock is ahead of the machine's (0 for the real clock)."""
        return 0.0


class ShiftedClock(Clock):
    """The real clock moved to start at ``start`` (or by ``offset`` seconds); it runs at real speed."""

    def __init__(self, start: dt.datetime | None = None, *, offset: float | None = None) -> None:
        if (start is None) == (offset is None):
            raise ValueError("ShiftedClock takes a start or an offset, not both")
        if start is not None:
            if start.tzinfo is None:
                raise ValueError(f"clock start {start.isoformat()} has no time zone")
            offset = (start - dt.datetime.now(dt.UTC)).total_seconds()
        assert offset is not None
        self._offset = dt.timedelta(seconds=offset)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self._offset

    def offset(self) -> float:
        return self._offset.total_seconds()


class FrozenClock(Clock):
    """A clock that moves only when told to (unit tests): ``sleep`` and ``advance`` move both readings."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError(f"frozen clock {at.isoformat()} has no time zone")
        self._now = at.astimezone(dt.UTC)
        self._mono = 1000.0

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def offset(self) -> float:
        return (self._now - dt.datetime.now(dt.UTC)).total_seconds()


SYSTEM = Clock()


def parse(value: str) -> Clock:
    """``HOTLINE_CLOCK``'s value: an ISO 8601 instant with its zone, or ``offset:<seconds>``."""
    text = value.strip()
    if not text:
        return SYSTEM
    if text.startswith("offset:"):
        try:
            return ShiftedClock(offset=float(text.removeprefix("offset:")))
        except ValueError:
            raise ValueError(f"{ENV}={value!r}: expected offset:<seconds>, e.g. offset:-3600") from None
    try:
        start = dt.datetime.fromisoformat(text)
    except ValueError:
        expected = "an ISO 8601 time with its zone, e.g. 2026-10-01T10:00+08:00"
        raise ValueError(f"{ENV}={value!r}: expected {expected}") from None
    if start.tzinfo is None:
        raise ValueError(f"{ENV}={value!r}: the time needs its zone, e.g. +08:00")
    return ShiftedClock(start)


def from_environment(env: Mapping[str, str] | None = None) -> Clock:
    """The process's clock: the real one unless ``HOTLINE_CLOCK`` shifts it (logged, never silent)."""
    value = (os.environ if env is None else env).get(ENV, "")
    clock = parse(value)
    if clock is not SYSTEM:
        log.warning("clock shifted by %s=%s: now is %s", ENV, value, clock.now().isoformat(timespec="seconds"))
        if env is None:  # children started from now on read the same offset, not the same start
            os.environ.update(child_environment(clock))
    return clock


def child_environment(clock: Clock) -> dict[str, str]:
    """What a child process needs in its environment to read the same time as ``clock``."""
    return {ENV: f"offset:{clock.offset():.6f}"} if clock.offset() else {}

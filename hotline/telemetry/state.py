"""Gauges of the current state, refreshed by the supervisor every few seconds (never at scrape time), and the
loop that runs the event-log collector beside them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from db import kpi as kpi_rows
from db import metrics as source
from db import transcription
from hotline.clock import Clock
from hotline.flow.schedule import Schedule, evaluate
from hotline.kpi import KpiParams, scorecard
from hotline.metrics import guarded
from hotline.telemetry import catalogue as m
from hotline.telemetry.catalogue import AGENT_STATES, TICKET_STATUSES, Labels
from hotline.telemetry.collector import EventCollector

log = logging.getLogger(__name__)


@dataclass
class Sources:
    """What the supervisor knows about its children, read at each refresh."""

    cells: Mapping[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)  # name -> health
    front: Callable[[], dict[str, Any]] | None = None
    front_targets: Callable[[], Any] | None = None  # async: {"up": n, "down": n}
    leading: Callable[[], bool] | None = None  # the ACD dispatcher leads


def show_snapshot(snap: source.Snapshot, labels: Labels) -> None:
    """Set the state gauges; every (queue, state) pair is set, zeros included, so `sum(...) == 0` can alert."""
    if not set(snap.queue_names) <= labels.queue.values:  # a queue created since: its series from 0 too
        labels.queue.extend(snap.queue_names)
        m.zero(labels)
    for q in snap.queues:
        queue = labels.queue(q.queue)
        m.WAITING.labels(queue).set(q.waiting)
        m.OLDEST_WAIT.labels(queue).set(q.oldest_wait_s)
        m.CALLBACKS_PENDING.labels(queue).set(q.callbacks_pending)
    counts = {(labels.queue(queue), labels.state(state)): n for queue, state, n in snap.agents}
    for name in snap.queue_names:
        for state in AGENT_STATES:
            m.AGENTS.labels(labels.queue(name), state).set(counts.get((labels.queue(name), state), 0))
    tickets = {status: (n, overdue) for status, n, overdue in snap.tickets}
    for status in TICKET_STATUSES:
        n, overdue = tickets.get(status, (0, 0))
        m.TICKETS.labels(status).set(n)
        m.TICKETS_OVERDUE.labels(status).set(overdue)


def show_schedules(schedules: Mapping[str, Schedule], at: dt.datetime, labels: Labels) -> None:
    for name, schedule in schedules.items():
        with guarded("hotline_schedule_open"):
            m.SCHEDULE_OPEN.labels(labels.schedule(name)).set(1 if evaluate(schedule, at).state == "open" else 0)


def show_targets(targets: Mapping[str, float]) -> None:
    for kpi, target in targets.items():
        m.KPI_TARGET.labels(kpi).set(target)


class Telemetry:
    """The collector and the state gauges, refreshed every `refresh_s`; today's KPIs every `kpi_refresh_s`."""

    def __init__(
        self,
        pool: Any,
        clock: Clock,
        labels: Labels,
        params: KpiParams,
        *,
        timezone: str,
        schedules: Mapping[str, Schedule],
        targets: Mapping[str, float],
        sources: Sources | None = None,
        refresh_s: float = 5.0,
        kpi_refresh_s: float = 60.0,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.labels = labels
        self.params = params
        self.tz = ZoneInfo(timezone)
        self.schedules = dict(schedules)
        self.labels.schedule.extend(self.schedules)
        self.sources = sources or Sources()
        self.refresh_s = refresh_s
        self.kpi_refresh_s = kpi_refresh_s
        self.collector = EventCollector(labels, params)
        m.zero(labels)
        self._kpi_due = 0.0
        self._restarts: dict[str, int] = {}
        show_targets(targets)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh()
            try:
                await asyncio.wait_for(stop.wait(), self.refresh_s)
            except TimeoutError:
                pass

    async def refresh(self) -> None:
        """One round; each part fails on its own (counted in hotline_refresh_errors_total, logged)."""
        ok = await self._part("collector", self._collect)
        ok = await self._part("state", self._state) and ok
        if self.clock.monotonic() >= self._kpi_due:
            if await self._part("kpi", self._kpi):
                self._kpi_due = self.clock.monotonic() + self.kpi_refresh_s
        await self._part("front", self._front)
        m.DB_UP.set(1 if ok else 0)
        show_schedules(self.schedules, self.clock.now(), self.labels)
        self._cells()
        if self.sources.leading is not None:
            with guarded("hotline_acd_leader"):
                m.ACD_LEADER.set(1 if self.sources.leading() else 0)

    async def _part(self, name: str, work: Callable[[], Any]) -> bool:
        try:
            await work()
        except Exception as exc:
            log.warning("metrics: refreshing %s failed: %s", name, type(exc).__name__)
            m.REFRESH_ERRORS.labels(name).inc()
            return False
        return True

    async def _collect(self) -> None:
        async with self.pool.acquire() as conn:
            await self.collector.poll(conn)

    async def _state(self) -> None:
        async with self.pool.acquire() as conn:
            snap = await source.snapshot(conn)
            calls, oldest = await transcription.backlog_size(conn)
        show_snapshot(snap, self.labels)
        m.BACKLOG_CALLS.set(calls)
        m.BACKLOG_OLDEST.set(oldest)

    async def _kpi(self) -> None:
        now = self.clock.now()
        local = now.astimezone(self.tz)
        since = local.replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.pool.acquire() as conn:
            rows = await kpi_rows.read(conn, since, now + dt.timedelta(seconds=1), kpi_rows.Filters(simulated=None))
        for kpi, value in scorecard(rows, self.params).items():
            m.KPI_TODAY_NUM.labels(kpi).set(value.numerator)
            m.KPI_TODAY_DEN.labels(kpi).set(value.denominator)
            if value.value is None:  # no denominator: no value (docs/kpi.md), not 0
                with contextlib.suppress(KeyError):
                    m.KPI_TODAY.remove(kpi)
            else:
                m.KPI_TODAY.labels(kpi).set(value.value)

    async def _front(self) -> None:
        if self.sources.front is not None:
            health = self.sources.front()
            m.FRONT_UP.set(1 if health.get("ok") else 0)
            restarts = int(health.get("restarts") or 0)
            self._bump(m.FRONT_RESTARTS, "front", restarts)
        if self.sources.front_targets is not None:
            try:
                targets = await self.sources.front_targets()
            except Exception:
                m.FRONT_UP.set(0)
                raise
            for state in ("up", "down"):
                m.FRONT_TARGETS.labels(state).set(targets.get(state, 0))

    def _cells(self) -> None:
        for name, health in self.sources.cells.items():
            m.CELL_RESTARTS.labels(name)  # from 0, so increase() sees the first restart
            with guarded("hotline_cell_up"):
                info = health()
                m.CELL_UP.labels(name).set(1 if info.get("ok") else 0)
                self._bump(m.CELL_RESTARTS.labels(name), name, int(info.get("restarts") or 0))

    def _bump(self, counter: Any, key: str, total: int) -> None:
        """Move a restarts counter up to the child's own count."""
        before = self._restarts.get(key, 0)
        if total > before:
            counter.inc(total - before)
        self._restarts[key] = max(before, total)

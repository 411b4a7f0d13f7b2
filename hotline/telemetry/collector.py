"""Counters from the event log: each new `call_events` row (and `tags` row) is read once, in id order, and
judged with hotline.kpi's predicates, so a counter and the SQL KPIs agree on what each visit was.

Rows are read by id. Ids come from a sequence and a transaction that took an id may commit after a later one,
so the collector re-reads a window of recent ids and skips those it has seen: the floor below which nothing is
read again moves up only past rows older than `settle_s` (a transaction open longer than that is not expected
on the event log; the cells write events in short transactions).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from db import metrics as source
from db.metrics import EventRow, TagRow
from hotline.events import CallEvent
from hotline.kpi import (
    VISIT_END_OF_EVENT,
    KpiParams,
    QueueVisit,
    VisitEnd,
    answered_within,
    is_offered,
    is_short_abandon,
)
from hotline.metrics import guarded
from hotline.telemetry import catalogue as m
from hotline.telemetry.catalogue import Labels

log = logging.getLogger(__name__)

_TALK_ENDS = {CallEvent.COMPLETEAGENT, CallEvent.COMPLETECALLER, CallEvent.TRANSFER, CallEvent.BLINDTRANSFER}
_ANY_CALL = uuid.UUID(int=0)


def count_event(row: EventRow, labels: Labels, params: KpiParams) -> None:
    """Every counter one event moves (each update guarded: a broken metric never stops the others)."""
    prefecture = labels.prefecture(row.prefecture)
    event = row.event
    if row.first_of_call:
        with guarded("hotline_calls_started_total"):
            m.STARTED.labels(labels.direction(row.direction)).inc()
    if row.visit_queue is not None and row.direction == "inbound" and event in VISIT_END_OF_EVENT:
        _visit_ended(row, VISIT_END_OF_EVENT[event], labels, prefecture, params)
    if event == CallEvent.CONNECT and row.first_connect and row.direction == "inbound":
        with guarded("hotline_calls_bridged_total"):
            m.BRIDGED.labels(labels.queue(row.queue), prefecture).inc()
    if event in _TALK_ENDS and row.talk_s is not None:
        with guarded("hotline_talk_seconds"):
            m.TALK.labels(labels.queue(row.talk_queue)).observe(row.talk_s)
    if event in (CallEvent.HANGUP, CallEvent.FAILED):
        _call_ended(row, labels, prefecture, params)
    elif event == CallEvent.SURVEY and row.question is not None and row.label is not None:
        with guarded("hotline_survey_answers_total"):
            question = labels.question(row.question)
            m.SURVEY.labels(question, labels.answer(row.question, row.label)).inc()
    elif event == CallEvent.CALLBACK:
        with guarded("hotline_callbacks_scheduled_total"):
            m.CALLBACKS_SCHEDULED.labels(labels.queue(row.queue)).inc()
    elif event == CallEvent.CALLBACKATTEMPT:
        with guarded("hotline_callback_attempts_total"):
            m.CALLBACK_ATTEMPTS.labels(labels.queue(row.queue), labels.result(row.result)).inc()
        if row.callback_queue is not None and row.direction == "inbound":
            with guarded("hotline_calls_answered_by_callback_total"):
                m.ANSWERED_BY_CALLBACK.labels(labels.queue(row.callback_queue), prefecture).inc()


def _visit_ended(row: EventRow, end: VisitEnd, labels: Labels, prefecture: str, params: KpiParams) -> None:
    visit = QueueVisit(
        call_id=_ANY_CALL,
        started_at=row.at,
        queue=row.visit_queue or "",
        prefecture=prefecture,
        end=end,
        wait_s=row.visit_wait_s,
        queue_service_level_s=row.visit_sl_s if row.visit_sl_s is not None else 15.0,
    )
    queue = labels.queue(row.visit_queue)
    with guarded("hotline_queue_visits_total"):
        _count_visit(visit, queue, prefecture, params)
        if row.visit_wait_s is not None:
            m.WAIT.labels(queue, labels.outcome(end.value)).observe(row.visit_wait_s)


def _count_visit(visit: QueueVisit, queue: str, prefecture: str, params: KpiParams) -> None:
    """The counters of one ended visit, by the KPI module's own predicates."""
    m.VISITS.labels(queue, prefecture, visit.end.value).inc()
    if is_short_abandon(visit, params):
        m.SHORT_ABANDONS.labels(queue, prefecture).inc()
    if not is_offered(visit, params):
        return
    m.OFFERED.labels(queue, prefecture).inc()
    if visit.end is VisitEnd.ANSWERED:
        m.ANSWERED.labels(queue, prefecture).inc()
        if answered_within(visit, params):
            m.ANSWERED_WITHIN_SL.labels(queue, prefecture).inc()
    elif visit.end is VisitEnd.ABANDONED:
        m.ABANDONED.labels(queue, prefecture).inc()


def _call_ended(row: EventRow, labels: Labels, prefecture: str, params: KpiParams) -> None:
    with guarded("hotline_calls_ended_total"):
        status = "failed" if row.event == CallEvent.FAILED else "ok"
        m.ENDED.labels(labels.direction(row.direction), status).inc()
    if row.direction == "inbound":
        for queue_name in row.lost_visits:
            lost = QueueVisit(call_id=_ANY_CALL, started_at=row.at, queue=queue_name, end=VisitEnd.LOST)
            with guarded("hotline_queue_visits_total"):
                _count_visit(lost, labels.queue(queue_name), prefecture, params)
    for talk_queue, talk_s in row.open_talks:
        with guarded("hotline_talk_seconds"):
            m.TALK.labels(labels.queue(talk_queue)).observe(talk_s)


def count_tag(row: TagRow, labels: Labels) -> None:
    with guarded("hotline_tags_total"):
        m.TAGS.labels(labels.tag_kind(row.kind), labels.tag_value(row.value)).inc()


@dataclass
class _Cursor:
    """Which ids of one table have been read: everything up to `floor`, and `seen` above it."""

    floor: int = 0
    seen: dict[int, dt.datetime] = field(default_factory=dict)  # id -> its stamp

    def settle(self, now: dt.datetime, settle_s: float) -> None:
        """Move the floor past the seen ids written more than settle_s ago, below every newer one."""
        if not self.seen:
            return
        old = now - dt.timedelta(seconds=settle_s)
        young = [i for i, at in self.seen.items() if at >= old]
        limit = min(young) - 1 if young else max(self.seen)
        settled = [i for i in self.seen if i <= limit]
        if settled:
            self.floor = max(self.floor, max(settled))
            for i in settled:
                del self.seen[i]


class EventCollector:
    """Reads the event log and tags into the counters; one `poll` per refresh."""

    def __init__(self, labels: Labels, params: KpiParams, settle_s: float = 30.0) -> None:
        self.labels = labels
        self.params = params
        self.settle_s = settle_s
        self.events = _Cursor()
        self.tags = _Cursor()
        self.started = False

    async def start(self, conn: Any) -> None:
        """Count from now on: the counters of a process start at 0."""
        self.events.floor = await source.last_event_id(conn)
        self.tags.floor = await source.last_tag_id(conn)
        self.started = True

    async def poll(self, conn: Any, batches: int = 20) -> int:
        """Read what is new (up to `batches` pages); returns the number of event rows counted."""
        if not self.started:
            await self.start(conn)
        now = await source.now(conn)
        counted = await self._drain(
            lambda: source.new_events(conn, self.events.floor, list(self.events.seen)),
            self.events,
            lambda row: count_event(row, self.labels, self.params),
            batches,
        )
        await self._drain(
            lambda: source.new_tags(conn, self.tags.floor, list(self.tags.seen)),
            self.tags,
            lambda row: count_tag(row, self.labels),
            batches,
        )
        newest = max(self.events.seen.values(), default=None)
        m.LAG.set(max(0.0, (now - newest).total_seconds()) if counted and newest is not None else 0.0)
        self.events.settle(now, self.settle_s)
        self.tags.settle(now, self.settle_s)
        return counted

    async def _drain(
        self,
        page: Callable[[], Awaitable[list[Any]]],
        cursor: _Cursor,
        count: Callable[[Any], None],
        batches: int,
    ) -> int:
        counted = 0
        for _ in range(batches):
            rows = await page()
            if not rows:
                break
            for row in rows:
                count(row)
                cursor.seen[row.id] = row.at
            counted += len(rows)
            if cursor is self.events:
                m.EVENTS.inc(len(rows))
        return counted

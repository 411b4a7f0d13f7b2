"""The event-log collector (hotline.telemetry) against a real PostgreSQL: the day of tests/support/kpi_day.py is
written, the collector reads it, and every counter agrees with the SQL KPIs (db.kpi + hotline.kpi) of the same
calls. Label values stay in their bounded sets; a broken metric never stops the collector."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from db import kpi as kpi_db
from db import metrics as metrics_db
from db import queues
from hotline import kpi
from hotline.kpi import Group
from hotline.telemetry import catalogue as m
from hotline.telemetry.catalogue import Labels
from hotline.telemetry.collector import EventCollector
from tests.support.kpi_day import DAY, write_day

ALL_CALLS = (DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=3))  # the day, and c9 of the next


class Samples:
    """Sample values as deltas from when it was made (the registry is the process's, shared by tests)."""

    def __init__(self) -> None:
        self.before = self._all()

    @staticmethod
    def _all() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in REGISTRY.collect()
            if family.name.startswith("hotline_")
            for s in family.samples
        }

    def total(self, name: str, **labels: str) -> float:
        now = self._all()
        return sum(
            value - self.before.get(key, 0.0)
            for key, value in now.items()
            if key[0] == name and all(dict(key[1]).get(k) == v for k, v in labels.items())
        )

    def labelled(self, name: str) -> Iterator[dict[str, str]]:
        for key, value in self._all().items():
            if key[0] == name and value != self.before.get(key, 0.0):
                yield dict(key[1])


async def _collected(conn: asyncpg.Connection, params: kpi.KpiParams = kpi.DEFAULTS) -> tuple[EventCollector, Samples]:
    labels = Labels()
    labels.queue.extend(await queues.names(conn))
    labels.add_survey(
        {
            "satisfaction": ["满意", "基本满意", "不满意"],
            "first_choice": ["是", "否"],
            "channel": ["电视广播", "报刊海报等宣传材料", "网络和微信", "政府部门或村居社区", "亲友介绍", "其他"],
        }
    )
    collector = EventCollector(labels, params)
    await collector.start(conn)
    samples = Samples()
    await write_day(conn)
    await collector.poll(conn)
    return collector, samples


def _counter_card(s: Samples, **where: str) -> dict[str, tuple[float, float]]:
    """The KPIs' (numerator, denominator) from the counters, as the recording rules compute them."""
    answered = s.total("hotline_calls_answered_total", **where) + s.total(
        "hotline_calls_answered_by_callback_total", **where
    )
    offered = s.total("hotline_calls_offered_total", **where)
    return {
        "answer_rate": (answered, offered),
        "service_level": (s.total("hotline_calls_answered_within_sl_total", **where), offered),
        "abandon_rate": (s.total("hotline_calls_abandoned_total", **where), offered),
    }


async def test_counters_agree_with_the_sql_kpis_on_the_same_calls(conn: asyncpg.Connection) -> None:
    _, s = await _collected(conn)
    card = kpi.scorecard(await kpi_db.read(conn, *ALL_CALLS))
    for name, counted in _counter_card(s).items():
        assert counted == (card[name].numerator, card[name].denominator), name

    asa = card["asa"]
    assert s.total("hotline_queue_wait_seconds_count", outcome="answered") == asa.denominator
    assert s.total("hotline_queue_wait_seconds_sum", outcome="answered") == pytest.approx(asa.numerator)
    talk = card["talk_time"]
    assert s.total("hotline_talk_seconds_count") == talk.denominator
    assert s.total("hotline_talk_seconds_sum") == pytest.approx(talk.numerator)

    satisfied = sum(
        s.total("hotline_survey_answers_total", question="satisfaction", answer=a) for a in ("满意", "基本满意")
    )
    rated = s.total("hotline_survey_answers_total", question="satisfaction")
    assert (satisfied, rated) == (card["satisfaction"].numerator, card["satisfaction"].denominator)
    assert (rated, s.total("hotline_calls_bridged_total")) == (
        card["rating_rate"].numerator,
        card["rating_rate"].denominator,
    )
    first = s.total("hotline_survey_answers_total", question="first_choice", answer="是")
    assert (first, s.total("hotline_survey_answers_total", question="first_choice")) == (
        card["first_choice"].numerator,
        card["first_choice"].denominator,
    )
    # the scenario's calls are all over: every visit ended, the short abandon c4 is counted apart
    assert s.total("hotline_queue_short_abandons_total") == 1
    assert s.total("hotline_queue_visits_total", outcome="lost") == 1
    assert s.total("hotline_calls_ended_total", status="ok") > 0


@pytest.mark.parametrize("group", [Group.QUEUE, Group.PREFECTURE])
async def test_by_queue_and_prefecture_the_counters_agree_too(conn: asyncpg.Connection, group: Group) -> None:
    _, s = await _collected(conn)
    rows = await kpi_db.read(conn, *ALL_CALLS)
    cards = kpi.scorecards(rows, group)
    assert len([k for k, c in cards.items() if c["answer_rate"].denominator]) >= 2
    for key, card in cards.items():
        counted = _counter_card(s, **{group.value: key})
        for name in ("answer_rate", "service_level", "abandon_rate"):
            assert counted[name] == (card[name].numerator, card[name].denominator), (key, name)


async def test_short_abandons_count_as_offered_when_the_parameter_says_so(conn: asyncpg.Connection) -> None:
    params = kpi.KpiParams(exclude_short_abandons=False)
    _, s = await _collected(conn, params)
    card = kpi.scorecard(await kpi_db.read(conn, *ALL_CALLS), params)
    assert _counter_card(s)["abandon_rate"] == (card["abandon_rate"].numerator, card["abandon_rate"].denominator)


async def test_a_second_poll_counts_nothing_twice_and_late_rows_are_counted(conn: asyncpg.Connection) -> None:
    collector, s = await _collected(conn)
    offered = s.total("hotline_calls_offered_total")
    assert await collector.poll(conn) == 0
    assert s.total("hotline_calls_offered_total") == offered
    # a transaction that took an id before another one commits after it: the later id is read first, the
    # earlier one at the next poll (the floor waits for young rows)
    newest = await metrics_db.last_event_id(conn)
    call_id = await conn.fetchval("SELECT call_id FROM call_events WHERE event = 'INCOMING' LIMIT 1")
    survey = "INSERT INTO call_events (id, call_id, event, data) VALUES ($1, $2, 'SURVEY', $3)"
    answer = '{"question": "satisfaction", "label": "满意"}'
    before = s.total("hotline_survey_answers_total", question="satisfaction", answer="满意")
    await conn.execute(survey, newest + 2, call_id, answer)
    assert await collector.poll(conn) == 1
    await conn.execute(survey, newest + 1, call_id, answer)
    assert await collector.poll(conn) == 1
    assert await collector.poll(conn) == 0
    assert s.total("hotline_survey_answers_total", question="satisfaction", answer="满意") == before + 2


async def test_labels_stay_in_their_bounded_sets(conn: asyncpg.Connection) -> None:
    collector, s = await _collected(conn)
    # an event of a queue the collector does not know, an answer label no flow has, a tag outside the taxonomy
    call_id = await conn.fetchval("SELECT call_id FROM call_events LIMIT 1")
    await conn.execute("INSERT INTO queues (name, display_name) VALUES ('pop_up', '临时')")
    queue_id = await conn.fetchval("SELECT id FROM queues WHERE name = 'pop_up'")
    await conn.execute(
        "INSERT INTO call_events (call_id, event, queue_id, data) VALUES ($1, 'CALLBACK', $2, '{}')", call_id, queue_id
    )
    await conn.execute(
        "INSERT INTO call_events (call_id, event, data) VALUES ($1, 'SURVEY', $2)",
        call_id,
        '{"question": "satisfaction", "label": "13912345678"}',
    )
    await conn.execute(
        "INSERT INTO tags (call_id, kind, value, source) VALUES ($1, 'flag', '张三的电话13912345678', 'agent')", call_id
    )
    await collector.poll(conn)
    assert {"queue": "unknown"} in list(s.labelled("hotline_callbacks_scheduled_total"))
    answers = {d["answer"] for d in s.labelled("hotline_survey_answers_total")}
    assert "13912345678" not in answers and "unknown" in answers
    assert {"kind": "flag", "value": "unknown"} in list(s.labelled("hotline_tags_total"))

    allowed: dict[str, Any] = {
        "queue": collector.labels.queue,
        "prefecture": collector.labels.prefecture,
        "outcome": collector.labels.outcome,
        "direction": collector.labels.direction,
        "result": collector.labels.result,
        "kind": collector.labels.tag_kind,
        "value": collector.labels.tag_value,
        "question": collector.labels.question,
    }
    assert len(collector.labels.prefecture) == 18  # 16 prefectures, outside_yunnan, unknown
    ours = {v._name for v in vars(m).values() if isinstance(v, MetricWrapperBase)}  # the collector's metrics
    for family in REGISTRY.collect():
        if family.name not in ours:  # other modules' metrics in this process have label sets of their own
            continue
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label in allowed:
                    assert value in allowed[label], (sample.name, label, value)
                assert not any(ch.isdigit() for ch in value) or label in ("prefecture", "le", "cell"), (
                    sample.name,
                    label,
                    value,
                )


async def test_a_broken_metric_is_logged_and_counted_and_the_rest_goes_on(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> object:
        raise RuntimeError("broken metric")

    monkeypatch.setattr(m.VISITS, "labels", broken)
    errors = Samples()
    _, s = await _collected(conn)
    assert errors.total("hotline_metric_errors_total", metric="hotline_queue_visits_total") > 0
    assert s.total("hotline_survey_answers_total") > 0  # other counters still moved

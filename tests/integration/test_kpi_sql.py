"""db/kpi.py against a real PostgreSQL: one day of calls written with the db functions the engine uses (calls,
events, queue exits, survey answers, callbacks, work orders, flow tags, the registry), read back for the day, and
the KPIs compared with values computed by hand.

PostgreSQL stamps every record with its own now(), the wall clock; each write is moved to the scenario's fixed time
right after it is made (call_events.at, then calls.started_at / answered_at / ended_at from the events), so the
scenario is a day of May 2024 whatever day the test runs.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg
import pytest

from db import kpi as kpi_db
from hotline import kpi
from hotline.kpi import Group
from tests.support.kpi_day import DAY, NEXT_DAY, counts, write_day


@pytest.fixture
async def day(conn: asyncpg.Connection) -> dict[str, UUID]:
    return await write_day(conn)


async def test_the_days_queue_visits(conn: asyncpg.Connection, day: dict[str, UUID]) -> None:
    visits = await kpi_db.queue_visits(conn, DAY, NEXT_DAY)
    by_call = {v.call_id: v for v in visits}
    assert set(by_call) == {day[k] for k in ("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c12", "c13")}
    assert by_call[day["c1"]].end is kpi.VisitEnd.ANSWERED and by_call[day["c1"]].wait_s == pytest.approx(10.0)
    assert by_call[day["c8"]].wait_s == pytest.approx(22.0)  # across midnight, counted on the day it started
    assert by_call[day["c5"]].end is kpi.VisitEnd.EXIT_KEY
    assert by_call[day["c5"]].callback is kpi.CallbackStatus.CONNECTED and by_call[day["c5"]].agent == "li"
    assert by_call[day["c12"]].end is kpi.VisitEnd.LOST
    assert by_call[day["c13"]].end is kpi.VisitEnd.OPEN
    assert by_call[day["c7"]].end is kpi.VisitEnd.EMPTY
    assert by_call[day["c3"]].prefecture == kpi.OUTSIDE_YUNNAN
    assert by_call[day["c4"]].prefecture == kpi.UNKNOWN
    assert by_call[day["c2"]].prefecture == "532900"

    # offered: c1 c2 c3 c5 c6 c7 c8 c12 (c4 is a short abandon, c13 still waits); answered: c1 c2 c5 c8
    assert counts(kpi.answer_rate(visits)) == (4, 8)
    assert counts(kpi.service_level(visits)) == (1, 8)  # c1 (10 s); c8 waited 22 s
    assert counts(kpi.average_speed_of_answer(visits)) == pytest.approx((57.0, 3))  # 10 + 25 + 22
    assert counts(kpi.abandon_rate(visits)) == (1, 8)  # c3
    with_short = kpi.KpiParams(exclude_short_abandons=False)
    assert counts(kpi.abandon_rate(visits, with_short)) == (2, 9)


async def test_the_days_survey_talk_needs_and_legal_aid(conn: asyncpg.Connection, day: dict[str, UUID]) -> None:
    card = kpi.scorecard(await kpi_db.read(conn, DAY, NEXT_DAY))
    # conversations c1 300 s, c2 600 s, the callback call c5b 480 s, c8 120 s
    assert counts(card["talk_time"]) == pytest.approx((1500.0, 4))
    assert card["talk_time"].value == pytest.approx(375.0)
    # eligible c1 c2 c8; rated c1 (满意), c2 (不满意)
    assert counts(card["satisfaction"]) == (1, 2)
    assert counts(card["rating_rate"]) == (2, 3)
    assert counts(card["first_choice"]) == (1, 2)
    assert counts(card["awareness"]) == (1, 2)
    # needs c1 c2 c3 c5 c6 c7 c8 c12 c13; responded c1 c2 c5 (callback) c6 (work order answered) c8
    assert counts(card["response_rate"]) == (5, 9)
    # registered poor: c5 (responded by callback), c7 (work order untouched)
    assert counts(card["response_rate_poor"]) == (1, 2)
    # eligible poor callers needing legal aid: c5's and c7's; referred to 法律援助: c5's (on its callback call)
    assert counts(card["legal_aid_rate"]) == (1, 2)


async def test_groups_and_filters_agree(conn: asyncpg.Connection, day: dict[str, UUID]) -> None:
    rows = await kpi_db.read(conn, DAY, NEXT_DAY)
    by_queue = {k: counts(card["answer_rate"]) for k, card in kpi.scorecards(rows, Group.QUEUE).items()}
    assert by_queue == {
        "legal_aid": (1, 2),  # c5 called back, c7 refused
        "legal_consult": (3, 4),  # c1 c2 c8 answered, c6 timed out
        "mediation": (0, 1),
        "none": (0, 0),  # c11 (IVR only) has no queue
        "operator": (0, 1),  # c12 lost; c4 short, c13 waiting
    }
    by_prefecture = kpi.scorecards(rows, Group.PREFECTURE)
    assert counts(by_prefecture["530100"]["answer_rate"]) == (3, 5)  # c1 c5 c8 of c1 c5 c6 c8 c12
    kunming = await kpi_db.queue_visits(conn, DAY, NEXT_DAY, kpi_db.Filters(prefecture="530100"))
    assert counts(kpi.answer_rate(kunming)) == (3, 5)
    outside = await kpi_db.queue_visits(conn, DAY, NEXT_DAY, kpi_db.Filters(prefecture=kpi.OUTSIDE_YUNNAN))
    assert [v.call_id for v in outside] == [day["c3"]]
    unknown = await kpi_db.call_cases(conn, DAY, NEXT_DAY, kpi_db.Filters(prefecture=kpi.UNKNOWN))
    assert [c.call_id for c in unknown] == [day["c4"]]

    by_agent = kpi.scorecards(rows, Group.AGENT)
    assert counts(by_agent["li"]["asa"]) == pytest.approx((32.0, 2))  # c1 10 s, c8 22 s (c5 was a callback)
    assert counts(by_agent["li"]["talk_time"]) == pytest.approx((900.0, 3))  # c1, c5b, c8
    assert counts(by_agent["wang"]["talk_time"]) == pytest.approx((600.0, 1))
    li_visits = await kpi_db.queue_visits(conn, DAY, NEXT_DAY, kpi_db.Filters(agent="li"))
    assert {v.call_id for v in li_visits} == {day["c1"], day["c5"], day["c8"]}
    consult = await kpi_db.read(conn, DAY, NEXT_DAY, kpi_db.Filters(queue="legal_consult"))
    assert counts(kpi.service_level(consult.visits)) == (1, 4)
    assert counts(kpi.satisfaction_rate(consult.surveys)) == (1, 2)


async def test_periods_are_half_open_and_by_the_calls_start(conn: asyncpg.Connection, day: dict[str, UUID]) -> None:
    next_day = await kpi_db.read(conn, NEXT_DAY, NEXT_DAY + dt.timedelta(days=1))
    assert [v.call_id for v in next_day.visits] == [day["c9"]]  # not c8, answered after midnight
    assert counts(kpi.satisfaction_rate(next_day.surveys)) == (1, 1)
    before = await kpi_db.read(conn, DAY - dt.timedelta(days=1), DAY)
    assert before == kpi.KpiRows([], [], [], [])  # c4 started at the period's end: it is the next period's
    first_second = await kpi_db.call_cases(conn, DAY, DAY + dt.timedelta(seconds=1))
    assert [c.call_id for c in first_second] == [day["c4"]]
    with pytest.raises(kpi.PeriodError):
        await kpi_db.queue_visits(conn, NEXT_DAY, DAY)

"""db/kpi.py against a real PostgreSQL: one day of calls written with the db functions the engine uses (calls,
events, queue exits, survey answers, callbacks, work orders, flow tags, the registry), read back for the day, and
the KPIs compared with values computed by hand.

PostgreSQL stamps every record with its own now(), the wall clock; each write is moved to the scenario's fixed time
right after it is made (call_events.at, then calls.started_at / answered_at / ended_at from the events), so the
scenario is a day of May 2024 whatever day the test runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from db import agents, callbacks, calls, households, queues, tags, tickets
from db import kpi as kpi_db
from hotline import kpi
from hotline.caller.phone import parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.events import CallEvent
from hotline.kpi import Group, KpiValue

KEYS = NumberKeys.from_master(b"k" * 32)
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = dt.datetime(2024, 5, 6, tzinfo=SHANGHAI)
NEXT_DAY = DAY + dt.timedelta(days=1)
POOR_MOBILE = "13987654321"  # 昆明, registered 建档立卡
POOR_LANDLINE = "0874-3123456"  # 曲靖, registered 低保

T = TypeVar("T")


def at(hh: int, mm: int, ss: int = 0, day: dt.datetime = DAY) -> dt.datetime:
    return day + dt.timedelta(hours=hh, minutes=mm, seconds=ss)


def counts(value: KpiValue) -> tuple[float, float]:
    return value.numerator, value.denominator


@dataclass
class Line:
    """Writes calls the way the cell does, each write then moved to its time in the scenario."""

    conn: asyncpg.Connection
    sips: int = 0

    async def when(self, moment: dt.datetime, write: Awaitable[T]) -> T:
        last = await self.conn.fetchval("SELECT coalesce(max(id), 0) FROM call_events")
        result = await write
        await self.conn.execute("UPDATE call_events SET at = $2 WHERE id > $1", last, moment)
        return result

    async def inbound(self, number: str, moment: dt.datetime, cell: str = "cell1") -> UUID:
        self.sips += 1
        caller = parse_caller(number)
        call_id = await self.when(
            moment, calls.start(self.conn, sip_call_id=f"kpi-{self.sips}", caller=caller, keys=KEYS, cell=cell)
        )
        await self.when(moment, calls.answered(self.conn, call_id))  # the IVR answers every call
        return call_id

    async def queue_id(self, name: str) -> int:
        queue_id = await queues.id_of(self.conn, name)
        assert queue_id is not None
        return queue_id

    async def enqueue(self, call_id: UUID, queue: str, moment: dt.datetime) -> None:
        queue_id = await self.queue_id(queue)
        await calls.set_queue(self.conn, call_id, queue_id)
        await self.when(
            moment,
            calls.add_event(self.conn, call_id, CallEvent.ENTERQUEUE, queue_id=queue_id, data={"priority": 0}),
        )

    async def leave(self, call_id: UUID, queue: str, event: CallEvent, moment: dt.datetime, waited: float) -> None:
        queue_id = await self.queue_id(queue)
        await self.when(moment, calls.add_event(self.conn, call_id, event, queue_id=queue_id, data={"waited": waited}))

    async def talk(
        self, call_id: UUID, queue: str, agent_id: int, connected: dt.datetime, done: dt.datetime, *, by_caller: bool
    ) -> None:
        queue_id = await self.queue_id(queue)
        await calls.set_agent(self.conn, call_id, agent_id)
        await self.when(
            connected,
            calls.add_event(
                self.conn, call_id, CallEvent.CONNECT, queue_id=queue_id, agent_id=agent_id, data={"ring": 3.0}
            ),
        )
        event = CallEvent.COMPLETECALLER if by_caller else CallEvent.COMPLETEAGENT
        await self.when(done, calls.add_event(self.conn, call_id, event, queue_id=queue_id, agent_id=agent_id))

    async def survey(self, call_id: UUID, moment: dt.datetime, *answers: tuple[str, int | None, str | None]) -> None:
        for question, key, label in answers:
            await self.when(moment, calls.save_survey_answer(self.conn, call_id, question, key, label))

    async def end(self, call_id: UUID, outcome: str, moment: dt.datetime) -> None:
        await self.when(moment, calls.end(self.conn, call_id, outcome))

    async def ticket(self, call_id: UUID, *steps: str, service: str, flags: tuple[str, ...] = ()) -> None:
        ticket = await tickets.create(
            self.conn, prefix="YN", tz="Asia/Shanghai", actor="ivr", call_id=call_id, service=service, flags=[*flags]
        )
        for step in steps:
            referral = "法律援助" if step == "referred" else None
            await tickets.transition(self.conn, ticket.number, step, actor="li", referral=referral)

    async def restamp_calls(self) -> None:
        """calls' own stamps from the (moved) events: INVITE, the IVR's answer, the close."""
        await self.conn.execute(
            """UPDATE calls c SET
                   started_at = (SELECT min(e.at) FROM call_events e WHERE e.call_id = c.id AND e.event = 'INCOMING'),
                   answered_at = CASE WHEN c.answered_at IS NOT NULL THEN
                       (SELECT min(e.at) FROM call_events e WHERE e.call_id = c.id AND e.event = 'ANSWER') END,
                   ended_at = CASE WHEN c.ended_at IS NOT NULL THEN
                       (SELECT max(e.at) FROM call_events e
                        WHERE e.call_id = c.id AND e.event IN ('HANGUP', 'FAILED')) END"""
        )


async def _day(conn: asyncpg.Connection) -> dict[str, UUID]:
    """One day of the hotline (the expectations in the tests below are counted from this by hand)."""
    line = Line(conn)
    li = (await agents.create(conn, "li", "李律师", "lawyer", "password-li")).id
    wang = (await agents.create(conn, "wang", "王律师", "lawyer", "password-wang")).id
    for number, kind in ((POOR_MOBILE, "建档立卡"), (POOR_LANDLINE, "低保")):
        e164 = parse_caller(number).e164
        assert e164 is not None
        await households.import_digests(conn, kind, [KEYS.digest(e164)], "扶贫办 2024-04")
    c: dict[str, UUID] = {}

    # c4: 00:00:00 sharp (the period's first instant), withheld, a short abandon (2 s) in the operator queue
    c["c4"] = await line.inbound("anonymous", at(0, 0))
    await line.enqueue(c["c4"], "operator", at(0, 0, 10))
    await line.leave(c["c4"], "operator", CallEvent.ABANDON, at(0, 0, 12), 2.0)
    await line.end(c["c4"], "abandoned", at(0, 0, 12))

    # c1: 昆明, legal_consult, li after 10 s, 300 s of talk, survey 满意 / 是 / 电视广播
    c["c1"] = await line.inbound("13908712345", at(9, 0))
    await line.enqueue(c["c1"], "legal_consult", at(9, 0, 30))
    await line.talk(c["c1"], "legal_consult", li, at(9, 0, 40), at(9, 5, 40), by_caller=False)
    await line.survey(
        c["c1"], at(9, 6), ("satisfaction", 1, "满意"), ("first_choice", 1, "是"), ("channel", 1, "电视广播")
    )
    await line.end(c["c1"], "answered", at(9, 6, 10))

    # c2: 大理 landline, legal_consult, wang after 25 s, 600 s, survey 不满意 (a follow-up work order) / 否 / 亲友介绍
    c["c2"] = await line.inbound("0872-2123456", at(10, 0))
    await line.enqueue(c["c2"], "legal_consult", at(10, 0, 20))
    await line.talk(c["c2"], "legal_consult", wang, at(10, 0, 45), at(10, 10, 45), by_caller=True)
    await line.survey(
        c["c2"], at(10, 11), ("satisfaction", 3, "不满意"), ("first_choice", 2, "否"), ("channel", 4, "亲友介绍")
    )
    await line.ticket(c["c2"], service="法律咨询")
    await line.end(c["c2"], "answered", at(10, 11, 30))

    # c3: 北京 mobile (outside Yunnan), mediation, hangs up after 40 s
    c["c3"] = await line.inbound("13801012345", at(11, 0))
    await line.enqueue(c["c3"], "mediation", at(11, 0, 15))
    await line.leave(c["c3"], "mediation", CallEvent.ABANDON, at(11, 0, 55), 40.0)
    await line.end(c["c3"], "abandoned", at(11, 0, 55))

    # c5: a registered poor caller (昆明) asks for legal aid, presses 1 after 60 s, is called back by li at 13:20;
    # li writes the work order on the callback call and refers it to 法律援助
    c["c5"] = await line.inbound(POOR_MOBILE, at(13, 0))
    aid = [("service", "法律援助"), ("flag", "legal_aid_hint"), ("flag", "registered_poor")]
    await tags.add_from_flow(conn, c["c5"], aid)
    await line.enqueue(c["c5"], "legal_aid", at(13, 0, 30))
    await line.leave(c["c5"], "legal_aid", CallEvent.EXITWITHKEY, at(13, 1, 30), 60.0)
    aid_queue = await line.queue_id("legal_aid")
    e164 = parse_caller(POOR_MOBILE).e164
    assert e164 is not None
    callback_id = await line.when(
        at(13, 1, 40),
        callbacks.request(
            conn,
            c["c5"],
            aid_queue,
            number_hmac=KEYS.digest(e164),
            number_enc=KEYS.encrypt(e164),
            number_masked="139****4321",
            keep_place=True,
        ),
    )
    await line.end(c["c5"], "callback", at(13, 1, 50))
    attempt_id = await callbacks.start_attempt(conn, callback_id, li, "cell1")
    c["c5b"] = await line.inbound(POOR_MOBILE, at(13, 20))
    await calls.link_callback(conn, c["c5b"], c["c5"], aid_queue, li)
    entry_id = await conn.fetchval("SELECT id FROM queue_entries WHERE call_id = $1", c["c5"])
    await callbacks.connected(conn, callback_id, entry_id, attempt_id, c["c5b"])
    await line.talk(c["c5b"], "legal_aid", li, at(13, 20, 10), at(13, 28, 10), by_caller=False)
    await line.when(
        at(13, 20, 10),
        calls.add_event(
            conn,
            c["c5"],
            CallEvent.CALLBACKATTEMPT,
            queue_id=aid_queue,
            agent_id=li,
            data={"attempt": 1, "result": "connected", "call": str(c["c5b"])},
        ),
    )
    await line.ticket(c["c5b"], "in_progress", "referred", service="法律援助")
    await line.end(c["c5b"], "answered", at(13, 28, 20))

    # c6: 昆明, legal_consult, times out after 600 s, leaves a message; the work order is answered later
    c["c6"] = await line.inbound("13908719876", at(14, 0))
    await line.enqueue(c["c6"], "legal_consult", at(14, 0, 5))
    await line.leave(c["c6"], "legal_consult", CallEvent.EXITWITHTIMEOUT, at(14, 10, 5), 600.0)
    await line.when(at(14, 10, 10), calls.add_event(conn, c["c6"], CallEvent.VOICEMAIL, data={"max_seconds": 120}))
    await line.ticket(c["c6"], "in_progress", "answered", service="法律咨询")
    await line.end(c["c6"], "voicemail", at(14, 12))

    # c7: a registered poor caller (曲靖 landline, 低保) wants legal aid; nobody staffs the queue; a message whose
    # work order nobody has touched yet
    c["c7"] = await line.inbound(POOR_LANDLINE, at(15, 0))
    await tags.add_from_flow(conn, c["c7"], aid)
    await line.enqueue(c["c7"], "legal_aid", at(15, 0, 5))
    await line.leave(c["c7"], "legal_aid", CallEvent.EXITEMPTY, at(15, 0, 5), 0.0)
    await line.when(at(15, 0, 10), calls.add_event(conn, c["c7"], CallEvent.VOICEMAIL, data={"max_seconds": 120}))
    await line.ticket(c["c7"], service="法律援助", flags=("legal_aid_hint", "registered_poor"))
    await line.end(c["c7"], "voicemail", at(15, 2))

    # c11: 昆明, listens to the menu and hangs up
    c["c11"] = await line.inbound("13888012345", at(16, 0))
    await line.end(c["c11"], "ivr_only", at(16, 1))

    # c12: 昆明, waiting in the operator queue when its cell dies
    c["c12"] = await line.inbound("13908712345", at(17, 0), cell="cell2")
    await line.enqueue(c["c12"], "operator", at(17, 0, 10))
    await line.when(at(17, 3), calls.fail_open_calls_of_cell(conn, "cell2", "cell exited"))

    # c13: 昆明, still waiting in the operator queue (the call is open)
    c["c13"] = await line.inbound("13908712345", at(18, 0), cell="cell3")
    await line.enqueue(c["c13"], "operator", at(18, 0, 10))

    # c8: 23:59:30, answered by li after midnight (22 s), 120 s; hangs up at the first survey question
    c["c8"] = await line.inbound("13908712345", at(23, 59, 30))
    await line.enqueue(c["c8"], "legal_consult", at(23, 59, 40))
    await line.talk(c["c8"], "legal_consult", li, at(0, 0, 2, NEXT_DAY), at(0, 2, 2, NEXT_DAY), by_caller=True)
    await line.survey(c["c8"], at(0, 2, 3, NEXT_DAY), ("satisfaction", None, None))
    await line.end(c["c8"], "answered", at(0, 2, 5, NEXT_DAY))

    # c9: the next day (outside the period): answered in 5 s, rated 满意
    c["c9"] = await line.inbound("13908712345", at(0, 0, 30, NEXT_DAY))
    await line.enqueue(c["c9"], "legal_consult", at(0, 0, 35, NEXT_DAY))
    await line.talk(c["c9"], "legal_consult", wang, at(0, 0, 40, NEXT_DAY), at(0, 5, 40, NEXT_DAY), by_caller=False)
    await line.survey(c["c9"], at(0, 6, 0, NEXT_DAY), ("satisfaction", 1, "满意"))
    await line.end(c["c9"], "answered", at(0, 6, 10, NEXT_DAY))

    await line.restamp_calls()
    return c


@pytest.fixture
async def day(conn: asyncpg.Connection) -> dict[str, UUID]:
    return await _day(conn)


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

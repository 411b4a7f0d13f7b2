"""One day of the hotline written with the db functions the engine uses (calls, events, queue exits, survey
answers, callbacks, work orders, flow tags, the registry), each write moved to its time in May 2024: the KPI
readers (tests/integration/test_kpi_sql.py) and the metrics collector (tests/integration/test_metrics_collector.py)
are checked against it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from db import agents, callbacks, calls, households, queues, tags, tickets
from hotline.caller.phone import parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.events import CallEvent
from hotline.kpi import KpiValue

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


async def write_day(conn: asyncpg.Connection, day: dt.datetime = DAY) -> dict[str, UUID]:
    """One day of the hotline (the expectations in the tests below are counted from this by hand), by default
    DAY; another `day` (a local midnight) moves the whole scenario there (c8 and c9 then reach into its next day)."""
    next_day = day + dt.timedelta(days=1)

    def at(hh: int, mm: int, ss: int = 0, base: dt.datetime = day) -> dt.datetime:
        return base + dt.timedelta(hours=hh, minutes=mm, seconds=ss)

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
    await line.talk(c["c8"], "legal_consult", li, at(0, 0, 2, next_day), at(0, 2, 2, next_day), by_caller=True)
    await line.survey(c["c8"], at(0, 2, 3, next_day), ("satisfaction", None, None))
    await line.end(c["c8"], "answered", at(0, 2, 5, next_day))

    # c9: the next day (outside the period): answered in 5 s, rated 满意
    c["c9"] = await line.inbound("13908712345", at(0, 0, 30, next_day))
    await line.enqueue(c["c9"], "legal_consult", at(0, 0, 35, next_day))
    await line.talk(c["c9"], "legal_consult", wang, at(0, 0, 40, next_day), at(0, 5, 40, next_day), by_caller=False)
    await line.survey(c["c9"], at(0, 6, 0, next_day), ("satisfaction", 1, "满意"))
    await line.end(c["c9"], "answered", at(0, 6, 10, next_day))

    await line.restamp_calls()
    return c

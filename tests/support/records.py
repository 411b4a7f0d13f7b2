"""The call-record and referral APIs' world for the tests: agents, calls at pinned instants with known waits and
talk times, work orders that carry referrals, the whole web app on a loopback port, and a client that keeps every
answer so a test can prove no caller number left the server in plaintext."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from aiohttp import web

from db import agents, calls, console, queues, tickets
from hotline.caller.phone import parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.clock import FrozenClock
from hotline.config import Settings
from hotline.events import CallEvent
from hotline.supervisor.service import make_app

PASSWORD = "password-123"
KEYS = NumberKeys.from_master(b"r" * 32)
TZ = dt.timezone(dt.timedelta(hours=8))
# The callers, and every written form of their numbers that must never reach a client.
KUNMING_MOBILE = "13908712345"
DALI_LANDLINE = "08722123456"
IN_FACTS = "13987654321"  # a number the agent typed into the facts
CALLERS = (KUNMING_MOBILE, "+86" + KUNMING_MOBILE, DALI_LANDLINE, "+86" + DALI_LANDLINE[1:], DALI_LANDLINE[4:])
PLAINTEXT = (*CALLERS, IN_FACTS, "+86" + IN_FACTS)
MAY_1 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=TZ)


@dataclass(frozen=True)
class SeededCall:
    id: UUID
    started_at: dt.datetime
    ticket: str | None


@dataclass
class World:
    """What the seeded database holds: the calls oldest first, the referrals' work orders by kind."""

    calls: list[SeededCall] = field(default_factory=list)
    referrals: dict[str, str] = field(default_factory=dict)  # API kind -> work-order number
    draft_referral: str = ""  # a work order whose referral is chosen but not yet made
    unreferred: str = ""  # a work order with no referral


async def seed_call(
    conn: asyncpg.Connection,
    caller: str,
    started_at: dt.datetime,
    *,
    queue: str | None = "legal_consult",
    agent_id: int | None = None,
    language: str | None = None,
    wait_s: int = 12,
    talk_s: int = 90,
) -> UUID:
    """An inbound call that started at ``started_at``, waited ``wait_s`` in ``queue`` and talked ``talk_s`` with
    ``agent_id`` (abandoned if None), then hung up; every stamp pinned."""
    call_id = await calls.start(
        conn, sip_call_id=f"sip-{started_at.isoformat()}", caller=parse_caller(caller), keys=KEYS
    )
    queue_id = None
    if queue is not None:
        queue_id = await queues.id_of(conn, queue)
        assert queue_id is not None, queue
        await calls.set_queue(conn, call_id, queue_id)
        await calls.add_event(conn, call_id, CallEvent.ENTERQUEUE, queue_id=queue_id)
        skills = [f"language:{language}"] if language else []
        await conn.execute(
            "INSERT INTO queue_entries (call_id, queue_id, cell, skills, state) VALUES ($1, $2, 'cell-a', $3, 'left')",
            call_id,
            queue_id,
            skills,
        )
    if agent_id is not None:
        await calls.answered(conn, call_id)
        await calls.set_agent(conn, call_id, agent_id)
        await calls.add_event(conn, call_id, CallEvent.CONNECT, queue_id=queue_id, agent_id=agent_id)
        await calls.add_event(conn, call_id, CallEvent.COMPLETECALLER, queue_id=queue_id, agent_id=agent_id)
    elif queue_id is not None:
        await calls.add_event(conn, call_id, CallEvent.ABANDON, queue_id=queue_id)
    await calls.end(conn, call_id, "answered" if agent_id is not None else "abandoned")
    # INCOMING at the start, ENTERQUEUE 5 s later, CONNECT after the wait, the talk, HANGUP 2 s after that
    queued = dt.timedelta(seconds=5)
    connect = queued + dt.timedelta(seconds=wait_s)
    done = connect + dt.timedelta(seconds=talk_s if agent_id is not None else 0)
    await conn.execute(
        """UPDATE calls SET started_at = $2::timestamptz,
               answered_at = CASE WHEN answered_at IS NOT NULL THEN $2::timestamptz + $3::interval END,
               ended_at = $2::timestamptz + $4::interval + interval '2 seconds' WHERE id = $1""",
        call_id,
        started_at,
        connect,
        done,
    )
    await conn.execute(
        """UPDATE call_events SET at = $2::timestamptz + CASE event WHEN 'INCOMING' THEN interval '0'
                   WHEN 'ENTERQUEUE' THEN $3::interval WHEN 'CONNECT' THEN $4::interval WHEN 'ABANDON' THEN $4
                   WHEN 'COMPLETECALLER' THEN $5::interval ELSE $5 + interval '2 seconds' END
           WHERE call_id = $1""",
        call_id,
        started_at,
        queued,
        connect,
        done,
    )
    return call_id


async def seed_ticket(
    conn: asyncpg.Connection,
    call_id: UUID,
    created_at: dt.datetime,
    *,
    referral: str | None,
    referred: bool = True,
    facts: str = "",
    legal_area: str = "劳动争议",
    service: str = "法律援助",
) -> str:
    """The work order of ``call_id``, created at ``created_at``, referred to ``referral`` (or only chosen, when
    not ``referred``)."""
    row = await conn.fetchrow("SELECT caller_masked, prefecture_code FROM calls WHERE id = $1", call_id)
    ticket = await tickets.create(
        conn,
        prefix="YN",
        tz="Asia/Shanghai",
        actor="boss",
        call_id=call_id,
        caller_masked=row["caller_masked"],
        prefecture_code=row["prefecture_code"],
        legal_area=legal_area,
        service=service,
        flags=["农民工欠薪"],
        facts=facts,
        deadline=created_at + dt.timedelta(hours=72),
        now=created_at,
    )
    if referral is None:
        return ticket.number
    await tickets.transition(conn, ticket.number, "in_progress", actor="lawyer01")
    draft = console.Draft(legal_area, service, ["农民工欠薪"], facts, "", "已转介", referral)
    await console.save_draft(conn, ticket.number, draft)
    if referred:
        await tickets.transition(conn, ticket.number, "referred", actor="lawyer01", referral=referral)
    return ticket.number


async def seed(conn: asyncpg.Connection) -> World:
    """boss (supervisor), root (admin), lawyer01 and lawyer02; eight calls a day apart from 1 May 2026 09:00
    (+08:00), alternating Kunming mobile / Dali landline and legal_consult / minority_language; one referral of
    each kind, one chosen but not yet made, one work order without."""
    await agents.create(conn, "boss", "王主任", "supervisor", PASSWORD)
    await agents.create(conn, "root", "管理员", "admin", PASSWORD)
    lawyer = await agents.create(conn, "lawyer01", "张律师", "lawyer", PASSWORD)
    await agents.create(conn, "lawyer02", "李律师", "lawyer", PASSWORD)
    world = World()
    kinds = ("legal_aid", "mediation", "notary", "appraisal", "arbitration", "other")
    labels = dict(zip(kinds, tickets.REFERRALS, strict=True))
    for i in range(8):
        started = MAY_1 + dt.timedelta(days=i)
        minority = i % 2 == 1
        call_id = await seed_call(
            conn,
            DALI_LANDLINE if minority else KUNMING_MOBILE,
            started,
            queue="minority_language" if minority else "legal_consult",
            agent_id=None if i == 7 else lawyer.id,
            language="彝语" if minority else None,
            wait_s=10 + i,
            talk_s=60 + i,
        )
        number = None
        created = started + dt.timedelta(minutes=5)
        facts = f"老板拖欠工资三个月，对方电话 {IN_FACTS}，工地在第 {i} 标段"
        if i < len(kinds):
            number = await seed_ticket(conn, call_id, created, referral=labels[kinds[i]], facts=facts)
            world.referrals[kinds[i]] = number
        elif i == 6:
            number = await seed_ticket(conn, call_id, created, referral="法律援助", referred=False, facts=facts)
            world.draft_referral = number
        world.calls.append(SeededCall(call_id, started, number))
    extra = await seed_call(conn, KUNMING_MOBILE, MAY_1 + dt.timedelta(days=8), agent_id=lawyer.id)
    world.unreferred = await seed_ticket(conn, extra, MAY_1 + dt.timedelta(days=8, minutes=5), referral=None)
    world.calls.append(SeededCall(extra, MAY_1 + dt.timedelta(days=8), world.unreferred))
    return world


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class Client:
    """A client of the live server that keeps every answer's text."""

    url: str
    session: aiohttp.ClientSession
    pool: asyncpg.Pool
    world: World
    answers: list[str] = field(default_factory=list)

    async def get(self, path: str, user: str | None = "boss", **query: str) -> tuple[int, Any]:
        headers = basic(user) if user else {}
        async with self.session.get(self.url + path, params=query, headers=headers) as resp:
            text = await resp.text()
        self.answers.append(text)
        return resp.status, json.loads(text)

    async def post(self, path: str, body: Any, user: str | None = "boss") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **(basic(user) if user else {})}
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        async with self.session.post(self.url + path, data=data, headers=headers) as resp:
            text = await resp.text()
        self.answers.append(text)
        return resp.status, json.loads(text)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async with self.pool.acquire() as conn:
            return [tuple(r) for r in await conn.fetch(sql, *args)]

    def leaked(self, numbers: tuple[str, ...] = PLAINTEXT) -> list[str]:
        """The answers that hold one of ``numbers`` in plaintext."""
        return [text for text in self.answers if any(number in text for number in numbers)]


@asynccontextmanager
async def serve(db: str) -> AsyncIterator[Client]:
    """The supervisor's whole web app over the seeded database ``db`` on a loopback port, its clock pinned."""
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        world = await seed(conn)
    runner = web.AppRunner(make_app(Settings(), pool, FrozenClock(MAY_1 + dt.timedelta(days=10))), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(f"http://127.0.0.1:{runner.addresses[0][1]}", session, pool, world)
    finally:
        await runner.cleanup()
        await pool.close()

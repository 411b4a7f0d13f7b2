"""A caller's stay in a queue as the cell runs it (hotline.cell.queueing.QueueWait), against the real
PostgreSQL; only the SIP leg is a stand-in: a caller who listens and presses nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hotline.cell import queueing
from hotline.cell.queueing import QueueWait
from hotline.cell.records import Session
from hotline.flow import Enqueue


class SilentLeg:
    def flush_digits(self) -> str:
        return ""

    def prompt(self, name: str) -> Path:
        return Path(name)

    async def start_music(self, path: Path) -> None:
        pass

    async def stop_music(self) -> None:
        pass

    async def collect_digits(self, max_digits: int, first: float, inter: float, terminator: str) -> str:
        await asyncio.sleep(first)
        return ""

    async def play(self, paths: Sequence[Path], interrupt_digits: str = "") -> str | None:
        return None


@pytest.fixture
async def pool(db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(db, min_size=1, max_size=4)
    yield p
    await p.close()


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queueing, "RECHECK_S", 0.1)


async def _member(pool: asyncpg.Pool, queue: str, state: str) -> int:
    async with pool.acquire() as conn:
        agent: int = await conn.fetchval(
            "INSERT INTO agents (username, display_name, role, state, state_reason) "
            "VALUES ($1, $1, 'mediator', $2, $3) RETURNING id",
            f"m{uuid.uuid4().hex[:8]}",
            state,
            "午休" if state == "paused" else None,
        )
        await conn.execute(
            "INSERT INTO queue_members (queue_id, agent_id) SELECT id, $2 FROM queues WHERE name = $1", queue, agent
        )
    return agent


async def _session(pool: asyncpg.Pool) -> Session:
    async with pool.acquire() as conn:
        call = await conn.fetchval(
            "INSERT INTO calls (sip_call_id, caller_masked, caller_kind) VALUES ($1, '未显示', 'withheld') "
            "RETURNING id",
            uuid.uuid4().hex,
        )
    return Session(call_id=call, pool=pool)


def _enqueue(queue: str = "mediation", max_wait: float | None = 30.0) -> Enqueue:
    return Enqueue(queue=queue, skills=(), priority=0, max_wait=max_wait, announce=None, exit_keys="")


async def _wait(pool: asyncpg.Pool, session: Session, action: Enqueue) -> Any:
    leg: Any = SilentLeg()
    return await QueueWait(pool, "cell1", front="127.0.0.1").wait(leg, session, action, 0)


async def _events(pool: asyncpg.Pool, session: Session) -> list[tuple[str, dict[str, Any]]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT event, data FROM call_events WHERE call_id = $1 ORDER BY id", session.call_id)
    return [(r["event"], json.loads(r["data"])) for r in rows]


async def test_a_waiting_caller_leaves_with_no_agents_when_the_last_member_logs_out(pool: asyncpg.Pool) -> None:
    agent = await _member(pool, "mediation", "paused")
    session = await _session(pool)
    stay = asyncio.create_task(_wait(pool, session, _enqueue()))
    await asyncio.sleep(0.5)
    assert not stay.done()  # a paused member keeps the queue staffed
    async with pool.acquire() as conn:
        await conn.execute("UPDATE agents SET state = 'logged_out' WHERE id = $1", agent)
    outcome = await asyncio.wait_for(stay, 5)
    assert outcome.kind == "no_agents"
    assert [e for e, _ in await _events(pool, session)] == ["ENTERQUEUE", "EXITEMPTY"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT state FROM queue_entries WHERE call_id = $1", session.call_id) == "left"


async def test_without_leave_when_empty_the_caller_stays_to_the_queues_own_max_wait(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE queues SET leave_when_empty = false, max_wait_seconds = 1 WHERE name = 'mediation'")
    agent = await _member(pool, "mediation", "available")
    session = await _session(pool)
    started = time.monotonic()
    stay = asyncio.create_task(_wait(pool, session, _enqueue(max_wait=None)))
    await asyncio.sleep(0.2)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE agents SET state = 'logged_out' WHERE id = $1", agent)
    outcome = await asyncio.wait_for(stay, 5)
    assert outcome.kind == "timeout"
    assert 1.0 <= time.monotonic() - started < 3.0
    assert [e for e, _ in await _events(pool, session)] == ["ENTERQUEUE", "EXITWITHTIMEOUT"]


async def test_a_caller_who_would_make_the_line_too_long_gets_full_and_no_place(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE queues SET max_length = 1 WHERE name = 'mediation'")
    await _member(pool, "mediation", "on_call")
    first = asyncio.create_task(_wait(pool, await _session(pool), _enqueue()))
    await asyncio.sleep(0.3)
    second = await _session(pool)
    outcome = await _wait(pool, second, _enqueue())
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert outcome.kind == "full"
    assert await _events(pool, second) == [
        ("ENTERQUEUE", {"priority": 0, "skills": []}),
        ("FULL", {"waited": 0.0, "in_line": 1, "max_length": 1}),
    ]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM queue_entries WHERE call_id = $1", second.call_id) == 0


async def test_join_when_empty_no_turns_a_caller_away_while_every_member_is_paused(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE queues SET join_when_empty = 'no' WHERE name = 'mediation'")
    await _member(pool, "mediation", "paused")
    session = await _session(pool)
    outcome = await _wait(pool, session, _enqueue())
    assert outcome.kind == "no_agents"
    assert (await _events(pool, session))[-1] == (
        "EXITEMPTY",
        {"waited": 0.0, "join_when_empty": "no", "logged_in": 1, "unpaused": 0},
    )

"""Several dispatchers against one real PostgreSQL: one leads, offers are fenced, nothing is assigned twice."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from hotline.acd.dispatcher import Dispatcher, LostLeadership


async def _seed(conn: asyncpg.Connection, callers: int, agents: int) -> int:
    queue_id: int = await conn.fetchval("SELECT id FROM queues WHERE name = 'legal_consult'")
    for i in range(agents):
        agent = await conn.fetchval(
            "INSERT INTO agents (username, display_name, role, state) VALUES ($1, $2, 'lawyer', 'available') "
            "RETURNING id",
            f"lawyer{i:03d}",
            f"律师{i}",
        )
        await conn.execute("INSERT INTO queue_members (queue_id, agent_id) VALUES ($1, $2)", queue_id, agent)
    for i in range(callers):
        call = await conn.fetchval(
            "INSERT INTO calls (sip_call_id, caller_masked, caller_kind) VALUES ($1, '未显示号码', 'withheld') "
            "RETURNING id",
            f"c{i}-{uuid.uuid4().hex[:6]}",
        )
        await conn.execute(
            "INSERT INTO queue_entries (call_id, queue_id, cell, priority) VALUES ($1, $2, 'cell1', $3)",
            call,
            queue_id,
            i % 3,
        )
    return queue_id


async def test_two_dispatchers_never_give_one_agent_two_callers_or_one_caller_two_agents(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=2, max_size=8)
    try:
        async with pool.acquire() as conn:
            await _seed(conn, callers=40, agents=25)
        stop = asyncio.Event()
        a, b = Dispatcher(pool, "a", poll_interval=0.1), Dispatcher(pool, "b", poll_interval=0.1)
        tasks = [asyncio.create_task(d.run(stop)) for d in (a, b)]
        async with pool.acquire() as conn:
            for _ in range(100):
                if await conn.fetchval("SELECT count(*) FROM queue_entries WHERE state = 'offered'") == 25:
                    break
                await asyncio.sleep(0.05)
            offered = await conn.fetch("SELECT id, agent_id FROM queue_entries WHERE state = 'offered'")
            reserved = await conn.fetchval("SELECT count(*) FROM agents WHERE state = 'reserved'")
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        await pool.close()
    assert len(offered) == 25 == reserved  # every agent got exactly one caller
    assert len({r["agent_id"] for r in offered}) == 25
    assert sorted((a.leading or a.stats.offers > 0, b.leading or b.stats.offers > 0)) == [False, True]


async def test_the_highest_priority_and_longest_waiting_caller_is_offered_first(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await _seed(conn, callers=6, agents=1)
        d = Dispatcher(pool, "solo")
        d.term = await _take_term(pool)
        assert await d.match_all() == 1
        async with pool.acquire() as conn:
            chosen = await conn.fetchrow("SELECT priority FROM queue_entries WHERE state = 'offered'")
        assert chosen["priority"] == 2
    finally:
        await pool.close()


async def _take_term(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        term: int = await conn.fetchval("UPDATE acd_leader SET term = term + 1 RETURNING term")
    return term


async def test_a_stale_leader_cannot_assign(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await _seed(conn, callers=1, agents=1)
            entry = await conn.fetchval("SELECT id FROM queue_entries")
            agent = await conn.fetchval("SELECT id FROM agents")
        old = Dispatcher(pool, "old")
        old.term = await _take_term(pool)
        await _take_term(pool)  # a new leader was elected meanwhile
        with pytest.raises(LostLeadership):
            await old.offer(entry, agent)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT state FROM queue_entries") == "waiting"
            assert await conn.fetchval("SELECT state FROM agents") == "available"
    finally:
        await pool.close()


async def test_killed_leader_is_replaced_and_waiting_callers_are_still_served(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=2, max_size=8)
    try:
        async with pool.acquire() as conn:
            await _seed(conn, callers=3, agents=0)
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        a = Dispatcher(pool, "a", poll_interval=0.1)
        task_a = asyncio.create_task(a.run(stop_a))
        for _ in range(50):
            if a.leading:
                break
            await asyncio.sleep(0.05)
        assert a.leading
        task_a.cancel()  # the leader dies without stepping down
        await asyncio.gather(task_a, return_exceptions=True)
        b = Dispatcher(pool, "b", poll_interval=0.1)
        task_b = asyncio.create_task(b.run(stop_b))
        async with pool.acquire() as conn:
            agent = await conn.fetchval(
                "INSERT INTO agents (username, display_name, role, state) VALUES ('late', '迟到', 'lawyer', "
                "'available') RETURNING id"
            )
            await conn.execute(
                "INSERT INTO queue_members (queue_id, agent_id) SELECT id, $1 FROM queues WHERE name = 'legal_consult'",
                agent,
            )
            for _ in range(100):
                if await conn.fetchval("SELECT count(*) FROM queue_entries WHERE state = 'offered'") == 1:
                    break
                await asyncio.sleep(0.05)
            assert await conn.fetchval("SELECT count(*) FROM queue_entries WHERE state = 'offered'") == 1
        stop_b.set()
        await task_b
        assert b.stats.terms == 1
    finally:
        await pool.close()

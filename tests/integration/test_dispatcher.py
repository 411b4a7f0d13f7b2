"""Several dispatchers against one real PostgreSQL: one leads, offers are fenced, nothing is assigned twice."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from hotline.acd.dispatcher import MIN_CALLERS_PER_QUEUE, PENALTY_STEPS, Dispatcher, LostLeadership


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


async def _agent(conn: asyncpg.Connection, name: str, queues: dict[str, int], skills: tuple[str, ...] = ()) -> int:
    """An available agent, member of `queues` (name -> penalty), holding `skills` ("kind:name", level 5)."""
    agent: int = await conn.fetchval(
        "INSERT INTO agents (username, display_name, role, state, state_changed_at) "
        "VALUES ($1, $1, 'lawyer', 'available', now() - interval '1 minute') RETURNING id",
        name,
    )
    for queue, penalty in queues.items():
        await conn.execute(
            "INSERT INTO queue_members (queue_id, agent_id, penalty) SELECT id, $2, $3 FROM queues WHERE name = $1",
            queue,
            agent,
            penalty,
        )
    for skill in skills:
        kind, _, skill_name = skill.partition(":")
        skill_id = await conn.fetchval(
            "INSERT INTO skills (kind, name) VALUES ($1, $2) ON CONFLICT (kind, name) DO UPDATE SET name = $2 "
            "RETURNING id",
            kind,
            skill_name,
        )
        await conn.execute("INSERT INTO agent_skills (agent_id, skill_id, level) VALUES ($1, $2, 5)", agent, skill_id)
    return agent


async def _caller(
    conn: asyncpg.Connection,
    queue: str,
    *,
    waited_s: float = 0,
    skills: tuple[str, ...] = (),
    not_before_s: float | None = None,
) -> int:
    """A waiting caller in `queue` who joined `waited_s` ago; `not_before_s` from now, if given."""
    call = await conn.fetchval(
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind) VALUES ($1, '未显示', 'withheld') RETURNING id",
        uuid.uuid4().hex,
    )
    entry: int = await conn.fetchval(
        """INSERT INTO queue_entries (call_id, queue_id, cell, skills, entered_at, not_before)
           SELECT $1, id, 'cell1', $3, now() - make_interval(secs => $4),
                  now() + make_interval(secs => $5) FROM queues WHERE name = $2 RETURNING id""",
        call,
        queue,
        list(skills),
        waited_s,
        not_before_s,
    )
    return entry


async def _offers(conn: asyncpg.Connection) -> dict[int, int]:
    """Offered entry -> agent."""
    return {
        r["id"]: r["agent_id"]
        for r in await conn.fetch("SELECT id, agent_id FROM queue_entries WHERE state = 'offered'")
    }


async def test_one_pass_serves_every_queue_and_an_agent_in_two_queues_gets_one_caller(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            both = await _agent(conn, "both", {"legal_aid": 0, "mediation": 0})
            aid_only = await _agent(conn, "aidonly", {"legal_aid": 0})
            # The mediation caller has waited longest, so mediation chooses first and takes the shared agent.
            mediation = await _caller(conn, "mediation", waited_s=120)
            aid = await _caller(conn, "legal_aid", waited_s=60)
            await _caller(conn, "legal_aid", waited_s=10)
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 2
            assert await _offers(conn) == {mediation: both, aid: aid_only}
            assert await conn.fetchval("SELECT count(*) FROM agents WHERE state = 'reserved'") == 2
            log = await conn.fetch("SELECT agent_id, cause, actor FROM agent_state_log WHERE to_state = 'reserved'")
            assert sorted(tuple(r) for r in log) == sorted(
                [(both, "system", "dispatcher solo"), (aid_only, "system", "dispatcher solo")]
            )
            assert await d.match_all() == 0  # nobody left to offer the third caller to
    finally:
        await pool.close()


async def test_a_callback_is_not_offered_before_its_not_before(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await _agent(conn, "lawyer1", {"legal_aid": 0})
            entry = await _caller(conn, "legal_aid", waited_s=300, not_before_s=60)
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 0
            assert await d.offer(entry, await conn.fetchval("SELECT id FROM agents")) is False
            await conn.execute("UPDATE queue_entries SET not_before = now() - interval '1 second'")
            assert await d.match_all() == 1
            assert list(await _offers(conn)) == [entry]
    finally:
        await pool.close()


async def test_an_agent_is_offered_a_caller_behind_a_long_line_that_needs_a_skill_nobody_free_has(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            agent = await _agent(conn, "lawyer1", {"minority_language": 0})
            for _ in range(3 * MIN_CALLERS_PER_QUEUE):  # ahead in line, but they need a Yi speaker
                await _caller(conn, "minority_language", waited_s=100, skills=("language:yi",))
            plain = await _caller(conn, "minority_language", waited_s=5)
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            made = [await d.match_all() for _ in range(4)]
            assert sum(made) == 1
            assert await _offers(conn) == {plain: agent}
    finally:
        await pool.close()


async def test_a_member_with_a_penalty_takes_only_callers_who_have_waited(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            backup = await _agent(conn, "backup", {"operator": 5})
            await _caller(conn, "operator", waited_s=3)
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 0
            waited = await _caller(conn, "operator", waited_s=PENALTY_STEPS[-1].after_s + 5)
            assert await d.match_all() == 1
            assert await _offers(conn) == {waited: backup}
    finally:
        await pool.close()


async def test_fewest_calls_offers_the_agent_with_fewer_calls_today_not_the_longest_idle(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.execute("UPDATE queues SET strategy = 'fewest_calls' WHERE name = 'complaints'")
            busy = await _agent(conn, "busy", {"complaints": 0})
            fresh = await _agent(conn, "fresh", {"complaints": 0})
            await conn.execute("UPDATE agents SET state_changed_at = now() - interval '10 minutes' WHERE id = $1", busy)
            for minutes in (50, 40, 30):
                await conn.execute(
                    """INSERT INTO agent_state_log (agent_id, from_state, to_state, cause, actor, at)
                       VALUES ($1, 'reserved', 'on_call', 'agent', 'busy', now() - make_interval(mins => $2)),
                              ($1, 'on_call', 'wrap_up', 'agent', 'busy', now() - make_interval(mins => $2 - 5))""",
                    busy,
                    minutes,
                )
            entry = await _caller(conn, "complaints")
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 1
            assert await _offers(conn) == {entry: fresh}
    finally:
        await pool.close()


async def test_a_queues_own_penalty_steps_keep_a_backup_member_back_longer(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                """UPDATE queues SET penalty_steps = '[{"after_seconds": 0, "max_penalty": 0},
                                                       {"after_seconds": 120, "max_penalty": 10}]'
                   WHERE name = 'operator'"""
            )
            backup = await _agent(conn, "backup", {"operator": 5})
            await _caller(conn, "operator", waited_s=60)  # the default steps would let the backup take it
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 0
            waited = await _caller(conn, "operator", waited_s=125)
            assert await d.match_all() == 1
            assert await _offers(conn) == {waited: backup}
    finally:
        await pool.close()


async def test_each_queue_ages_priority_at_its_own_rate_even_behind_a_long_line(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            # legal_aid: no aging, so priority decides; mediation: the default, a point a minute.
            await conn.execute("UPDATE queues SET priority_aging_per_minute = 0 WHERE name = 'legal_aid'")
            aid_agent = await _agent(conn, "aid", {"legal_aid": 0})
            mediation_agent = await _agent(conn, "mediator", {"mediation": 0})
            for _ in range(2 * MIN_CALLERS_PER_QUEUE):  # more than a pass reads: the query must order them too
                await _caller(conn, "legal_aid", waited_s=3600)
                await _caller(conn, "mediation", waited_s=3600)
            flagged_aid = await _caller(conn, "legal_aid", waited_s=1)
            flagged_mediation = await _caller(conn, "mediation", waited_s=1)
            await conn.execute(
                "UPDATE queue_entries SET priority = 30 WHERE id = ANY($1::bigint[])", [flagged_aid, flagged_mediation]
            )
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 2
            offers = await _offers(conn)
        assert offers[flagged_aid] == aid_agent  # priority 30 beats an hour's wait without aging
        assert flagged_mediation not in offers  # 60 points of waiting beat 30
        assert mediation_agent in offers.values()
    finally:
        await pool.close()


async def test_required_skills_are_relaxed_after_the_queues_skills_relax_after_seconds(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            agent = await _agent(conn, "mandarin", {"minority_language": 0})
            await _caller(conn, "minority_language", waited_s=100, skills=("language:yi",))
            d = Dispatcher(pool, "solo")
            d.term = await _take_term(pool)
            assert await d.match_all() == 0  # NULL: never relaxed
            await conn.execute("UPDATE queues SET skills_relax_after_seconds = 90 WHERE name = 'minority_language'")
            assert await d.match_all() == 1
            assert list((await _offers(conn)).values()) == [agent]
    finally:
        await pool.close()


async def _wait_offered(conn: asyncpg.Connection, entry: int, limit: float = 15) -> int:
    deadline = asyncio.get_running_loop().time() + limit
    while (agent := (await _offers(conn)).get(entry)) is None:
        assert asyncio.get_running_loop().time() < deadline, f"caller {entry} was not offered within {limit} s"
        await asyncio.sleep(0.2)
    return agent


async def test_hotline_dispatch_runs_alone_and_a_standby_takes_over_when_the_leader_stops(
    db: str, conn: asyncpg.Connection
) -> None:
    from tests.support.cli import finish, popen

    first = popen(db, "dispatch", "--name", "first")
    deadline = asyncio.get_running_loop().time() + 20
    while await conn.fetchval("SELECT holder FROM acd_leader") != "first":  # the first one leads
        assert asyncio.get_running_loop().time() < deadline and first.poll() is None, "hotline dispatch did not lead"
        await asyncio.sleep(0.2)
    second = popen(db, "dispatch", "--name", "second")
    try:
        alice = await _agent(conn, "alice", {"operator": 0})
        entry = await _caller(conn, "operator")
        assert await _wait_offered(conn, entry) == alice
        assert await conn.fetchval("SELECT holder FROM acd_leader") == "first"
        term = await conn.fetchval("SELECT term FROM acd_leader")
        first.terminate()  # SIGTERM: stops cleanly, its session and lock go with it
        code, err = finish(first, 15)
        assert code == 0, err
        bob = await _agent(conn, "bob", {"operator": 0})
        later = await _caller(conn, "operator")
        assert await _wait_offered(conn, later) == bob
        row = await conn.fetchrow("SELECT holder, term FROM acd_leader")
        assert (row["holder"], row["term"]) == ("second", term + 1)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.terminate()
                finish(proc, 15)
    assert second.returncode == 0

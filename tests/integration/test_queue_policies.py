"""Queue waiting policies and per-queue ACD rules against the real PostgreSQL: who joins a queue (db.queues),
and which rule values the database refuses."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from db import queues
from hotline.acd.dispatcher import PENALTY_STEPS, penalty_steps_from_json
from hotline.acd.strategies import QueueRules
from hotline.acd.waiting import JoinWhenEmpty


async def _queue(conn: asyncpg.Connection, name: str = "mediation") -> int:
    queue_id: int = await conn.fetchval("SELECT id FROM queues WHERE name = $1", name)
    return queue_id


async def _member(conn: asyncpg.Connection, queue_id: int, name: str, state: str) -> int:
    agent: int = await conn.fetchval(
        "INSERT INTO agents (username, display_name, role, state, state_reason) VALUES ($1, $1, 'mediator', $2, $3) "
        "RETURNING id",
        name,
        state,
        "午休" if state == "paused" else None,
    )
    await conn.execute("INSERT INTO queue_members (queue_id, agent_id) VALUES ($1, $2)", queue_id, agent)
    return agent


async def _call(conn: asyncpg.Connection) -> uuid.UUID:
    call: uuid.UUID = await conn.fetchval(
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind) VALUES ($1, '未显示', 'withheld') RETURNING id",
        uuid.uuid4().hex,
    )
    return call


async def _join(conn: asyncpg.Connection, queue_id: int) -> queues.Join:
    return await queues.join(conn, queue_id, await _call(conn), "cell1", 0, [])


async def test_shipped_queues_refuse_callers_when_no_member_is_logged_in_and_take_them_when_one_is_paused(
    conn: asyncpg.Connection,
) -> None:
    queue_id = await _queue(conn)
    nobody = await _join(conn, queue_id)
    assert (nobody.refused, nobody.entry_id) == ("no_agents", None)
    assert await conn.fetchval("SELECT count(*) FROM queue_entries") == 0
    await _member(conn, queue_id, "m1", "logged_out")
    assert (await _join(conn, queue_id)).refused == "no_agents"
    await _member(conn, queue_id, "m2", "paused")
    joined = await _join(conn, queue_id)
    assert joined.refused is None and joined.entry_id is not None
    assert joined.policy.join_when_empty is JoinWhenEmpty.PAUSED_OK and joined.policy.leave_when_empty
    assert joined.policy.max_wait_s == 600.0  # 0002_default_queues
    assert await conn.fetchval("SELECT state FROM queue_entries WHERE id = $1", joined.entry_id) == "waiting"


async def test_join_when_empty_no_refuses_a_queue_whose_members_are_all_paused(conn: asyncpg.Connection) -> None:
    queue_id = await _queue(conn)
    await conn.execute("UPDATE queues SET join_when_empty = 'no' WHERE id = $1", queue_id)
    await _member(conn, queue_id, "m1", "paused")
    refused = await _join(conn, queue_id)
    assert refused.refused == "no_agents"
    assert (refused.staffing.logged_in, refused.staffing.unpaused) == (1, 0)
    await _member(conn, queue_id, "m2", "wrap_up")
    assert (await _join(conn, queue_id)).refused is None


async def test_join_when_empty_yes_lets_a_caller_wait_in_a_queue_nobody_is_logged_in_to(
    conn: asyncpg.Connection,
) -> None:
    queue_id = await _queue(conn)
    await conn.execute("UPDATE queues SET join_when_empty = 'yes' WHERE id = $1", queue_id)
    joined = await _join(conn, queue_id)
    assert joined.refused is None and joined.staffing.logged_in == 0


async def test_a_full_queue_refuses_the_next_caller_and_callbacks_hold_their_places(
    conn: asyncpg.Connection,
) -> None:
    queue_id = await _queue(conn)
    await conn.execute("UPDATE queues SET max_length = 3 WHERE id = $1", queue_id)
    await _member(conn, queue_id, "m1", "available")
    assert [(await _join(conn, queue_id)).refused for _ in range(2)] == [None, None]
    # A caller who asked for a callback keeps a place in line.
    await conn.execute(
        "INSERT INTO queue_entries (call_id, queue_id, cell) VALUES ($1, $2, 'callback')", await _call(conn), queue_id
    )
    full = await _join(conn, queue_id)
    assert (full.refused, full.in_line, full.policy.max_length) == ("full", 3, 3)
    await conn.execute("UPDATE queue_entries SET state = 'left' WHERE cell = 'callback'")
    assert (await _join(conn, queue_id)).refused is None


async def test_callers_racing_for_the_last_place_in_a_queue_do_not_both_get_it(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=6, max_size=6)
    try:
        async with pool.acquire() as conn:
            queue_id = await _queue(conn)
            await conn.execute("UPDATE queues SET max_length = 1 WHERE id = $1", queue_id)
            await _member(conn, queue_id, "m1", "available")

        async def one() -> queues.Join:
            async with pool.acquire() as conn:
                return await _join(conn, queue_id)

        results = await asyncio.gather(*(one() for _ in range(6)))
        async with pool.acquire() as conn:
            in_line = await conn.fetchval("SELECT count(*) FROM queue_entries WHERE state = 'waiting'")
    finally:
        await pool.close()
    assert sorted(str(r.refused) for r in results) == ["None"] + ["full"] * 5
    assert in_line == 1


async def test_a_second_stay_of_the_same_call_does_not_count_itself_in_line(conn: asyncpg.Connection) -> None:
    queue_id = await _queue(conn)
    await conn.execute("UPDATE queues SET max_length = 1 WHERE id = $1", queue_id)
    await _member(conn, queue_id, "m1", "available")
    call = await _call(conn)
    first = await queues.join(conn, queue_id, call, "cell1", 0, [])
    again = await queues.join(conn, queue_id, call, "cell1", 5, [])
    assert again.refused is None and again.entry_id == first.entry_id
    assert await conn.fetchval("SELECT priority FROM queue_entries WHERE id = $1", first.entry_id) == 5


async def test_staffing_counts_logged_in_and_unpaused_active_members(conn: asyncpg.Connection) -> None:
    queue_id = await _queue(conn)
    for i, state in enumerate(("available", "on_call", "paused", "logged_out")):
        await _member(conn, queue_id, f"m{i}", state)
    gone = await _member(conn, queue_id, "gone", "available")
    await conn.execute("UPDATE agents SET active = false WHERE id = $1", gone)
    found = await queues.staffing(conn, queue_id)
    assert (found.logged_in, found.unpaused) == (3, 2)


async def test_queue_rule_defaults_are_the_rules_the_dispatcher_used_for_every_queue(
    conn: asyncpg.Connection,
) -> None:
    rows = await conn.fetch(
        "SELECT priority_aging_per_minute, penalty_steps::text, skills_relax_after_seconds FROM queues"
    )
    assert len(rows) == 8
    for aging, steps, relax in rows:
        assert aging == QueueRules().aging_per_minute
        assert penalty_steps_from_json(steps) == PENALTY_STEPS
        assert relax is None


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("priority_aging_per_minute", -1, "queues_priority_aging_range"),
        ("priority_aging_per_minute", float("nan"), "queues_priority_aging_range"),
        ("priority_aging_per_minute", 61, "queues_priority_aging_range"),
        ("skills_relax_after_seconds", -5, "queues_skills_relax_range"),
        ("penalty_steps", [], "queues_penalty_steps_valid"),
        ("penalty_steps", {"after_seconds": 0, "max_penalty": 0}, "queues_penalty_steps_valid"),
        ("penalty_steps", [{"after_seconds": 0}], "queues_penalty_steps_valid"),
        ("penalty_steps", [{"after_seconds": 0, "max_penalty": 0, "tier": 1}], "queues_penalty_steps_valid"),
        ("penalty_steps", [{"after_seconds": "30", "max_penalty": 5}], "queues_penalty_steps_valid"),
        ("penalty_steps", [{"after_seconds": 2.5, "max_penalty": 5}], "queues_penalty_steps_valid"),
        ("penalty_steps", [{"after_seconds": 0, "max_penalty": 101}], "queues_penalty_steps_valid"),
        ("penalty_steps", [{"after_seconds": -1, "max_penalty": 0}], "queues_penalty_steps_valid"),
        (
            "penalty_steps",
            [{"after_seconds": 60, "max_penalty": 5}, {"after_seconds": 30, "max_penalty": 9}],
            "queues_penalty_steps_valid",
        ),
        (
            "penalty_steps",
            [{"after_seconds": 0, "max_penalty": 9}, {"after_seconds": 30, "max_penalty": 5}],
            "queues_penalty_steps_valid",
        ),
        ("max_length", 0, "queues_max_length_check"),
        ("join_when_empty", "sometimes", "queues_join_when_empty_check"),
    ],
)
async def test_bad_queue_rules_are_refused_by_a_named_constraint_and_the_stored_value_stays(
    conn: asyncpg.Connection, column: str, value: object, constraint: str
) -> None:
    before = await conn.fetchrow("SELECT * FROM queues WHERE name = 'legal_aid'")
    cast = "::jsonb" if column == "penalty_steps" else ""
    sent = json.dumps(value) if column == "penalty_steps" else value
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await conn.execute(f"UPDATE queues SET {column} = $1{cast} WHERE name = 'legal_aid'", sent)
    assert refused.value.constraint_name == constraint
    assert await conn.fetchrow("SELECT * FROM queues WHERE name = 'legal_aid'") == before


async def test_a_queue_takes_custom_rules_as_in_the_readme(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """UPDATE queues SET priority_aging_per_minute = 2,
               penalty_steps = '[{"after_seconds": 0, "max_penalty": 0}, {"after_seconds": 20, "max_penalty": 10},
                                 {"after_seconds": 60, "max_penalty": 100}]',
               skills_relax_after_seconds = 120
           WHERE name = 'legal_consult'"""
    )
    steps = await conn.fetchval("SELECT penalty_steps::text FROM queues WHERE name = 'legal_consult'")
    assert [(s.after_s, s.max_penalty) for s in penalty_steps_from_json(steps)] == [(0, 0), (20, 10), (60, 100)]

"""The ACD dispatcher's statements: leadership (a session advisory lock and the fencing term in `acd_leader`),
the two reads of a matching pass, the one statement that makes all of a pass's offers, and the repairs of the
reconciliation pass. The planning in between is hotline.acd.dispatcher's, on the rows these functions return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LEADER_LOCK = 0x12348_0002  # pg_try_advisory_lock key of the dispatcher leadership
CHANGES = "acd"  # NOTIFY'd by triggers when a caller joins or an agent changes state (0004)
OFFERS = "acd_offer"  # NOTIFY'd with the entry id of every offer made


async def try_lead(conn: Any) -> bool:
    """Take the leadership lock on this session if nobody holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))


async def new_term(conn: Any, holder: str) -> int:
    """Bump the fencing term (a stale leader's offers are refused from now on); returns the new term."""
    term: int = await conn.fetchval(
        "UPDATE acd_leader SET term = term + 1, holder = $1, since = now() RETURNING term", holder
    )
    return term


async def resign(conn: Any) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", LEADER_LOCK)


@dataclass(frozen=True)
class AvailableAgent:
    """An available member of a queue that has a caller who may be offered now, with the queue's rules."""

    queue_id: int
    strategy: str
    priority_aging_per_minute: float
    penalty_steps: str  # JSON text
    skills_relax_after_seconds: int | None
    id: int
    idle_since: float  # epoch seconds of the last state change
    penalty: int
    tier: int
    skills: list[str]  # kind:name
    levels: list[int]  # of each skill
    calls: int  # calls taken today (only for the strategies that rank by it, else 0)
    talk: float  # seconds talked today (likewise)
    simulated: bool  # a simulator's agent: it takes simulated callers only, and they take only such agents

    @classmethod
    def from_row(cls, row: Any) -> AvailableAgent:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


# Available agents of every queue with a caller who may be offered now, with what the strategies rank by, and
# the queue's rules on every row. Calls and talk time today are counted (from agent_state_log) only for the
# strategies that use them.
_AVAILABLE_AGENTS = """
SELECT m.queue_id, q.strategy, q.priority_aging_per_minute, q.penalty_steps::text AS penalty_steps,
       q.skills_relax_after_seconds, a.id, extract(epoch FROM a.state_changed_at)::float8 AS idle_since,
       m.penalty, m.tier, coalesce(sk.names, '{}') AS skills, coalesce(sk.levels, '{}') AS levels,
       coalesce(today.calls, 0) AS calls, coalesce(today.talk, 0)::float8 AS talk, a.simulated
FROM agents a
JOIN queue_members m ON m.agent_id = a.id
JOIN queues q ON q.id = m.queue_id
LEFT JOIN LATERAL (
    SELECT array_agg(s.kind || ':' || s.name) AS names, array_agg(k.level) AS levels
    FROM agent_skills k JOIN skills s ON s.id = k.skill_id WHERE k.agent_id = a.id) sk ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS calls, sum(extract(epoch FROM l.until - l.at)) AS talk
    FROM (SELECT to_state, at, lead(at, 1, now()) OVER (ORDER BY at, id) AS until FROM agent_state_log
          WHERE agent_id = a.id AND at >= date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1) l
    WHERE l.to_state = 'on_call' AND q.strategy IN ('fewest_calls', 'least_talk_time')) today ON true
WHERE a.state = 'available' AND a.active
  AND EXISTS (SELECT 1 FROM queue_entries e WHERE e.queue_id = m.queue_id AND e.state = 'waiting'
                  AND (e.not_before IS NULL OR e.not_before <= now()))
"""


async def available_agents(conn: Any, timezone: str) -> list[AvailableAgent]:
    """One row per (queue, agent); "today" starts at midnight in `timezone`."""
    return [AvailableAgent.from_row(r) for r in await conn.fetch(_AVAILABLE_AGENTS, timezone)]


@dataclass(frozen=True)
class WaitingCaller:
    queue_id: int
    id: int  # queue entry
    priority: int
    skills: list[str]
    entered: float  # epoch seconds, PostgreSQL's clock
    simulated: bool  # the caller's call is the simulator's


@dataclass(frozen=True)
class Waiting:
    callers: list[WaitingCaller]
    db_now: float | None  # PostgreSQL's clock (epoch seconds) when read; None when nobody waits


# The first `cap` callers of each queue in the order `order_callers` serves them: highest priority plus
# `aging` points per minute waited first, i.e. lowest entered_at (in minutes) * aging - priority.
_WAITING = """
SELECT e.queue_id, e.id, e.priority, e.skills, extract(epoch FROM e.entered_at)::float8 AS entered,
       extract(epoch FROM now())::float8 AS db_now, e.simulated
FROM unnest($1::int[], $2::int[], $3::float8[]) AS q (id, cap, aging)
CROSS JOIN LATERAL (
    SELECT w.id, w.queue_id, w.priority, w.skills, w.entered_at, c.simulated
    FROM queue_entries w JOIN calls c ON c.id = w.call_id
    WHERE w.queue_id = q.id AND w.state = 'waiting' AND (w.not_before IS NULL OR w.not_before <= now())
    ORDER BY extract(epoch FROM w.entered_at)::float8 / 60 * q.aging - w.priority, w.entered_at, w.id
    LIMIT q.cap) e
"""


async def waiting(conn: Any, caps: Mapping[int, int], aging: Sequence[float]) -> Waiting:
    """The first `caps[queue]` callers who may be offered now of each queue, in serving order with the queue's
    `aging` (points per minute waited; one per queue, in the order of `caps`)."""
    rows = await conn.fetch(_WAITING, list(caps), list(caps.values()), list(aging))
    callers = [
        WaitingCaller(r["queue_id"], r["id"], r["priority"], list(r["skills"]), r["entered"], r["simulated"])
        for r in rows
    ]
    return Waiting(callers, rows[-1]["db_now"] if rows else None)


@dataclass(frozen=True)
class Offers:
    term: int  # the current term: the offers were made only if it is the caller's
    made: list[tuple[int, int]]  # (entry id, agent id)


# All of a pass's offers in one statement (one transaction): the term row FOR SHARE (a new leader's bump waits
# for it) and checked, the agents and callers still free taken SKIP LOCKED, agents available -> reserved,
# callers waiting -> offered, the state log, and NOTIFY 'acd_offer' per offer at commit. One row with the
# current term, plus one per offer made.
_OFFER = f"""
WITH leader AS MATERIALIZED (SELECT term FROM acd_leader FOR SHARE),
free AS MATERIALIZED (
    SELECT id FROM agents WHERE id = ANY($2::int[]) AND state = 'available' AND active
        AND (SELECT term FROM leader) = $3
    FOR UPDATE SKIP LOCKED),
waiting AS MATERIALIZED (
    SELECT id, call_id FROM queue_entries WHERE id = ANY($1::bigint[]) AND state = 'waiting'
        AND (not_before IS NULL OR not_before <= now()) AND (SELECT term FROM leader) = $3
    FOR UPDATE SKIP LOCKED),
chosen AS MATERIALIZED (
    SELECT p.entry, p.agent, w.call_id FROM unnest($1::bigint[], $2::int[]) AS p (entry, agent)
    JOIN free f ON f.id = p.agent JOIN waiting w ON w.id = p.entry),
reserved AS (
    UPDATE agents a SET state = 'reserved', state_reason = NULL, state_changed_at = now()
    FROM chosen c WHERE a.id = c.agent),
offered AS (
    UPDATE queue_entries e SET state = 'offered', agent_id = c.agent, offer_term = $3, offered_at = now()
    FROM chosen c WHERE e.id = c.entry),
logged AS (
    INSERT INTO agent_state_log (agent_id, from_state, to_state, cause, actor, call_id)
    SELECT agent, 'available', 'reserved', 'system', $4, call_id FROM chosen)
SELECT l.term, c.entry, c.agent, CASE WHEN c.entry IS NOT NULL THEN pg_notify('{OFFERS}', c.entry::text) END
FROM leader l LEFT JOIN chosen c ON true
"""


async def offer(conn: Any, pairs: Mapping[int, int], term: int, actor: str) -> Offers:
    """Reserve agents for callers (entry id -> agent id, each agent once) in one statement fenced by `term`."""
    rows = await conn.fetch(_OFFER, list(pairs), list(pairs.values()), term, actor)
    return Offers(rows[0]["term"], [(r["entry"], r["agent"]) for r in rows if r["entry"] is not None])


async def release_stale(conn: Any, stale_offer_s: float) -> None:
    """Put callers and callbacks back where they belong after a dead cell or a lost message: callers whose call
    ended leave the line (except those waiting for a callback), a callback whose dialling cell died waits again,
    and offers no cell acted on for `stale_offer_s` go back to the queue."""
    await conn.execute(
        """UPDATE queue_entries e SET state = 'left' FROM calls c
           WHERE c.id = e.call_id AND e.state IN ('waiting', 'offered') AND c.ended_at IS NOT NULL
             AND e.callback_id IS NULL"""
    )
    # its offer went back to the queue, so may the callback
    await conn.execute(
        """UPDATE callbacks c SET status = 'waiting', cell = NULL FROM queue_entries e
           WHERE e.callback_id = c.id AND c.status = 'dialing' AND e.state = 'waiting'"""
    )
    await conn.execute(
        """UPDATE queue_entries SET state = 'waiting', agent_id = NULL, offered_at = NULL
           WHERE state = 'offered' AND offered_at < now() - make_interval(secs => $1)""",
        stale_offer_s,
    )


async def stuck_agents(conn: Any) -> list[tuple[int, str]]:
    """(agent id, state) of agents reserved without an open offer, on a call without a live call, or in wrap-up
    for longer than their queues' wrapup_seconds (30 s without a queue); rows locked (SKIP LOCKED)."""
    rows = await conn.fetch(
        """SELECT a.id, a.state FROM agents a
           WHERE (a.state = 'reserved' AND NOT EXISTS (
                      SELECT 1 FROM queue_entries e WHERE e.agent_id = a.id AND e.state = 'offered'))
              OR (a.state = 'on_call' AND NOT EXISTS (
                      SELECT 1 FROM queue_entries e JOIN calls c ON c.id = e.call_id
                      WHERE e.agent_id = a.id AND e.state = 'connected' AND c.ended_at IS NULL)
                  AND NOT EXISTS (  -- a callback conversation is a call of its own
                      SELECT 1 FROM calls c WHERE c.agent_id = a.id AND c.direction = 'callback'
                      AND c.ended_at IS NULL))
              OR (a.state = 'wrap_up' AND a.state_changed_at < now() - make_interval(secs => coalesce(
                      (SELECT max(q.wrapup_seconds) FROM queue_members m JOIN queues q ON q.id = m.queue_id
                       WHERE m.agent_id = a.id), 30)))
           FOR UPDATE OF a SKIP LOCKED"""
    )
    return [(r["id"], r["state"]) for r in rows]

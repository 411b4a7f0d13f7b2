"""The ACD dispatcher: one leader at a time matches waiting callers with available agents in PostgreSQL.

Leadership is a session advisory lock; each new leader bumps `acd_leader.term`, and every offer checks that
term inside its statement, so a stale leader (one that lost its lock but has not noticed) cannot assign.

A matching pass costs two reads and one write whatever the number of queues: the available agents of every
queue that has callers waiting, with each queue's rules (strategy, priority aging, penalty steps, skills
relaxation: one query), the first callers of those queues (one query, a bounded number per queue), the pure
`hotline.acd.strategies.match` per queue in Python (an agent offered in one queue is not
offered in another in the same pass), then one statement for all the offers: each agent available ->
reserved and each caller waiting -> offered, rows taken with SKIP LOCKED; a unique index allows one open offer
per agent. A caller whose `not_before` (a callback's retry spacing) is still ahead is not offered; the poll
finds it once that time has passed.

The leader runs its passes on the session that holds the lock. It wakes on NOTIFY 'acd' from other sessions
(callers joining, agents changing state; its own offers are no news) and polls as a fallback; the owning cell
learns of the offer through NOTIFY 'acd_offer'. A reconciliation pass repairs agents and callers
left in a wrong state by a dead cell or a lost message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from db import agents
from hotline.acd.strategies import Agent, Caller, PenaltyStep, QueueRules, Strategy, match, score
from hotline.clock import SYSTEM, Clock

log = logging.getLogger(__name__)

LEADER_LOCK = 0x12348_0002
STALE_OFFER_S = 60.0  # an offer no cell acted on (cell died) goes back to the queue after this
# A pass reads at most this many waiting callers of a queue: the larger of the two figures below. For a queue
# whose available agents found no taker among the callers read (required skills), the next pass reads twice as
# many, and so on, until they find one or every caller is read.
MIN_CALLERS_PER_QUEUE = 32
CALLERS_PER_FREE_AGENT = 4
# The default of `queues.penalty_steps`: members with a penalty take a queue's calls once the caller has waited
# 30 s (lower penalties first).
PENALTY_STEPS = (PenaltyStep(0, 0), PenaltyStep(30, 100))


class LostLeadership(Exception):
    pass


@dataclass
class Stats:
    offers: int = 0
    refused: int = 0
    terms: int = 0


def rules_for(
    strategy: Strategy,
    aging_per_minute: float = 1.0,
    penalty_steps: tuple[PenaltyStep, ...] = PENALTY_STEPS,
    skills_after_s: float | None = None,
) -> QueueRules:
    """The rules a queue is matched with (the defaults are those of the `queues` columns). A cell rings one
    phone per offer, so ring-all offers the caller to the longest-idle agent (the order ring-all ranks in) and
    leaves the others for the next callers."""
    if strategy is Strategy.RING_ALL:
        strategy = Strategy.LONGEST_IDLE
    return QueueRules(
        strategy=strategy, aging_per_minute=aging_per_minute, penalty_steps=penalty_steps, skills_after_s=skills_after_s
    )


def penalty_steps_from_json(text: str) -> tuple[PenaltyStep, ...]:
    """`queues.penalty_steps` ([{"after_seconds": 30, "max_penalty": 100}, ...], checked by the database)."""
    return tuple(PenaltyStep(float(s["after_seconds"]), int(s["max_penalty"])) for s in json.loads(text))


def _rules_of(row: Any) -> QueueRules:
    relax = row["skills_relax_after_seconds"]
    return rules_for(
        Strategy(row["strategy"]),
        aging_per_minute=row["priority_aging_per_minute"],
        penalty_steps=penalty_steps_from_json(row["penalty_steps"]),
        skills_after_s=None if relax is None else float(relax),
    )


@dataclass
class QueueWork:
    """One queue in one pass: its rules, its available agents and its first waiting callers."""

    rules: QueueRules
    agents: list[Agent] = field(default_factory=list)
    callers: list[Caller] = field(default_factory=list)


def plan(queues: Mapping[int, QueueWork], now: float, last_agent: Mapping[int, int]) -> list[tuple[int, int, int]]:
    """A pass's offers as (queue id, entry id, agent id), pure. The queue whose best caller scores highest
    chooses first; an agent offered in one queue is not offered again in another."""

    def best(queue_id: int) -> tuple[float, int]:
        work = queues[queue_id]
        return (-max((score(c, work.rules, now) for c in work.callers), default=float("-inf")), queue_id)

    taken: set[int] = set()
    out: list[tuple[int, int, int]] = []
    for queue_id in sorted(queues, key=best):
        work = queues[queue_id]
        free = [a for a in work.agents if a.id not in taken]
        if not free or not work.callers:
            continue
        for offer in match(work.callers, free, work.rules, now, last_agent.get(queue_id)):
            agent_id = offer.agent_ids[0]
            taken.add(agent_id)
            out.append((queue_id, int(offer.caller_id), agent_id))
    return out


# Available agents of every queue with a caller who may be offered now, with what the strategies rank by, and
# the queue's rules on every row. Calls and talk time today are counted (from agent_state_log) only for the
# strategies that use them.
_FREE_AGENTS = """
SELECT m.queue_id, q.strategy, q.priority_aging_per_minute, q.penalty_steps::text AS penalty_steps,
       q.skills_relax_after_seconds, a.id, extract(epoch FROM a.state_changed_at)::float8 AS idle_since,
       m.penalty, m.tier, coalesce(sk.names, '{}') AS skills, coalesce(sk.levels, '{}') AS levels,
       coalesce(today.calls, 0) AS calls, coalesce(today.talk, 0)::float8 AS talk
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
# The first `cap` callers of each queue in the order `order_callers` serves them: highest priority plus
# `aging` points per minute waited first, i.e. lowest entered_at (in minutes) * aging - priority.
_WAITING = """
SELECT e.queue_id, e.id, e.priority, e.skills, extract(epoch FROM e.entered_at)::float8 AS entered,
       extract(epoch FROM now())::float8 AS db_now
FROM unnest($1::int[], $2::int[], $3::float8[]) AS q (id, cap, aging)
CROSS JOIN LATERAL (
    SELECT id, queue_id, priority, skills, entered_at FROM queue_entries
    WHERE queue_id = q.id AND state = 'waiting' AND (not_before IS NULL OR not_before <= now())
    ORDER BY extract(epoch FROM entered_at)::float8 / 60 * q.aging - priority, entered_at, id
    LIMIT q.cap) e
"""
# All of a pass's offers in one statement (one transaction): the term row FOR SHARE (a new leader's bump waits
# for it) and checked, the agents and callers still free taken SKIP LOCKED, agents available -> reserved,
# callers waiting -> offered, the state log, and NOTIFY 'acd_offer' per offer at commit. One row with the
# current term, plus one per offer made.
_OFFER = """
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
SELECT l.term, c.entry, c.agent, CASE WHEN c.entry IS NOT NULL THEN pg_notify('acd_offer', c.entry::text) END
FROM leader l LEFT JOIN chosen c ON true
"""


class Dispatcher:
    """Run with `await run(stop)`; any number may run, on any machine: one leads, the others wait.

    `timezone` sets where "today" starts for the fewest-calls and least-talk-time strategies."""

    def __init__(
        self,
        pool: Any,
        name: str,
        poll_interval: float = 1.0,
        reconcile_interval: float = 5.0,
        timezone: str = "Asia/Shanghai",
        clock: Clock = SYSTEM,
    ) -> None:
        self.pool, self.name, self.clock = pool, name, clock
        self.poll_interval, self.reconcile_interval = poll_interval, reconcile_interval
        self.timezone = timezone
        self.term: int | None = None
        self.stats = Stats()
        self._wake = asyncio.Event()
        self._last_agent: dict[int, int] = {}  # per queue, for round robin
        self._deeper: dict[int, int] = {}  # per queue: read this many callers next pass (see MIN_CALLERS_PER_QUEUE)
        self._session: Any = None  # while leading: the connection that holds the lock, used for every pass
        self._session_pid: int | None = None

    @property
    def leading(self) -> bool:
        return self.term is not None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._lead(stop)
            except (OSError, LostLeadership) as exc:
                log.warning("dispatcher %s: leadership lost: %s", self.name, exc)
            except Exception as exc:
                if type(exc).__module__.startswith("asyncpg"):
                    log.warning("dispatcher %s: database error, retrying: %s", self.name, exc)
                else:
                    raise
            self.term = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def _lead(self, stop: asyncio.Event) -> None:
        async with self.pool.acquire() as lock_conn:
            if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
                return
            self._session, self._session_pid = lock_conn, lock_conn.get_server_pid()
            try:
                self.term = await lock_conn.fetchval(
                    "UPDATE acd_leader SET term = term + 1, holder = $1, since = now() RETURNING term", self.name
                )
                self.stats.terms += 1
                log.info("dispatcher %s leads (term %d)", self.name, self.term)
                await lock_conn.add_listener("acd", self._notified)
                next_reconcile = 0.0
                while not stop.is_set():
                    self._wake.clear()
                    await self.match_all()  # runs on this session, so it also proves the lock is still held
                    if self.clock.monotonic() >= next_reconcile:
                        await self.reconcile()
                        next_reconcile = self.clock.monotonic() + self.reconcile_interval
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            finally:
                self._session = self._session_pid = None
                with contextlib.suppress(Exception):
                    await lock_conn.remove_listener("acd", self._notified)
                    await lock_conn.execute("SELECT pg_advisory_unlock($1)", LEADER_LOCK)

    def _notified(self, _conn: Any, pid: int, _channel: str, _payload: str) -> None:
        # This session's own offers change agents and callers too; they are no reason for another pass.
        if pid != self._session_pid:
            self._wake.set()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """The leader's own session while leading (one pass at a time uses it), else one from the pool."""
        if self._session is not None:
            yield self._session
        else:
            async with self.pool.acquire() as conn:
                yield conn

    async def match_all(self) -> int:
        """One matching pass over every queue with callers waiting and agents available; returns the offers
        made."""
        work: dict[int, QueueWork] = {}
        async with self._connection() as conn:
            for r in await conn.fetch(_FREE_AGENTS, self.timezone):
                queue = work.get(r["queue_id"])
                if queue is None:
                    queue = work[r["queue_id"]] = QueueWork(_rules_of(r))
                queue.agents.append(
                    Agent(
                        r["id"],
                        r["idle_since"],
                        calls_today=r["calls"],
                        talk_seconds_today=r["talk"],
                        penalty=r["penalty"],
                        tier=r["tier"],
                        skills=dict(zip(r["skills"], r["levels"], strict=True)),
                    )
                )
            if not work:
                return 0
            caps = {q: self._cap(q, len(w.agents)) for q, w in work.items()}
            aging = [work[q].rules.aging_per_minute for q in caps]
            db_now = None  # waits are measured on the clock that stamped entered_at: PostgreSQL's
            for r in await conn.fetch(_WAITING, list(caps), list(caps.values()), aging):
                db_now = r["db_now"]
                work[r["queue_id"]].callers.append(
                    Caller(str(r["id"]), r["entered"], r["priority"], tuple(r["skills"]))
                )
        if db_now is None:
            return 0
        planned = plan(work, db_now, self._last_agent)
        made = set(await self.offer_many([(entry, agent) for _, entry, agent in planned]))
        offered = {agent for _, _, agent in planned}
        for queue_id, entry, agent in planned:
            if (entry, agent) in made:
                self._last_agent[queue_id] = agent
        for queue_id, queue in work.items():
            if all(a.id in offered for a in queue.agents):
                self._deeper.pop(queue_id, None)
            elif len(queue.callers) >= caps[queue_id]:  # agents left over, callers not read: read further
                self._deeper[queue_id] = caps[queue_id] * 2
                self._wake.set()
        return len(made)

    def _cap(self, queue_id: int, free_agents: int) -> int:
        base = max(MIN_CALLERS_PER_QUEUE, CALLERS_PER_FREE_AGENT * free_agents)
        return max(base, self._deeper.get(queue_id, 0))

    async def offer(self, entry_id: int, agent_id: int) -> bool:
        """Reserve one agent for one caller (see `offer_many`)."""
        return bool(await self.offer_many([(entry_id, agent_id)]))

    async def offer_many(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Reserve agents for callers, (entry id, agent id) pairs, in one transaction fenced by this leader's
        term; returns the pairs made.

        Rows another transaction holds are skipped (SKIP LOCKED) and stay for the next pass; a pair whose
        agent is no longer available or whose caller is no longer waiting (or not yet: `not_before`) is
        dropped, and so is a pair repeating an agent or a caller of an earlier pair.
        """
        if self.term is None:
            raise LostLeadership("not the leader")
        unique: dict[int, int] = {}
        seen: set[int] = set()
        for entry, agent in pairs:
            if entry not in unique and agent not in seen:
                unique[entry] = agent
                seen.add(agent)
        if not unique:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(_OFFER, list(unique), list(unique.values()), self.term, f"dispatcher {self.name}")
        if rows[0]["term"] != self.term:
            raise LostLeadership(f"term {self.term} is stale (current {rows[0]['term']})")
        chosen = [r for r in rows if r["entry"] is not None]
        self.stats.refused += len(pairs) - len(chosen)
        self.stats.offers += len(chosen)
        return [(r["entry"], r["agent"]) for r in chosen]

    async def reconcile(self) -> None:
        """Repair what a dead cell or a lost message left behind."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Callers whose call has ended leave the queue, except those waiting for a callback.
            await conn.execute(
                """UPDATE queue_entries e SET state = 'left' FROM calls c
                   WHERE c.id = e.call_id AND e.state IN ('waiting', 'offered') AND c.ended_at IS NOT NULL
                     AND e.callback_id IS NULL"""
            )
            # A callback whose dialling cell died: its offer went back to the queue, so may it.
            await conn.execute(
                """UPDATE callbacks c SET status = 'waiting', cell = NULL FROM queue_entries e
                   WHERE e.callback_id = c.id AND c.status = 'dialing' AND e.state = 'waiting'"""
            )
            # Offers no cell acted on go back to the queue.
            await conn.execute(
                """UPDATE queue_entries SET state = 'waiting', agent_id = NULL, offered_at = NULL
                   WHERE state = 'offered' AND offered_at < now() - make_interval(secs => $1)""",
                STALE_OFFER_S,
            )
            stuck = await conn.fetch(
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
            for row in stuck:
                cause, reason = (
                    ("system", "wrap-up over")
                    if row["state"] == "wrap_up"
                    else ("reconcile", f"{row['state']} without a live call")
                )
                await agents.move(
                    conn,
                    row["id"],
                    row["state"],
                    "available",
                    cause=cause,
                    actor=f"dispatcher {self.name}",
                    reason=reason,
                )

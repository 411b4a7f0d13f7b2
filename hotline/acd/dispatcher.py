"""The ACD dispatcher: one leader at a time matches waiting callers with available agents in PostgreSQL.

Leadership is a session advisory lock; each new leader bumps `acd_leader.term`, and every offer checks that
term inside its transaction, so a stale leader (one that lost its lock but has not noticed) cannot assign.
Each offer is one transaction that moves the agent available -> reserved and the caller waiting -> offered;
a unique index allows one open offer per agent. The dispatcher wakes on NOTIFY 'acd' (callers joining, agents
changing state) and polls as a fallback; the owning cell learns of the offer through NOTIFY 'acd_offer'.
A reconciliation pass repairs agents and callers left in a wrong state by a dead cell or a lost message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from db import agents
from hotline.acd.strategies import Agent, Caller, QueueRules, Strategy, match

log = logging.getLogger(__name__)

LEADER_LOCK = 0x12348_0002
STALE_OFFER_S = 60.0  # an offer no cell acted on (cell died) goes back to the queue after this


class LostLeadership(Exception):
    pass


@dataclass
class Stats:
    offers: int = 0
    refused: int = 0
    terms: int = 0


class Dispatcher:
    """Run with `await run(stop)`; any number may run, on any machine: one leads, the others wait."""

    def __init__(self, pool: Any, name: str, poll_interval: float = 1.0, reconcile_interval: float = 5.0) -> None:
        self.pool, self.name = pool, name
        self.poll_interval, self.reconcile_interval = poll_interval, reconcile_interval
        self.term: int | None = None
        self.stats = Stats()
        self._wake = asyncio.Event()
        self._last_agent: dict[int, int] = {}

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
                    await self.match_all()
                    if time.monotonic() >= next_reconcile:
                        await self.reconcile()
                        next_reconcile = time.monotonic() + self.reconcile_interval
                    await lock_conn.fetchval("SELECT 1")  # the lock lives with this session: check it
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            finally:
                with contextlib.suppress(Exception):
                    await lock_conn.remove_listener("acd", self._notified)
                    await lock_conn.execute("SELECT pg_advisory_unlock($1)", LEADER_LOCK)

    def _notified(self, *_args: Any) -> None:
        self._wake.set()

    async def match_all(self) -> int:
        """One matching pass over every queue with waiting callers; returns the offers made."""
        made = 0
        async with self.pool.acquire() as conn:
            queues = await conn.fetch(
                """SELECT DISTINCT q.id, q.strategy FROM queue_entries e JOIN queues q ON q.id = e.queue_id
                   WHERE e.state = 'waiting'"""
            )
        for q in queues:
            made += await self._match_queue(q["id"], Strategy(q["strategy"]))
        return made

    async def _match_queue(self, queue_id: int, strategy: Strategy) -> int:
        async with self.pool.acquire() as conn:
            waiting = await conn.fetch(
                """SELECT id, priority, skills, extract(epoch FROM entered_at) AS entered
                   FROM queue_entries WHERE queue_id = $1 AND state = 'waiting'""",
                queue_id,
            )
            free = await conn.fetch(
                """SELECT a.id, extract(epoch FROM a.state_changed_at) AS idle_since, m.penalty, m.tier,
                          coalesce(array_agg(s.kind || ':' || s.name) FILTER (WHERE s.id IS NOT NULL), '{}') AS skills,
                          coalesce(array_agg(k.level) FILTER (WHERE s.id IS NOT NULL), '{}') AS levels
                   FROM queue_members m JOIN agents a ON a.id = m.agent_id
                   LEFT JOIN agent_skills k ON k.agent_id = a.id LEFT JOIN skills s ON s.id = k.skill_id
                   WHERE m.queue_id = $1 AND a.state = 'available' AND a.active
                   GROUP BY a.id, m.penalty, m.tier""",
                queue_id,
            )
        if not waiting or not free:
            return 0
        callers = [Caller(str(r["id"]), float(r["entered"]), r["priority"], tuple(r["skills"])) for r in waiting]
        agents = [
            Agent(
                r["id"],
                float(r["idle_since"]),
                penalty=r["penalty"],
                tier=r["tier"],
                skills=dict(zip(r["skills"], r["levels"], strict=True)),
            )
            for r in free
        ]
        pairs: list[tuple[int, int]] = []
        for offer in match(callers, agents, QueueRules(strategy=strategy), time.time(), self._last_agent.get(queue_id)):
            pairs.append((int(offer.caller_id), offer.agent_ids[0]))  # ring-all rings one phone per offer here
        made = await self.offer_many(pairs)
        if made:
            self._last_agent[queue_id] = pairs[-1][1]
        return made

    async def offer(self, entry_id: int, agent_id: int) -> bool:
        """Reserve one agent for one caller (see `offer_many`)."""
        return await self.offer_many([(entry_id, agent_id)]) == 1

    async def offer_many(self, pairs: list[tuple[int, int]]) -> int:
        """Reserve agents for callers in one transaction fenced by this leader's term; returns how many.

        Rows another transaction holds are skipped (SKIP LOCKED) and stay for the next pass; a pair whose
        agent is no longer available or whose caller is no longer waiting is dropped.
        """
        if self.term is None:
            raise LostLeadership("not the leader")
        if not pairs:
            return 0
        async with self.pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval("SELECT term FROM acd_leader FOR SHARE")
            if current != self.term:
                raise LostLeadership(f"term {self.term} is stale (current {current})")
            free = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM agents WHERE id = ANY($1::int[]) AND state = 'available' AND active "
                    "FOR UPDATE SKIP LOCKED",
                    [a for _, a in pairs],
                )
            }
            waiting = {
                r["id"]: r["call_id"]
                for r in await conn.fetch(
                    "SELECT id, call_id FROM queue_entries WHERE id = ANY($1::bigint[]) AND state = 'waiting' "
                    "FOR UPDATE SKIP LOCKED",
                    [e for e, _ in pairs],
                )
            }
            chosen = [(e, a) for e, a in pairs if e in waiting and a in free]
            self.stats.refused += len(pairs) - len(chosen)
            if not chosen:
                return 0
            entries, agent_ids = [e for e, _ in chosen], [a for _, a in chosen]
            await conn.execute(
                "UPDATE agents SET state = 'reserved', state_reason = NULL, state_changed_at = now() "
                "WHERE id = ANY($1::int[])",
                agent_ids,
            )
            await conn.execute(
                """UPDATE queue_entries e SET state = 'offered', agent_id = p.agent, offer_term = $3,
                          offered_at = now()
                   FROM unnest($1::bigint[], $2::int[]) AS p(entry, agent) WHERE e.id = p.entry""",
                entries,
                agent_ids,
                self.term,
            )
            await conn.execute(
                """INSERT INTO agent_state_log (agent_id, from_state, to_state, cause, actor, call_id)
                   SELECT p.agent, 'available', 'reserved', 'system', $3, p.call
                   FROM unnest($1::int[], $2::uuid[]) AS p(agent, call)""",
                agent_ids,
                [waiting[e] for e in entries],
                f"dispatcher {self.name}",
            )
            await conn.execute("SELECT pg_notify('acd_offer', e::text) FROM unnest($1::bigint[]) AS e", entries)
        self.stats.offers += len(chosen)
        return len(chosen)

    async def reconcile(self) -> None:
        """Repair what a dead cell or a lost message left behind."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Callers whose call has ended leave the queue.
            await conn.execute(
                """UPDATE queue_entries e SET state = 'left' FROM calls c
                   WHERE c.id = e.call_id AND e.state IN ('waiting', 'offered') AND c.ended_at IS NOT NULL"""
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
                              WHERE e.agent_id = a.id AND e.state = 'connected' AND c.ended_at IS NULL))
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

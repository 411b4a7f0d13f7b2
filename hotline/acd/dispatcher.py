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

from prometheus_client import Counter

from db import acd, agents
from db.acd import LEADER_LOCK as LEADER_LOCK  # re-exported: bench/acd.py takes the lock
from hotline.acd.strategies import Agent, Caller, PenaltyStep, QueueRules, Strategy, match, score
from hotline.clock import SYSTEM, Clock
from hotline.metrics import count_db_error, safe

OFFERS = Counter("hotline_acd_offers_total", "Offers the dispatcher made to agents")
log = logging.getLogger(__name__)

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


def _rules_of(row: acd.AvailableAgent) -> QueueRules:
    relax = row.skills_relax_after_seconds
    return rules_for(
        Strategy(row.strategy),
        aging_per_minute=row.priority_aging_per_minute,
        penalty_steps=penalty_steps_from_json(row.penalty_steps),
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


def partition(queues: Mapping[int, QueueWork], simulated: set[int | str]) -> list[dict[int, QueueWork]]:
    """The pass split in two that never meet: real callers and agents, and the traffic simulator's (`simulated`
    holds its agents' ids and its callers' entry ids). A simulated agent never answers a real caller, and a
    simulated caller never takes a real agent's time."""

    def side(sim: bool) -> dict[int, QueueWork]:
        return {
            queue_id: QueueWork(
                work.rules,
                [a for a in work.agents if (a.id in simulated) is sim],
                [c for c in work.callers if (c.id in simulated) is sim],
            )
            for queue_id, work in queues.items()
        }

    return [side(False), side(True)]


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
                    count_db_error()
                else:
                    raise
            self.term = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def _lead(self, stop: asyncio.Event) -> None:
        async with self.pool.acquire() as lock_conn:
            if not await acd.try_lead(lock_conn):
                return
            self._session, self._session_pid = lock_conn, lock_conn.get_server_pid()
            try:
                self.term = await acd.new_term(lock_conn, self.name)
                self.stats.terms += 1
                log.info("dispatcher %s leads (term %d)", self.name, self.term)
                await lock_conn.add_listener(acd.CHANGES, self._notified)
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
                    await lock_conn.remove_listener(acd.CHANGES, self._notified)
                    await acd.resign(lock_conn)

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
        simulated: set[int | str] = set()  # the simulator's agents (ids) and callers (entry ids)
        async with self._connection() as conn:
            for r in await acd.available_agents(conn, self.timezone):
                if r.simulated:
                    simulated.add(r.id)
                queue = work.get(r.queue_id)
                if queue is None:
                    queue = work[r.queue_id] = QueueWork(_rules_of(r))
                queue.agents.append(
                    Agent(
                        r.id,
                        r.idle_since,
                        calls_today=r.calls,
                        talk_seconds_today=r.talk,
                        penalty=r.penalty,
                        tier=r.tier,
                        skills=dict(zip(r.skills, r.levels, strict=True)),
                    )
                )
            if not work:
                return 0
            caps = {q: self._cap(q, len(w.agents)) for q, w in work.items()}
            found = await acd.waiting(conn, caps, [work[q].rules.aging_per_minute for q in caps])
        for c in found.callers:
            if c.simulated:
                simulated.add(str(c.id))
            work[c.queue_id].callers.append(Caller(str(c.id), c.entered, c.priority, tuple(c.skills)))
        if found.db_now is None:  # waits are measured on the clock that stamped entered_at: PostgreSQL's
            return 0
        planned = [offer for part in partition(work, simulated) for offer in plan(part, found.db_now, self._last_agent)]
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
            offers = await acd.offer(conn, unique, self.term, f"dispatcher {self.name}")
        if offers.term != self.term:
            raise LostLeadership(f"term {self.term} is stale (current {offers.term})")
        self.stats.refused += len(pairs) - len(offers.made)
        self.stats.offers += len(offers.made)
        safe("hotline_acd_offers_total", lambda: OFFERS.inc(len(offers.made)))
        return offers.made

    async def reconcile(self) -> None:
        """Repair what a dead cell or a lost message left behind."""
        async with self.pool.acquire() as conn, conn.transaction():
            await acd.release_stale(conn, STALE_OFFER_S)
            stuck = await acd.stuck_agents(conn)
            for agent_id, state in stuck:
                cause, reason = (
                    ("system", "wrap-up over") if state == "wrap_up" else ("reconcile", f"{state} without a live call")
                )
                await agents.move(
                    conn,
                    agent_id,
                    state,
                    "available",
                    cause=cause,
                    actor=f"dispatcher {self.name}",
                    reason=reason,
                )

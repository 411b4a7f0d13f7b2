"""Routing strategies and caller priority: pure functions over plain data, no IO.

The anchors are Asterisk app_queue (strategies, penalties that relax over the wait), FreeSWITCH
mod_callcenter (tiers, a caller score that grows with waiting) and Amazon Connect (skills with proficiency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    RING_ALL = "ring_all"
    SKILLS_WEIGHTED = "skills_weighted"


@dataclass(frozen=True)
class Agent:
    """An available agent as a queue sees it."""

    id: int
    idle_since: float  # seconds (epoch) since the agent last became available
    calls_today: int = 0
    talk_seconds_today: float = 0.0
    penalty: int = 0
    tier: int = 1
    skills: Mapping[str, int] = field(default_factory=dict)  # skill name -> level 1..10


@dataclass(frozen=True)
class Caller:
    id: str
    entered_at: float  # seconds (epoch) when the caller joined the queue
    priority: int = 0  # from the flow: registered poor households, legal aid, risk flags
    required_skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class PenaltyStep:
    """After `after_s` seconds of waiting, agents with penalty up to `max_penalty` may take the call."""

    after_s: float
    max_penalty: int


@dataclass(frozen=True)
class QueueRules:
    strategy: Strategy = Strategy.LONGEST_IDLE
    aging_per_minute: float = 1.0  # priority points a caller gains per minute of waiting
    penalty_steps: tuple[PenaltyStep, ...] = (PenaltyStep(0, 0),)
    skills_after_s: float | None = None  # after this wait, required skills are no longer required


def score(caller: Caller, rules: QueueRules, now: float) -> float:
    """A caller's effective priority: the flow's priority plus what waiting has earned."""
    waited = max(0.0, now - caller.entered_at)
    return caller.priority + rules.aging_per_minute * waited / 60.0


def order_callers(callers: Sequence[Caller], rules: QueueRules, now: float) -> list[Caller]:
    """Who is served first: highest effective priority, then who came first."""
    return sorted(callers, key=lambda c: (-score(c, rules, now), c.entered_at, c.id))


def max_penalty(rules: QueueRules, waited_s: float) -> int:
    allowed = [s.max_penalty for s in rules.penalty_steps if waited_s >= s.after_s]
    return max(allowed) if allowed else 0


def eligible(agents: Sequence[Agent], caller: Caller, rules: QueueRules, now: float) -> list[Agent]:
    """Agents who may take this caller now: penalty within the relaxed limit and, unless relaxed, every
    required skill."""
    waited = max(0.0, now - caller.entered_at)
    limit = max_penalty(rules, waited)
    need_skills = rules.skills_after_s is None or waited < rules.skills_after_s
    out = []
    for agent in agents:
        if agent.penalty > limit:
            continue
        if need_skills and any(skill not in agent.skills for skill in caller.required_skills):
            continue
        out.append(agent)
    if not out:
        return out
    best_tier = min(a.tier for a in out)
    return [a for a in out if a.tier == best_tier]


def rank(
    agents: Sequence[Agent], caller: Caller, rules: QueueRules, now: float, last_agent_id: int | None = None
) -> list[Agent]:
    """Eligible agents in the order they should be offered the call. RING_ALL offers all at once."""
    pool = eligible(agents, caller, rules, now)
    strategy = rules.strategy
    if strategy is Strategy.LONGEST_IDLE or strategy is Strategy.RING_ALL:
        return sorted(pool, key=lambda a: (a.penalty, a.idle_since, a.id))
    if strategy is Strategy.FEWEST_CALLS:
        return sorted(pool, key=lambda a: (a.penalty, a.calls_today, a.idle_since, a.id))
    if strategy is Strategy.LEAST_TALK_TIME:
        return sorted(pool, key=lambda a: (a.penalty, a.talk_seconds_today, a.idle_since, a.id))
    if strategy is Strategy.ROUND_ROBIN:
        # Round robin with memory: start after the agent who got the last call, wrapping around by id.
        ordered = sorted(pool, key=lambda a: a.id)
        if last_agent_id is None:
            return ordered
        after = [a for a in ordered if a.id > last_agent_id]
        return after + [a for a in ordered if a.id <= last_agent_id]
    if strategy is Strategy.SKILLS_WEIGHTED:
        return sorted(pool, key=lambda a: (-_skill_fit(a, caller), a.penalty, a.idle_since, a.id))
    raise ValueError(f"unknown strategy {strategy!r}")


def _skill_fit(agent: Agent, caller: Caller) -> float:
    if not caller.required_skills:
        return float(sum(agent.skills.values())) / max(len(agent.skills), 1)
    return float(sum(agent.skills.get(s, 0) for s in caller.required_skills)) / len(caller.required_skills)


@dataclass(frozen=True)
class Offer:
    caller_id: str
    agent_ids: tuple[int, ...]  # more than one for RING_ALL


def match(
    callers: Sequence[Caller],
    agents: Sequence[Agent],
    rules: QueueRules,
    now: float,
    last_agent_id: int | None = None,
) -> list[Offer]:
    """Pair waiting callers with available agents for one queue; no agent is offered twice."""
    free = list(agents)
    offers: list[Offer] = []
    for caller in order_callers(callers, rules, now):
        ranked = rank(free, caller, rules, now, last_agent_id)
        if not ranked:
            continue
        chosen = ranked if rules.strategy is Strategy.RING_ALL else ranked[:1]
        offers.append(Offer(caller.id, tuple(a.id for a in chosen)))
        taken = {a.id for a in chosen}
        free = [a for a in free if a.id not in taken]
        last_agent_id = chosen[0].id
        if not free:
            break
    return offers


def expected_wait(previous: float | None, answered_wait_s: float, alpha: float = 0.2) -> float:
    """Exponential smoothing of answered waits, the estimate announced to callers."""
    if previous is None:
        return answered_wait_s
    return alpha * answered_wait_s + (1 - alpha) * previous

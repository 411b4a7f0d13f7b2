"""The simulator's agents and callers never meet real ones (hotline.acd.dispatcher.partition, then plan)."""

from __future__ import annotations

from hotline.acd.dispatcher import QueueWork, partition, plan, rules_for
from hotline.acd.strategies import Agent, Caller, Strategy

NOW = 10_000.0


def _work() -> dict[int, QueueWork]:
    rules = rules_for(Strategy.LONGEST_IDLE, aging_per_minute=0, penalty_steps=(), skills_after_s=None)
    return {
        1: QueueWork(
            rules,
            # agent 1 (real) has idled longest, so it would take the first caller if nothing kept them apart
            [Agent(1, idle_since=NOW - 900), Agent(2, idle_since=NOW - 10)],
            [Caller("11", entered_at=NOW - 600), Caller("12", entered_at=NOW - 5)],
        ),
        2: QueueWork(rules, [Agent(3, idle_since=NOW - 50)], [Caller("21", entered_at=NOW - 50)]),
    }


def test_a_simulated_caller_is_offered_to_a_simulated_agent_only_and_a_real_one_to_a_real_agent() -> None:
    simulated: set[int | str] = {2, "11"}  # agent 2 and the first caller of queue 1
    offers = [o for part in partition(_work(), simulated) for o in plan(part, NOW, {})]
    assert sorted(offers) == [(1, 11, 2), (1, 12, 1), (2, 21, 3)]


def test_without_simulated_parties_the_pass_is_the_plain_plan() -> None:
    plain = plan(_work(), NOW, {})
    assert sorted(o for part in partition(_work(), set()) for o in plan(part, NOW, {})) == sorted(plain)
    assert (1, 11, 1) in plain  # the longest-idle agent takes the longest waiter


def test_a_simulated_caller_waits_when_only_real_agents_are_free() -> None:
    simulated: set[int | str] = {"21"}
    offers = [o for part in partition(_work(), simulated) for o in plan(part, NOW, {})]
    assert all(entry != 21 for _, entry, _ in offers)
    assert {agent for _, _, agent in offers} <= {1, 2}

import pytest

from hotline.acd.strategies import (
    Agent,
    Caller,
    PenaltyStep,
    QueueRules,
    Strategy,
    expected_wait,
    match,
    order_callers,
    rank,
    score,
)

NOW = 10_000.0
A = [
    Agent(1, idle_since=NOW - 30, calls_today=5, talk_seconds_today=900),
    Agent(2, idle_since=NOW - 300, calls_today=9, talk_seconds_today=100),
    Agent(3, idle_since=NOW - 100, calls_today=1, talk_seconds_today=2000),
]
C = Caller("c1", entered_at=NOW - 10)


def ids(agents: list[Agent]) -> list[int]:
    return [a.id for a in agents]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.LONGEST_IDLE, [2, 3, 1]),
        (Strategy.FEWEST_CALLS, [3, 1, 2]),
        (Strategy.LEAST_TALK_TIME, [2, 1, 3]),
        (Strategy.ROUND_ROBIN, [1, 2, 3]),
    ],
)
def test_strategy_orders(strategy: Strategy, expected: list[int]) -> None:
    assert ids(rank(A, C, QueueRules(strategy=strategy), NOW)) == expected


def test_round_robin_remembers_the_last_agent() -> None:
    rules = QueueRules(strategy=Strategy.ROUND_ROBIN)
    assert ids(rank(A, C, rules, NOW, last_agent_id=2)) == [3, 1, 2]
    assert ids(rank(A, C, rules, NOW, last_agent_id=3)) == [1, 2, 3]


def test_ring_all_offers_every_eligible_agent_at_once() -> None:
    offers = match([C], A, QueueRules(strategy=Strategy.RING_ALL), NOW)
    assert len(offers) == 1 and set(offers[0].agent_ids) == {1, 2, 3}


def test_skills_weighted_prefers_the_most_proficient() -> None:
    agents = [
        Agent(1, NOW - 500, skills={"劳动争议": 3}),
        Agent(2, NOW - 10, skills={"劳动争议": 9}),
        Agent(3, NOW - 900, skills={"婚姻家庭": 10}),
    ]
    caller = Caller("c", NOW, required_skills=("劳动争议",))
    assert ids(rank(agents, caller, QueueRules(strategy=Strategy.SKILLS_WEIGHTED), NOW)) == [2, 1]


def test_required_skill_excludes_until_relaxed() -> None:
    agents = [Agent(1, NOW - 100, skills={"彝语": 8}), Agent(2, NOW - 900)]
    caller = Caller("c", NOW - 30, required_skills=("彝语",))
    assert ids(rank(agents, caller, QueueRules(), NOW)) == [1]
    assert ids(rank(agents[1:], caller, QueueRules(skills_after_s=60), NOW)) == []
    assert ids(rank(agents[1:], caller, QueueRules(skills_after_s=60), NOW + 40)) == [2]


def test_penalty_limit_relaxes_with_waiting() -> None:
    agents = [Agent(1, NOW - 100, penalty=0), Agent(2, NOW - 900, penalty=2)]
    rules = QueueRules(penalty_steps=(PenaltyStep(0, 0), PenaltyStep(30, 2)))
    fresh = Caller("c", NOW)
    assert ids(rank(agents, fresh, rules, NOW)) == [1]
    assert ids(rank(agents, fresh, rules, NOW + 31)) == [1, 2]


def test_lower_tier_rings_first() -> None:
    agents = [Agent(1, NOW - 900, tier=2), Agent(2, NOW - 1, tier=1)]
    assert ids(rank(agents, C, QueueRules(), NOW)) == [2]


def test_priority_jumps_ahead_of_a_short_wait_but_not_of_a_long_one() -> None:
    rules = QueueRules(aging_per_minute=1.0)
    poor = Caller("poor", entered_at=NOW - 5, priority=5)  # registered poor household
    recent = Caller("recent", entered_at=NOW - 120)  # 2 minutes: score 2
    long = Caller("long", entered_at=NOW - 600)  # 10 minutes: score 10
    assert score(long, rules, NOW) == pytest.approx(10.0)
    assert [c.id for c in order_callers([recent, poor], rules, NOW)] == ["poor", "recent"]
    assert [c.id for c in order_callers([poor, long], rules, NOW)] == ["long", "poor"]


def test_match_never_offers_one_agent_twice_and_serves_priority_first() -> None:
    callers = [Caller("a", NOW - 50), Caller("b", NOW - 40, priority=10), Caller("c", NOW - 30)]
    offers = match(callers, A[:2], QueueRules(), NOW)
    assert [o.caller_id for o in offers] == ["b", "a"]
    assert [o.agent_ids for o in offers] == [(2,), (1,)]


def test_expected_wait_smoothing() -> None:
    est = expected_wait(None, 60)
    est = expected_wait(est, 120)
    assert est == pytest.approx(72.0)


def test_expected_wait_is_smoothed_towards_the_latest_answered_waits() -> None:
    from hotline.cell.queueing import smoothed_wait

    assert smoothed_wait([]) is None
    assert smoothed_wait([60.0]) == 60.0
    rising = smoothed_wait([30.0, 30.0, 30.0, 120.0, 120.0])
    assert rising is not None and 30.0 < rising < 120.0
    # the same waits in the other order: the recent short waits pull the estimate down
    falling = smoothed_wait([120.0, 120.0, 30.0, 30.0, 30.0])
    assert falling is not None and falling < rising


def test_queue_rules_from_the_queues_columns_keep_the_old_default_and_read_a_custom_queue() -> None:
    from hotline.acd.dispatcher import PENALTY_STEPS, penalty_steps_from_json, rules_for

    default = '[{"after_seconds": 0, "max_penalty": 0}, {"after_seconds": 30, "max_penalty": 100}]'
    assert penalty_steps_from_json(default) == PENALTY_STEPS
    custom = rules_for(
        Strategy.RING_ALL,
        aging_per_minute=0.0,
        penalty_steps=penalty_steps_from_json('[{"after_seconds": 120, "max_penalty": 5}]'),
        skills_after_s=90.0,
    )
    assert custom == QueueRules(Strategy.LONGEST_IDLE, 0.0, (PenaltyStep(120, 5),), 90.0)
    # No aging: a priority point outweighs any wait.
    old, flagged = Caller("old", NOW - 3600), Caller("flagged", NOW, priority=1)
    assert [c.id for c in order_callers([old, flagged], custom, NOW)] == ["flagged", "old"]
    # Before the first step only penalty 0 may take a call.
    backup = Agent(1, NOW - 10, penalty=5)
    assert ids(rank([backup], Caller("c", NOW - 119), custom, NOW)) == []
    assert ids(rank([backup], Caller("c", NOW - 121), custom, NOW)) == [1]

"""A queue's waiting policies: who joins, who leaves, how long one waits (pure, hotline.acd.waiting)."""

from __future__ import annotations

import pytest

from hotline.acd.waiting import DEFAULT_MAX_WAIT_S, JoinWhenEmpty, Staffing, WaitPolicy, leaves, max_wait, refusal

NOBODY = Staffing(logged_in=0, unpaused=0)
ALL_PAUSED = Staffing(logged_in=2, unpaused=0)
WORKING = Staffing(logged_in=2, unpaused=1)


@pytest.mark.parametrize(
    ("join", "staffing", "expected"),
    [
        (JoinWhenEmpty.YES, NOBODY, None),
        (JoinWhenEmpty.YES, ALL_PAUSED, None),
        (JoinWhenEmpty.PAUSED_OK, NOBODY, "no_agents"),
        (JoinWhenEmpty.PAUSED_OK, ALL_PAUSED, None),
        (JoinWhenEmpty.PAUSED_OK, WORKING, None),
        (JoinWhenEmpty.NO, NOBODY, "no_agents"),
        (JoinWhenEmpty.NO, ALL_PAUSED, "no_agents"),
        (JoinWhenEmpty.NO, WORKING, None),
    ],
)
def test_join_when_empty_decides_by_logged_in_and_unpaused_members(
    join: JoinWhenEmpty, staffing: Staffing, expected: str | None
) -> None:
    assert refusal(WaitPolicy(join_when_empty=join), staffing, in_line=0) == expected


def test_the_default_policy_is_todays_behaviour_join_if_logged_in_and_leave_with_the_last_member() -> None:
    policy = WaitPolicy()
    assert policy.join_when_empty is JoinWhenEmpty.PAUSED_OK and policy.leave_when_empty
    assert policy.max_length is None and refusal(policy, WORKING, in_line=10_000) is None


def test_a_caller_who_would_make_the_line_longer_than_max_length_is_refused_as_full() -> None:
    policy = WaitPolicy(max_length=3)
    assert refusal(policy, WORKING, in_line=2) is None  # they make it 3 long
    assert refusal(policy, WORKING, in_line=3) == "full"
    assert refusal(policy, NOBODY, in_line=3) == "no_agents"  # nobody working it is the truer reason


def test_a_waiting_caller_leaves_when_the_last_member_logs_out_only_with_leave_when_empty() -> None:
    assert leaves(WaitPolicy(), NOBODY, staffed_before=True)
    assert not leaves(WaitPolicy(), ALL_PAUSED, staffed_before=True)  # a pause is not a logout
    assert not leaves(WaitPolicy(leave_when_empty=False), NOBODY, staffed_before=True)


def test_a_caller_who_joined_an_empty_queue_waits_until_someone_came_and_went() -> None:
    policy = WaitPolicy(join_when_empty=JoinWhenEmpty.YES)
    assert not leaves(policy, NOBODY, staffed_before=False)
    assert leaves(policy, NOBODY, staffed_before=True)


def test_the_flows_max_wait_comes_first_then_the_queues_then_the_default() -> None:
    assert max_wait(120.0, WaitPolicy(max_wait_s=300.0)) == 120.0
    assert max_wait(None, WaitPolicy(max_wait_s=300.0)) == 300.0
    assert max_wait(None, WaitPolicy()) == DEFAULT_MAX_WAIT_S

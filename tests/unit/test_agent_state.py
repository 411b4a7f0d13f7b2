import itertools

import pytest

from hotline.acd.agent_state import AgentState, AgentStateError, check_change


def test_normal_day_of_an_agent() -> None:
    path = ["logged_out", "available", "reserved", "on_call", "wrap_up", "available", "logged_out"]
    for src, dst in itertools.pairwise(path):
        assert check_change("l1", src, dst, cause="agent", reason=None) == AgentState(dst)


def test_agent_cannot_jump_to_on_call() -> None:
    with pytest.raises(AgentStateError, match=r"'available' to 'on_call'"):
        check_change("l1", "available", "on_call", cause="agent", reason=None)


def test_pause_needs_a_reason() -> None:
    with pytest.raises(AgentStateError, match="needs a reason"):
        check_change("l1", "available", "paused", cause="agent", reason=None)
    assert check_change("l1", "available", "paused", cause="agent", reason="午休") is AgentState.PAUSED


def test_supervisor_may_force_with_a_reason_only() -> None:
    assert check_change("l1", "on_call", "logged_out", cause="supervisor", reason="设备故障") is AgentState.LOGGED_OUT
    with pytest.raises(AgentStateError, match="forced change"):
        check_change("l1", "on_call", "logged_out", cause="supervisor", reason=None)


def test_unknown_state_or_cause() -> None:
    with pytest.raises(AgentStateError, match="unknown state"):
        check_change("l1", "available", "sleeping", cause="agent", reason=None)
    with pytest.raises(AgentStateError, match="unknown cause"):
        check_change("l1", "available", "reserved", cause="robot", reason=None)

"""Agent states and the changes between them: pure rules, applied in one place by db/agents.py."""

from __future__ import annotations

from enum import StrEnum

from hotline.errors import HotlineError


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # a call is ringing the agent's phone
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


S = AgentState
ALLOWED: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.AVAILABLE, S.PAUSED}),
    S.AVAILABLE: frozenset({S.RESERVED, S.PAUSED, S.LOGGED_OUT}),
    S.RESERVED: frozenset({S.ON_CALL, S.AVAILABLE, S.PAUSED}),
    S.ON_CALL: frozenset({S.WRAP_UP, S.AVAILABLE}),
    S.WRAP_UP: frozenset({S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}),
    S.PAUSED: frozenset({S.AVAILABLE, S.LOGGED_OUT}),
}
CAUSES = ("agent", "supervisor", "system", "reconcile")


class AgentStateError(HotlineError):
    pass


def check_change(username: str, current: str, wanted: str, *, cause: str, reason: str | None) -> AgentState:
    """Validate one state change. Supervisors and reconciliation may force any change, with a reason."""
    try:
        src, dst = AgentState(current), AgentState(wanted)
    except ValueError:
        valid = ", ".join(s.value for s in AgentState)
        raise AgentStateError(
            f"agent {username}: unknown state in {current!r} -> {wanted!r}; states: {valid}"
        ) from None
    if cause not in CAUSES:
        raise AgentStateError(f"agent {username}: unknown cause {cause!r}, expected one of {', '.join(CAUSES)}")
    if dst is S.PAUSED and not reason:
        raise AgentStateError(f"agent {username}: a pause needs a reason")
    if cause in ("supervisor", "reconcile"):
        if not reason:
            raise AgentStateError(f"agent {username}: a forced change {current!r} -> {wanted!r} needs a reason")
        return dst
    if dst not in ALLOWED[src]:
        allowed = ", ".join(sorted(ALLOWED[src]))
        raise AgentStateError(
            f"agent {username} cannot go from {current!r} to {wanted!r} (allowed from {current!r}: {allowed})"
        )
    return dst

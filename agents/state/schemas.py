"""The agent-state API's shapes: the state change it accepts and the agent record it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.api import BadRequest
from db import agents

SELF_STATES = ("available", "paused", "logged_out")
EXAMPLE = '{"state": "paused", "reason": "午休"}'


@dataclass(frozen=True)
class StateChange:
    state: str
    reason: str | None


def state_change(body: Any) -> StateChange:
    """The change a decoded request body asks for (BadRequest saying what is wrong with it)."""
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        raise BadRequest('body: expected an object with a string "state"')
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise BadRequest('"reason": expected a string')
    return StateChange(body["state"], reason)


def own_state_change(body: Any) -> StateChange:
    """A change an agent may make to its own state."""
    change = state_change(body)
    if change.state not in SELF_STATES:
        raise BadRequest(f'"state": an agent may set {", ".join(SELF_STATES)}; got {change.state!r}')
    return change


def agent_view(agent: agents.Agent) -> dict[str, Any]:
    return {
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "state": agent.state.value,
        "reason": agent.state_reason,
        "since": agent.state_changed_at,
    }

"""Changing agents' states: an agent its own, a supervisor another's (with a reason, written to the audit log).

The state rules (hotline.acd.agent_state) raise AgentStateError; an unknown agent is AgentNotFound.
"""

from __future__ import annotations

from typing import Any

from agents.state.schemas import StateChange
from db import agents, audit


async def change_own_state(pool: Any, agent: agents.Agent, change: StateChange) -> agents.Agent:
    async with pool.acquire() as conn:
        return await agents.change_state(
            conn, agent.username, change.state, cause="agent", actor=agent.username, reason=change.reason
        )


async def force_state(pool: Any, actor: agents.Agent, target: str, change: StateChange) -> agents.Agent:
    async with pool.acquire() as conn, conn.transaction():
        changed = await agents.change_state(
            conn, target, change.state, cause="supervisor", actor=actor.username, reason=change.reason
        )
        await audit.record(
            conn, actor.username, "update", "agent_state", target, state=change.state, reason=change.reason
        )
    return changed

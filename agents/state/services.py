"""Changing agents' states: an agent its own, a supervisor another's (with a reason, written to the audit log).

The state rules (hotline.acd.agent_state) raise AgentStateError; an unknown agent is AgentNotFound.
"""

from __future__ import annotations

from typing import Any

from agents.api import Conflict
from agents.registrar import RegistrationUnknown
from agents.state.schemas import StateChange
from db import agents, audit


class PhoneNotRegistered(Conflict):
    """Going available is refused: calls would ring a phone that is not there."""


async def check_phone(registrar: Any, agent: agents.Agent) -> None:
    """PhoneNotRegistered unless the agent's phone is registered with the front (asked now, not remembered)."""
    try:
        contacts = await registrar.contacts(agent.username)
    except RegistrationUnknown as exc:
        raise PhoneNotRegistered(f"无法确认话机注册状态，暂不能示闲（{exc}）") from None
    if not contacts:
        raise PhoneNotRegistered(
            f"话机未注册：请先在软电话上注册分机 {agent.username}（SIP 账号即控制台用户名），再示闲"
        )


async def check_phone_if(registrar: Any, agent: agents.Agent) -> None:
    """check_phone, unless the check is off (``registrar`` None)."""
    if registrar is not None:
        await check_phone(registrar, agent)


async def change_own_state(pool: Any, agent: agents.Agent, change: StateChange, registrar: Any = None) -> agents.Agent:
    """Change the agent's own state; going available first asks ``registrar`` (None: no check) whether the
    agent's phone is registered."""
    if change.state == "available":
        await check_phone_if(registrar, agent)
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

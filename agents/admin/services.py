"""What the admin page changes about agents and skills. Each change is one transaction with its audit row: it is
made and audited, or neither. A password never reaches the audit log or the log.

Accounts keep an administrator: an admin may neither disable nor demote themselves (another admin may)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from agents.admin.schemas import JOIN_NAMES, KIND_NAMES, ROLE_NAMES, STRATEGY_NAMES, NewAgent
from agents.api import Conflict
from agents.desk.schemas import Invalid
from agents.desk.services import STATE_NAMES
from db import agents, audit, households, queue_settings, sessions, skills
from hotline.caller.households import RegistryFileError, parse_registry_file
from hotline.caller.privacy import NumberKeys

DISABLED_REASON = "账号停用"


def view(agent: agents.Agent, levels: dict[str, int]) -> dict[str, Any]:
    """An agent as the admin page lists it."""
    return {
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "role_name": ROLE_NAMES[agent.role],
        "active": agent.active,
        "state": agent.state.value,
        "state_name": STATE_NAMES[agent.state.value],
        "skills": levels,
    }


async def overview(conn: Any) -> dict[str, Any]:
    """The agents with their skills, and every skill."""
    by_agent = await skills.levels(conn)
    return {
        "accounts": [view(a, by_agent.get(a.id, {})) for a in await agents.list_all(conn)],
        "skills": [
            {"key": s.key, "kind": s.kind, "kind_name": KIND_NAMES[s.kind], "name": s.name}
            for s in await skills.all_skills(conn)
        ],
        "role_names": ROLE_NAMES,
        "kind_names": KIND_NAMES,
    }


async def create(conn: Any, new: NewAgent, *, actor: str) -> agents.Agent:
    """A new agent; Conflict when the username is taken (the existing agent is left as it is)."""
    async with conn.transaction():
        try:
            agent = await agents.insert(conn, new.username, new.display_name, new.role, new.password)
        except agents.AgentExists:
            raise Conflict(f"用户名 {new.username} 已被使用，未保存（不会覆盖已有坐席）") from None
        await audit.record(
            conn, actor, "create", "agent", agent.username, display_name=agent.display_name, role=agent.role
        )
    return agent


def _not_self(actor: str, username: str, what: str) -> None:
    if actor == username:
        raise Conflict(f"不能{what}自己的账号：请由另一位管理员操作，以保证系统始终有管理员")


async def set_active(conn: Any, username: str, active: bool, *, actor: str) -> tuple[agents.Agent, int]:
    """Enable or disable an account; a disabled agent is logged out of the ACD (a forced, logged state change)
    and their console sessions end. Answers the agent and how many sessions ended."""
    if not active:
        _not_self(actor, username, "停用")
    async with conn.transaction():
        before = await agents.get(conn, username)
        ended = 0
        if not active:
            await agents.change_state(
                conn, username, "logged_out", cause="supervisor", actor=actor, reason=DISABLED_REASON
            )
            ended = await sessions.end_all(conn, before.id)
        agent = await agents.set_active(conn, username, active)
        if before.active != active:
            await audit.record(
                conn,
                actor,
                "update",
                "agent",
                username,
                change="enable" if active else "disable",
                state_before=before.state.value,
                sessions_ended=ended,
            )
    return agent, ended


async def reset_password(conn: Any, username: str, password: str, *, actor: str) -> tuple[agents.Agent, int]:
    """New console password and SIP HA1; every session of the agent ends. Answers the agent and how many did."""
    async with conn.transaction():
        agent = await agents.set_password(conn, username, password)
        ended = await sessions.end_all(conn, agent.id)
        await audit.record(conn, actor, "update", "agent", username, change="password", sessions_ended=ended)
    return agent, ended


async def change_role(conn: Any, username: str, role: str, *, actor: str) -> agents.Agent:
    if role != "admin":
        _not_self(actor, username, "降级")
    async with conn.transaction():
        before = await agents.get(conn, username)
        agent = await agents.set_role(conn, username, role)
        if before.role != role:
            await audit.record(conn, actor, "update", "agent", username, change="role", role=role, previous=before.role)
    return agent


async def replace_skills(conn: Any, username: str, levels: dict[str, int], *, actor: str) -> dict[str, int]:
    """The agent's skills become exactly ``levels``; Invalid naming each unknown skill, and nothing changed."""
    async with conn.transaction():
        agent = await agents.get(conn, username)
        known = await skills.ids(conn, list(levels))
        unknown = {key: f"没有名为“{key}”的技能，请先添加该技能" for key in levels if key not in known}
        if unknown:
            raise Invalid(unknown, "技能")
        previous = await skills.of_agent(conn, agent.id)
        await skills.replace(conn, agent.id, {known[key]: level for key, level in levels.items()})
        now = await skills.of_agent(conn, agent.id)
        await audit.record(conn, actor, "update", "agent_skills", username, skills=now, previous=previous)
    return now


async def add_skill(conn: Any, kind: str, name: str, *, actor: str) -> skills.Skill:
    async with conn.transaction():
        if not await skills.add(conn, kind, name):
            raise Conflict(f"技能“{kind}:{name}”已存在")
        await audit.record(conn, actor, "create", "skill", f"{kind}:{name}")
    return skills.Skill(kind, name)


def queue_view(queue: queue_settings.QueueSettings) -> dict[str, Any]:
    """A queue's settings as the admin page lists them, with the Chinese names of its choices."""
    return {
        "name": queue.name,
        "members": queue.members,
        **queue.settings(),
        "strategy_name": STRATEGY_NAMES[queue.strategy],
        "join_when_empty_name": JOIN_NAMES[queue.join_when_empty],
        "penalty_steps_text": ", ".join(f"{s['after_seconds']}:{s['max_penalty']}" for s in queue.penalty_steps),
    }


async def queues(conn: Any) -> dict[str, Any]:
    """Every queue's settings and the choices the page offers."""
    return {
        "queues": [queue_view(q) for q in await queue_settings.list_all(conn)],
        "strategy_names": STRATEGY_NAMES,
        "join_names": JOIN_NAMES,
    }


REGISTRY_SHOWN = 200  # bad lines listed in a refusal (the count says how many there were)


def upload_name(filename: str | None) -> str:
    """The name the audit log and the registry's `source` keep: the last part of the browser's file name
    (percent-escapes decoded: browsers escape quotes that way, aiohttp's client every non-ASCII character)."""
    name = re.split(r"[\\/]", unquote(filename or ""))[-1].strip()[:120]
    return name or "upload.csv"


async def import_registry(
    conn: Any, kind: str, filename: str, raw: bytes, keys: NumberKeys, *, actor: str
) -> tuple[int, dict[str, Any]]:
    """Check an uploaded registry file with the parser of ``hotline registry import`` and store it all, audited,
    or nothing. Answers the status and the page's answer: the counts, or (422) every bad line with its reason in
    Chinese."""
    try:  # a big file takes a while to check: not on the event loop
        parsed = await asyncio.to_thread(parse_registry_file, Path(filename), raw)
    except RegistryFileError as exc:
        problems = exc.found
        summary = f"名单文件有误，未导入任何号码：共 {len(problems)} 处问题"
        return 422, {
            "error": summary,
            "fields": {"file": summary},
            "rejected_count": len(problems),
            "rejected": [{"line": p.line, "reason": p.reason_zh} for p in problems[:REGISTRY_SHOWN]],
        }
    result = await households.import_file(conn, kind, parsed, keys, actor=actor)
    return 200, {
        "file": filename,
        "kind": kind,
        "rows": parsed.rows,
        "distinct": result.total,
        "imported": result.added,
        "already_registered": result.total - result.added,
        "rejected_count": 0,
        "rejected": [],
    }

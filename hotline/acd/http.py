"""The agents' REST API (served by `hotline up` beside /healthz): state changes for the console and phones.

Authentication is HTTP Basic over the agent's console password (argon2). An agent changes its own state;
a supervisor may force another agent's state with a reason, which is also written to the audit log.

    GET  /api/agents/me                      -> the caller's agent record
    POST /api/agents/me/state                {"state": "available" | "paused" | "logged_out", "reason": "..."}
    POST /api/agents/{username}/state        supervisors only; "reason" required
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from db import agents, audit
from hotline.acd.agent_state import AgentStateError
from hotline.supervisor.rest import SUPERVISORS, authenticate, error, json_response
from hotline.supervisor.state import POOL

SELF_STATES = ("available", "paused", "logged_out")


def _public(agent: agents.Agent) -> dict[str, Any]:
    return {
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "state": agent.state.value,
        "reason": agent.state_reason,
        "since": agent.state_changed_at,
    }


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(400, 'body: expected JSON such as {"state": "paused", "reason": "午休"}')
    if not isinstance(body, dict) or not isinstance(body.get("state"), str):
        return error(400, 'body: expected an object with a string "state"')
    if body.get("reason") is not None and not isinstance(body["reason"], str):
        return error(400, '"reason": expected a string')
    return body


async def me(request: web.Request) -> web.Response:
    agent = await authenticate(request)
    if isinstance(agent, web.Response):
        return agent
    return json_response(_public(agent))


async def my_state(request: web.Request) -> web.Response:
    agent = await authenticate(request)
    if isinstance(agent, web.Response):
        return agent
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    if body["state"] not in SELF_STATES:
        return error(400, f'"state": an agent may set {", ".join(SELF_STATES)}; got {body["state"]!r}')
    pool: Any = request.app[POOL]
    try:
        async with pool.acquire() as conn:
            changed = await agents.change_state(
                conn, agent.username, body["state"], cause="agent", actor=agent.username, reason=body.get("reason")
            )
    except AgentStateError as exc:
        return error(409, str(exc))
    return json_response(_public(changed))


async def force_state(request: web.Request) -> web.Response:
    actor = await authenticate(request)
    if isinstance(actor, web.Response):
        return actor
    if actor.role not in SUPERVISORS:
        return error(403, f"agent {actor.username} ({actor.role}) may not change another agent's state")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    target = request.match_info["username"]
    pool: Any = request.app[POOL]
    try:
        async with pool.acquire() as conn, conn.transaction():
            changed = await agents.change_state(
                conn, target, body["state"], cause="supervisor", actor=actor.username, reason=body.get("reason")
            )
            await audit.record(
                conn, actor.username, "update", "agent_state", target, state=body["state"], reason=body.get("reason")
            )
    except agents.AgentNotFound as exc:
        return error(404, str(exc))
    except AgentStateError as exc:
        return error(409, str(exc))
    return json_response(_public(changed))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/agents/me", me),
        web.post("/api/agents/me/state", my_state),
        web.post("/api/agents/{username}/state", force_state),
    ]

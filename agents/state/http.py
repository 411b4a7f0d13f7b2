"""The agent-state REST API, mounted at ``/api/agents``. An agent changes its own state; a supervisor may force
another agent's state with a reason, which is also written to the audit log.

    GET  /api/agents/me                      -> the caller's agent record
    POST /api/agents/me/state                {"state": "available" | "paused" | "logged_out", "reason": "..."}
    POST /api/agents/{username}/state        supervisors only; "reason" required
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agents.api import decode, json_response
from agents.auth import current_agent, requires
from agents.keys import POOL, REGISTRAR, SETTINGS
from agents.registrar import FrontRegistrar
from agents.state import schemas, services


def registrar_of(request: web.Request) -> Any:
    """What answers "is this agent's phone registered?", None when the check is off (console settings)."""
    if not request.config_dict[SETTINGS].console.require_registration:
        return None
    return request.config_dict.get(REGISTRAR) or FrontRegistrar()  # no front given: the check cannot pass


@requires("agent")
async def me(request: web.Request) -> web.Response:
    return json_response(schemas.agent_view(current_agent(request)))


@requires("agent")
async def my_state(request: web.Request) -> web.Response:
    change = schemas.own_state_change(decode(await request.read(), schemas.EXAMPLE))
    changed = await services.change_own_state(
        request.config_dict[POOL], current_agent(request), change, registrar_of(request)
    )
    return json_response(schemas.agent_view(changed))


@requires("supervisor", "change another agent's state")
async def force_state(request: web.Request) -> web.Response:
    change = schemas.state_change(decode(await request.read(), schemas.EXAMPLE))
    target = request.match_info["username"]
    changed = await services.force_state(request.config_dict[POOL], current_agent(request), target, change)
    return json_response(schemas.agent_view(changed))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/me", me),
            web.post("/me/state", my_state),  # before /{username}/state, which would match "me" too
            web.post("/{username}/state", force_state),
        ]
    )
    return app

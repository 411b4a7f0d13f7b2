"""Supervisors' pages, mounted at ``/supervisor``.

GET  /supervisor/                the live wallboard (per queue, per agent, today's abandoned callers)
GET  /supervisor/wallboard       the same figures as JSON (the websocket pushes them)
POST /supervisor/abandoned/{call_id}/callback   call back a caller who abandoned (as soon as an agent is free)
POST /supervisor/agents/{username}/state   force an agent's state with a reason (logged, audited)
"""

from __future__ import annotations

import json
from uuid import UUID

import aiohttp_jinja2
from aiohttp import web

from agents import session as sessions
from agents.api import NotFound, json_response
from agents.auth import current_agent, requires
from agents.desk.services import call_back
from agents.keys import POOL, SETTINGS
from agents.state.http import force_state  # the same change as the API's, under the supervisor's pages
from agents.supervisor import services


@requires("supervisor", "see the wallboard", page=True)
async def page(request: web.Request) -> web.StreamResponse:
    session = await sessions.current(request)
    async with request.config_dict[POOL].acquire() as conn:
        board = await services.wallboard(conn, request.config_dict[SETTINGS].timezone)
    return aiohttp_jinja2.render_template(
        "wallboard.html",
        request,
        {
            "agent": current_agent(request),
            "csrf": session.csrf if session else "",
            "board_json": json.dumps(board, ensure_ascii=False, default=str),
            "timezone": request.config_dict[SETTINGS].timezone,
        },
    )


@requires("supervisor", "see the wallboard")
async def wallboard(request: web.Request) -> web.Response:
    async with request.config_dict[POOL].acquire() as conn:
        return json_response(await services.wallboard(conn, request.config_dict[SETTINGS].timezone))


@requires("supervisor", "call back an abandoned caller")
async def abandoned_callback(request: web.Request) -> web.Response:
    raw = request.match_info["call_id"]
    try:
        call_id = UUID(raw)
    except ValueError:
        raise NotFound(f"call {raw!r}: not a call id") from None
    async with request.config_dict[POOL].acquire() as conn:
        await call_back(conn, call_id, current_agent(request), at=None, reason="放弃来电回拨")
        return json_response(await services.wallboard(conn, request.config_dict[SETTINGS].timezone))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", page),
            web.get("/wallboard", wallboard),
            web.post("/abandoned/{call_id}/callback", abandoned_callback),
            web.post("/agents/{username}/state", force_state),
        ]
    )
    return app

"""Supervisors' pages, mounted at ``/supervisor``.

GET  /supervisor/                the live wallboard (per queue, per agent, today's abandoned callers)
GET  /supervisor/wallboard       the same figures as JSON (the websocket pushes them)
POST /supervisor/abandoned/{call_id}/callback   call back a caller who abandoned (as soon as an agent is free)
GET  /supervisor/follow-ups       the survey's follow-up work orders (dissatisfied callers), open first
POST /supervisor/follow-ups/{number}   {"result": "..."}: what the follow-up call found; closes the work order
POST /supervisor/agents/{username}/state   force an agent's state with a reason (logged, audited)
GET  /supervisor/tickets, /tickets.json, /tickets/{number}, /recordings/{id}   records (agents.supervisor.records)
GET  /supervisor/report, /report/download   the monthly report (agents.supervisor.report)
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from agents import session as sessions
from agents.api import NotFound, decode, json_response
from agents.auth import current_agent, requires
from agents.desk.schemas import Invalid
from agents.desk.services import call_back
from agents.keys import POOL, SETTINGS
from agents.state.http import force_state  # the same change as the API's, under the supervisor's pages
from agents.supervisor import services
from agents.supervisor.records import http as records
from agents.supervisor.report import http as report
from db import console


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


async def _follow_ups(request: web.Request) -> list[dict[str, Any]]:
    tz = ZoneInfo(request.config_dict[SETTINGS].timezone)
    async with request.config_dict[POOL].acquire() as conn:
        return services.follow_up_view(await console.follow_ups(conn), tz)


@requires("supervisor", "see the follow-up list")
async def follow_ups(request: web.Request) -> web.Response:
    return json_response({"follow_ups": await _follow_ups(request)})


@requires("supervisor", "record a follow-up")
async def record_follow_up(request: web.Request) -> web.Response:
    body = decode(await request.read(), '{"result": "已回访，来电人表示理解"}')
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, str) or not result.strip():
        raise Invalid({"result": "请填写回访结果"}, "回访结果")
    if len(result) > 1000:
        raise Invalid({"result": "回访结果不能超过 1000 字"}, "回访结果")
    async with request.config_dict[POOL].acquire() as conn:
        await services.record_follow_up(conn, current_agent(request), request.match_info["number"], result.strip())
    return json_response({"follow_ups": await _follow_ups(request)})


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", page),
            web.get("/wallboard", wallboard),
            web.post("/abandoned/{call_id}/callback", abandoned_callback),
            web.get("/follow-ups", follow_ups),
            web.post("/follow-ups/{number}", record_follow_up),
            web.post("/agents/{username}/state", force_state),
            *records.ROUTES,
            *report.ROUTES,
        ]
    )
    return app

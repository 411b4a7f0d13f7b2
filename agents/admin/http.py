"""Admins' pages, mounted at ``/admin``: queue membership (who answers which queue, with penalty and tier) and
the pause reasons. Every change is audited (db.membership writes the audit row in the change's transaction).

    GET  /admin/                       queues, their members, the agents, the pause reasons
    POST /admin/members                {"queue", "username", "penalty", "tier"}: add or change a member
    POST /admin/members/remove         {"queue", "username"}
    POST /admin/pause-reasons          {"reasons": ["小休", ...]}
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from agents import session as sessions
from agents.api import BadRequest, NotFound, decode, json_response
from agents.auth import current_agent, requires
from agents.keys import POOL
from db import audit, console, membership
from db.agents import AgentNotFound
from hotline.errors import HotlineError

MEMBER_EXAMPLE = '{"queue": "legal_aid", "username": "lawyer01", "penalty": 0, "tier": 1}'


async def _overview(conn: Any) -> dict[str, Any]:
    queues = await membership.list_queues(conn)
    return {
        "queues": [
            {
                "name": q.name,
                "display_name": q.display_name,
                "strategy": q.strategy,
                "members": [m.__dict__ for m in await membership.members(conn, q.name)],
            }
            for q in queues
        ],
        "agents": await console.agent_names(conn),
        "reasons": await console.pause_reasons(conn),
    }


@requires("admin", "administer queues and agents", page=True)
async def page(request: web.Request) -> web.StreamResponse:
    session = await sessions.current(request)
    async with request.config_dict[POOL].acquire() as conn:
        overview = await _overview(conn)
    return aiohttp_jinja2.render_template(
        "admin.html", request, {"agent": current_agent(request), "csrf": session.csrf if session else "", **overview}
    )


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f'"{name}": expected a whole number; got {value!r}')
    return value


def _names(body: Any) -> tuple[str, str]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("queue"), str)
        or not isinstance(body.get("username"), str)
    ):
        raise BadRequest(f"body: expected an object such as {MEMBER_EXAMPLE}")
    return body["queue"], body["username"]


async def _membership_change(request: web.Request, remove: bool) -> web.Response:
    body = decode(await request.read(), MEMBER_EXAMPLE)
    queue, username = _names(body)
    actor = current_agent(request).username
    async with request.config_dict[POOL].acquire() as conn, conn.transaction():
        try:
            if remove:
                if not await membership.remove(conn, queue, username, actor=actor):
                    raise NotFound(f"{username} is not a member of queue {queue}")
            else:
                await membership.add(
                    conn, queue, username, penalty=_int(body, "penalty", 0), tier=_int(body, "tier", 1), actor=actor
                )
        except (membership.QueueNotFound, AgentNotFound) as exc:
            raise NotFound(str(exc)) from None
        except HotlineError as exc:  # a penalty or tier out of range
            raise BadRequest(str(exc)) from None
        return json_response({"queue": queue, "members": [m.__dict__ for m in await membership.members(conn, queue)]})


@requires("admin", "change queue membership")
async def add_member(request: web.Request) -> web.Response:
    return await _membership_change(request, remove=False)


@requires("admin", "change queue membership")
async def remove_member(request: web.Request) -> web.Response:
    return await _membership_change(request, remove=True)


@requires("admin", "change the pause reasons")
async def pause_reasons(request: web.Request) -> web.Response:
    body = decode(await request.read(), '{"reasons": ["小休", "午休"]}')
    reasons = body.get("reasons") if isinstance(body, dict) else None
    if (
        not isinstance(reasons, list)
        or not reasons
        or not all(isinstance(r, str) and 0 < len(r.strip()) <= 20 for r in reasons)
    ):
        raise BadRequest('"reasons": expected a non-empty list of names of 1 to 20 characters')
    names = list(dict.fromkeys(r.strip() for r in reasons))
    async with request.config_dict[POOL].acquire() as conn, conn.transaction():
        await console.set_pause_reasons(conn, names)
        await audit.record(conn, current_agent(request).username, "update", "pause_reasons", None, reasons=names)
    return json_response({"reasons": names})


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", page),
            web.post("/members", add_member),
            web.post("/members/remove", remove_member),
            web.post("/pause-reasons", pause_reasons),
        ]
    )
    return app

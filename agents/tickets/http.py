"""The work-order REST API, mounted at ``/api/tickets``. A work order may be read and changed by its assignee
and by supervisors; it shows the caller only masked.

    GET  /api/tickets/{number}              -> the work order and its suggestions
    POST /api/tickets/{number}/fields       {"field": "legal_area" | "service" | "flag", "value": "<label>",
                                             "present": true | false}  -> the work order and its suggestions
"""

from __future__ import annotations

from aiohttp import web

from agents.api import decode, json_response
from agents.auth import current_agent, requires
from agents.keys import POOL
from agents.tickets import schemas, services


@requires("agent")
async def get_ticket(request: web.Request) -> web.Response:
    agent = current_agent(request)
    pool = request.config_dict[POOL]
    async with services.handled_ticket(pool, agent, request.match_info["number"], "read") as (conn, ticket):
        return json_response(await services.read(conn, agent, ticket))


@requires("agent")
async def decide_field(request: web.Request) -> web.Response:
    agent = current_agent(request)
    raw = await request.read()
    pool = request.config_dict[POOL]
    async with services.handled_ticket(pool, agent, request.match_info["number"], "change") as (conn, ticket):
        decision = schemas.decision(decode(raw, schemas.DECISION_EXAMPLE))  # 404 and 403 come first
        return json_response(await services.decide(conn, agent, ticket, decision))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.get("/{number}", get_ticket), web.post("/{number}/fields", decide_field)])
    return app

"""The call-record REST API, mounted at ``/api/calls``; supervisors only, callers masked, every read audited.

    GET /api/calls?since=&until=&queue=&prefecture=&limit=&cursor=   -> {"calls": [...], "next_cursor": ...}
    GET /api/calls/{call_id}                                         -> one call record

``since``/``until``: an instant with its UTC offset, or a day (YYYY-MM-DD in the hotline's time zone, both
days included); ``queue``: a queue's name; ``prefecture``: a code such as 530100; oldest first, ``limit``
1..200 (50), ``cursor``: the ``next_cursor`` of the page before.
"""

from __future__ import annotations

from aiohttp import web

from agents import listing
from agents.api import json_response
from agents.auth import current_agent, requires
from agents.calls import schemas, services
from agents.keys import POOL


@requires("supervisor", "pull call records")
async def list_calls(request: web.Request) -> web.Response:
    return await listing.answer(request, services.pull)


@requires("supervisor", "read call records")
async def get_call(request: web.Request) -> web.Response:
    call_id = schemas.call_id(request.match_info["call_id"])
    return json_response(await services.read(request.config_dict[POOL], current_agent(request), call_id))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.get("", list_calls), web.get("/{call_id}", get_call)])
    return app

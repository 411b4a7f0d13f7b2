"""The suggestions' REST API, mounted at ``/api/suggestions``.

GET  /api/suggestions/accuracy?since=YYYY-MM-DD&until=YYYY-MM-DD   supervisors only; days in `timezone`,
                                         both included (default: the last 30 days up to today, by the clock)
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from agents.api import json_response
from agents.auth import requires
from agents.keys import CLOCK, POOL, SETTINGS
from agents.suggestions import schemas, services


@requires("supervisor", "read the accuracy of suggestions")
async def accuracy(request: web.Request) -> web.Response:
    tz = ZoneInfo(request.config_dict[SETTINGS].timezone)
    asked = schemas.period(request.query, request.config_dict[CLOCK].today(tz), tz)
    rows = await services.accuracy(request.config_dict[POOL], asked)
    return json_response(schemas.accuracy_view(asked, rows))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.get("/accuracy", accuracy)])
    return app

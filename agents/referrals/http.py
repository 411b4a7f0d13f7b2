"""The referral REST API, mounted at ``/api/referrals``: work orders that carry a referral, for the agency that
receives them (a legal-aid case system pulls with HTTP Basic as a supervisor). Callers masked, reads audited.

    GET /api/referrals?kind=legal_aid|mediation|notary|appraisal|arbitration|other&since=&status=&limit=&cursor=
                                                         -> {"referrals": [...], "next_cursor": ...}
    GET /api/referrals/{ticket_number}                   -> one referral

``since``: created at or after (an instant with its UTC offset, or a day in the hotline's time zone);
``status``: the work order's status; oldest first, ``limit`` 1..200 (50), ``cursor``: the page before's
``next_cursor``.
"""

from __future__ import annotations

from aiohttp import web

from agents import listing
from agents.api import json_response
from agents.auth import current_agent, requires
from agents.keys import POOL
from agents.referrals import services


@requires("supervisor", "pull referrals")
async def list_referrals(request: web.Request) -> web.Response:
    return await listing.answer(request, services.pull)


@requires("supervisor", "read referrals")
async def get_referral(request: web.Request) -> web.Response:
    pool = request.config_dict[POOL]
    return json_response(await services.read(pool, current_agent(request), request.match_info["ticket_number"]))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.get("", list_referrals), web.get("/{ticket_number}", get_referral)])
    return app

"""The web app: one sub-app per area under one parent that authenticates and answers errors as JSON.

The supervisor mounts it at :data:`PREFIX` beside its own /healthz and /metrics::

    root.add_subapp(PREFIX, create_app(pool, settings, clock))

An area is a package ``agents/<area>/`` whose ``http.create_app()`` builds its sub-app; it is mounted at the
prefix :data:`AREAS` names. The console's areas (``agent``, ``supervisor``, ``admin``) are added the same way.
The parent's middlewares run for every sub-app: ``json_errors`` outside, then ``storable_paths`` (400 on a path
parameter PostgreSQL cannot hold), ``authentication`` inside, so every route must declare its audience
(``agents.auth.requires`` or ``public``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from agents.account import http as account_http
from agents.admin import http as admin_http
from agents.api import Handler, json_errors, storable_paths
from agents.auth import authentication, public
from agents.calls import http as calls_http
from agents.desk import http as desk_http
from agents.desk.services import snapshot
from agents.keys import CLOCK, HUB, POOL, REGISTRAR, SETTINGS
from agents.live import http as live_http
from agents.live.hub import Hub
from agents.openapi import openapi_json
from agents.referrals import http as referrals_http
from agents.state import http as state_http
from agents.suggestions import http as suggestions_http
from agents.supervisor import http as supervisor_http
from agents.supervisor.services import wallboard
from agents.tickets import http as tickets_http
from hotline.clock import Clock
from hotline.config import Settings

PREFIX = "/api"
AREAS: dict[str, Callable[[], web.Application]] = {
    "/agents": state_http.create_app,
    "/tickets": tickets_http.create_app,
    "/suggestions": suggestions_http.create_app,
    "/calls": calls_http.create_app,
    "/referrals": referrals_http.create_app,
}


# The console's areas, mounted on the root app: pages and what they call.
CONSOLE: dict[str, Callable[[], web.Application]] = {
    "/account": account_http.create_app,
    "/agent": desk_http.create_app,
    "/supervisor": supervisor_http.create_app,
    "/admin": admin_http.create_app,
    "/live": live_http.create_app,
}
HERE = Path(__file__).parent
CSP = "default-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'"


def create_app(pool: Any, settings: Settings, clock: Clock, *, guarded: bool = True) -> web.Application:
    """The JSON API over ``pool`` (owned by the caller, who closes it), reading the time from ``clock``.
    ``guarded`` adds the error and authentication middlewares (off when a root app that has them mounts it)."""
    app = web.Application(middlewares=[json_errors, storable_paths, authentication] if guarded else [])
    app[POOL] = pool
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app.router.add_get("/openapi.json", openapi_json)
    for prefix, area in AREAS.items():
        app.add_subapp(prefix, area())
    return app


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@public
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/agent/")


def create_root(pool: Any, settings: Settings, clock: Clock, registrar: Any = None) -> web.Application:
    """The whole web app: the console's pages, its websocket, the JSON API under /api, the static files.
    Every route declares its audience (the root's authentication middleware refuses those that do not);
    ``registrar`` answers whether an agent's phone is registered (agents.registrar)."""
    root = web.Application(
        middlewares=[security_headers, json_errors, storable_paths, authentication],
        client_max_size=settings.console.max_body_kb * 1024,
    )
    root[POOL] = pool
    root[SETTINGS] = settings
    root[CLOCK] = clock
    root[REGISTRAR] = registrar
    aiohttp_jinja2.setup(root, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    root.router.add_get("/", home)
    root.router.add_static("/static/", HERE / "static", name="static")
    for prefix, area in CONSOLE.items():
        root.add_subapp(prefix, area())
    root.add_subapp(PREFIX, create_app(pool, settings, clock, guarded=False))
    root.cleanup_ctx.append(_hub(pool, settings))
    return root


def _hub(pool: Any, settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(app: web.Application) -> AsyncIterator[None]:
        if pool is None:
            yield
            return

        async def desk(conn: Any, agent: Any) -> dict[str, Any]:
            return await snapshot(conn, agent, settings)

        async def board(conn: Any) -> dict[str, Any]:
            return await wallboard(conn, settings.timezone)

        hub = Hub(pool, desk, board)
        app[HUB] = hub
        await hub.start()
        yield
        await hub.close()

    return run

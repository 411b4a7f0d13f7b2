"""The web app: one sub-app per area under one parent that authenticates and answers errors as JSON.

The supervisor mounts it at :data:`PREFIX` beside its own /healthz and /metrics::

    root.add_subapp(PREFIX, create_app(pool, settings, clock))

An area is a package ``agents/<area>/`` whose ``http.create_app()`` builds its sub-app; it is mounted at the
prefix :data:`AREAS` names. The console's areas (``agent``, ``supervisor``, ``admin``) are added the same way.
The parent's middlewares run for every sub-app: ``json_errors`` outside, ``authentication`` inside, so every
route must declare its audience (``agents.auth.requires`` or ``public``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from agents.api import json_errors
from agents.auth import authentication
from agents.keys import CLOCK, POOL, SETTINGS
from agents.state import http as state_http
from agents.suggestions import http as suggestions_http
from agents.tickets import http as tickets_http
from hotline.clock import Clock
from hotline.config import Settings

PREFIX = "/api"
AREAS: dict[str, Callable[[], web.Application]] = {
    "/agents": state_http.create_app,
    "/tickets": tickets_http.create_app,
    "/suggestions": suggestions_http.create_app,
}


def create_app(pool: Any, settings: Settings, clock: Clock) -> web.Application:
    """The web app over ``pool`` (owned by the caller, who closes it), reading the time from ``clock``."""
    app = web.Application(middlewares=[json_errors, authentication])
    app[POOL] = pool
    app[SETTINGS] = settings
    app[CLOCK] = clock
    for prefix, area in AREAS.items():
        app.add_subapp(prefix, area())
    return app

"""Typed application keys of the web app, set by whoever builds it (``agents.app.create_app``).

Sub-apps read them through ``request.config_dict``, which looks up the chain of apps.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.clock import Clock
from hotline.config import Settings

POOL: web.AppKey[Any] = web.AppKey("pool")
SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
REGISTRAR: web.AppKey[Any] = web.AppKey("registrar")  # agents.registrar.FrontRegistrar or anything with contacts()
HUB: web.AppKey[Any] = web.AppKey("hub")  # agents.live.hub.Hub: the websockets and their LISTEN connection

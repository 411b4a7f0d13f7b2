"""Typed application keys shared by the supervisor's web app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from hotline.config import Settings

POOL = web.AppKey("pool", Any)
SETTINGS = web.AppKey("settings", Settings)
HEALTH_SOURCES = web.AppKey("health_sources", dict[str, Callable[[], dict[str, Any]]])

"""The supervisor: checks the schema, serves /healthz, runs children, stops them in order on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiohttp import web

from db import migrate
from db.pool import create_pool
from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.privacy import load_keys
from hotline.supervisor import http
from hotline.supervisor.state import HEALTH_SOURCES, POOL, SETTINGS

log = logging.getLogger(__name__)


async def _serve_http(stack: contextlib.AsyncExitStack, settings: Settings, pool: Any) -> web.AppRunner:
    app = web.Application()
    app[POOL] = pool
    app[SETTINGS] = settings
    app[HEALTH_SOURCES] = {}
    app.add_routes(http.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    try:
        await site.start()
    except OSError as exc:
        raise HotlineError(
            f"cannot listen on http {settings.http.host}:{settings.http.port}: {exc.strerror} "
            "(set http.port or HOTLINE_HTTP_PORT)"
        ) from None
    return runner


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
            stack.callback(loop.remove_signal_handler, sig)
        load_keys(settings)  # fail early on a bad or unreadable secret
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate.require_current(conn)
        await _serve_http(stack, settings, pool)
        log.info("hotline up: health on http://%s:%d/healthz", settings.http.host, settings.http.port)
        await stop.wait()
        log.info("hotline up: stopping")

"""The health endpoint of the supervisor, beside the web app it mounts (agents.app). Metrics have their own
port: hotline/supervisor/metrics.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from agents.auth import public
from agents.keys import CLOCK, POOL
from db import health
from hotline.clock import Clock
from hotline.errors import HotlineError

HEALTH_SOURCES = web.AppKey("health_sources", dict[str, Callable[[], dict[str, Any]]])


async def _database(pool: Any, clock: Clock) -> dict[str, Any]:
    started = clock.monotonic()
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await health.ping(conn)
    except Exception as exc:  # any failure means "not reachable" for the health answer
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((clock.monotonic() - started) * 1000, 1)}


@public
async def healthz(request: web.Request) -> web.Response:
    report: dict[str, Any] = {"database": await _database(request.app[POOL], request.app[CLOCK])}
    for name, source in request.app[HEALTH_SOURCES].items():
        report[name] = source()
    ok = all(part.get("ok", False) for part in report.values())
    report["status"] = "ok" if ok else "degraded"
    return web.json_response(report, status=200 if ok else 503, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz)]


async def listen(
    stack: contextlib.AsyncExitStack, app: web.Application, host: str, port: int, what: str, hint: str
) -> web.AppRunner:
    """Serve `app` on host:port until the stack closes; a port in use is a clear error naming the setting."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        raise HotlineError(f"cannot listen on {what} {host}:{port}: {exc.strerror} ({hint})") from None
    return runner

"""The health endpoints of the supervisor, beside the web app it mounts (agents.app). Metrics have their own
port: hotline/supervisor/metrics.py.

GET /healthz   readiness: 200 only when the service can take calls: start-up is over, the database answers,
               every part is healthy and the live checks pass (with the engine: the front answers a SIP OPTIONS
               and at least one cell is in its dispatch set); 503 otherwise, with what failed
GET /livez     liveness: 200 while the process runs (its pid and how long it has been up)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agents.auth import public
from agents.keys import CLOCK, POOL
from db import health
from hotline.clock import Clock
from hotline.errors import HotlineError

HEALTH_SOURCES = web.AppKey("health_sources", dict[str, Callable[[], dict[str, Any]]])
#: Checks that ask a part over the wire (the front's SIP), each bounded by CHECK_TIMEOUT_S.
HEALTH_CHECKS = web.AppKey("health_checks", dict[str, Callable[[], Awaitable[dict[str, Any]]]])
STARTED = web.AppKey("started", asyncio.Event)
UP_SINCE = web.AppKey("up_since", float)
CHECK_TIMEOUT_S = 2.0


def setup_health(app: web.Application, clock: Clock) -> None:
    """The health keys of a new app: no sources yet, not started (readiness 503 until `STARTED` is set)."""
    app[HEALTH_SOURCES] = {}
    app[HEALTH_CHECKS] = {}
    app[STARTED] = asyncio.Event()
    app[UP_SINCE] = clock.monotonic()


async def _check(check: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await check()
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
    except Exception as exc:  # any failure means "not ready" for the health answer
        return {"ok": False, "error": type(exc).__name__}


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
    started = request.app[STARTED].is_set()
    report: dict[str, Any] = {"startup": {"ok": started, "state": "up" if started else "starting"}}
    report["database"] = await _database(request.app[POOL], request.app[CLOCK])
    for name, source in request.app[HEALTH_SOURCES].items():
        report[name] = source()
    checks = request.app[HEALTH_CHECKS]
    for name, result in zip(checks, await asyncio.gather(*(_check(c) for c in checks.values())), strict=True):
        report[name] = result
    ok = all(part.get("ok", False) for part in report.values())
    journaling = report.get("journal", {}).get("state") == "journaling"
    if not started:
        report["status"] = "starting"
    elif journaling:  # calls are served, their records wait in the journals for the database
        report["status"] = "degraded: journaling"
    else:
        report["status"] = "ok" if ok else "degraded"
    return web.json_response(report, status=200 if ok else 503, dumps=_dumps)


@public
async def livez(request: web.Request) -> web.Response:
    import os

    up = request.app[CLOCK].monotonic() - request.app[UP_SINCE]
    return web.json_response({"status": "alive", "pid": os.getpid(), "uptime_s": round(up, 1)})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/livez", livez)]


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

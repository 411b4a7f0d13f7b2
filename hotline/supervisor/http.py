"""Health and metrics endpoints of the supervisor, beside the web app it mounts (agents.app)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.auth import public
from agents.keys import CLOCK, POOL
from db import health
from hotline.clock import Clock

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


@public
async def metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/metrics", metrics)]

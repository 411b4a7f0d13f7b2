"""Health and metrics endpoints of the supervisor."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hotline.supervisor.state import HEALTH_SOURCES, POOL


async def _database(pool: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "not reachable" for the health answer
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.monotonic() - started) * 1000, 1)}


async def healthz(request: web.Request) -> web.Response:
    report: dict[str, Any] = {"database": await _database(request.app[POOL])}
    for name, source in request.app[HEALTH_SOURCES].items():
        report[name] = source()
    ok = all(part.get("ok", False) for part in report.values())
    report["status"] = "ok" if ok else "degraded"
    return web.json_response(report, status=200 if ok else 503, dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


async def metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/metrics", metrics)]

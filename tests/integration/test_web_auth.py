"""The web app's authentication middleware and requires(role), against the real PostgreSQL; every route of every
sub-app declares who may call it; handlers read "today" from the injected clock."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agents import app as agents_app
from agents.api import json_errors, json_response
from agents.auth import access_of, authentication, current_agent, public, requires
from agents.keys import POOL
from db import agents
from hotline.clock import SYSTEM, FrozenClock
from hotline.config import Settings

PASSWORD = "password-123"


def _basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _routes(app: web.Application, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(method, path, handler) of every route of ``app`` and of its sub-apps, however deep."""
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            yield from _routes(info["app"], prefix + info["prefix"])
            continue
        for route in resource:
            if route.method != "HEAD":  # aiohttp's twin of each GET, with the same handler
                yield route.method, resource.canonical, route.handler


def _undeclared(app: web.Application) -> list[str]:
    return [f"{method} {path}" for method, path, handler in _routes(app) if access_of(handler) is None]


def test_every_route_of_every_sub_app_declares_its_role_or_is_public() -> None:
    app = agents_app.create_app(None, Settings(), SYSTEM)
    found = sorted(f"{method} {path}" for method, path, _ in _routes(app))
    assert found == [
        "GET /agents/me",
        "GET /calls",
        "GET /calls/{call_id}",
        "GET /openapi.json",
        "GET /referrals",
        "GET /referrals/{ticket_number}",
        "GET /suggestions/accuracy",
        "GET /tickets/{number}",
        "POST /agents/me/state",
        "POST /agents/{username}/state",
        "POST /tickets/{number}/fields",
    ]
    areas = {"/" + route.split(" ")[1].split("/")[1] for route in found if route != "GET /openapi.json"}
    assert areas == set(agents_app.AREAS)
    assert _undeclared(app) == []


def test_the_route_walk_finds_a_handler_that_declares_nothing() -> None:
    async def forgotten(request: web.Request) -> web.Response:
        return web.Response()

    area = web.Application()
    area.add_routes([web.get("/forgotten", forgotten)])
    app = agents_app.create_app(None, Settings(), SYSTEM)
    app.add_subapp("/new", area)
    assert _undeclared(app) == ["GET /new/forgotten"]


def test_requires_knows_only_the_three_roles() -> None:
    with pytest.raises(ValueError, match="agent, supervisor, admin"):
        requires("lawyer")  # type: ignore[arg-type]


@requires("agent")
async def _whoami(request: web.Request) -> web.Response:
    return json_response({"username": current_agent(request).username})


@requires("supervisor", "see the wallboard")
async def _wallboard(request: web.Request) -> web.Response:
    return json_response({"ok": True})


@requires("admin", "edit the agents")
async def _admin(request: web.Request) -> web.Response:
    return json_response({"ok": True})


@public
async def _open(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def _forgotten(request: web.Request) -> web.Response:
    return json_response({"ok": True})


@pytest.fixture
async def client(db: str) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """A parent app with the web app's middlewares and an area of one route per audience; agents of each role."""
    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        for username, role in (("lawyer01", "lawyer"), ("boss", "supervisor"), ("root", "admin")):
            await agents.create(conn, username, username, role, PASSWORD)
    area = web.Application()
    area.add_routes(
        [
            web.get("/whoami", _whoami),
            web.get("/wallboard", _wallboard),
            web.get("/admin", _admin),
            web.get("/open", _open),
            web.get("/forgotten", _forgotten),
        ]
    )
    app = web.Application(middlewares=[json_errors, authentication])
    app[POOL] = pool
    app.add_subapp("/area", area)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    await pool.close()


async def _get(client: TestClient[web.Request, web.Application], path: str, **headers: str) -> tuple[int, Any]:
    async with client.get(path, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_a_supervisor_route_answers_401_without_credentials_and_403_to_an_agent(client: Any) -> None:
    async with client.get("/area/wallboard") as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="12348", charset="UTF-8"'
        assert "console password" in (await resp.json())["error"]
    assert await _get(client, "/area/wallboard", **_basic("lawyer01")) == (
        403,
        {"error": "agent lawyer01 (lawyer) may not see the wallboard"},
    )
    assert await _get(client, "/area/wallboard", **_basic("boss")) == (200, {"ok": True})
    assert await _get(client, "/area/wallboard", **_basic("root")) == (200, {"ok": True})


async def test_admin_routes_admit_only_admins_and_agent_routes_every_active_agent(client: Any) -> None:
    assert (await _get(client, "/area/admin", **_basic("boss")))[0] == 403
    assert (await _get(client, "/area/admin", **_basic("root")))[0] == 200
    for user in ("lawyer01", "boss", "root"):
        assert await _get(client, "/area/whoami", **_basic(user)) == (200, {"username": user})


async def test_wrong_or_malformed_credentials_are_refused(client: Any) -> None:
    assert await _get(client, "/area/whoami", **_basic("lawyer01", "wrong")) == (
        401,
        {"error": "wrong username or password"},
    )
    status, body = await _get(client, "/area/whoami", Authorization="Basic abc")  # bad padding
    assert status == 400 and "base64" in body["error"]


async def test_public_routes_need_no_credentials_and_undeclared_routes_are_closed(client: Any) -> None:
    assert await _get(client, "/area/open") == (200, {"ok": True})
    status, body = await _get(client, "/area/forgotten", **_basic("root"))
    assert status == 403 and "declares no role" in body["error"]
    async with client.get("/area/nowhere") as resp:
        assert resp.status == 404  # no route: aiohttp's answer, no credentials asked


async def test_the_accuracy_reports_default_period_ends_on_the_clocks_day_in_the_hotlines_zone(db: str) -> None:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await agents.create(conn, "boss", "王主任", "supervisor", PASSWORD)
    clock = FrozenClock(dt.datetime(2020, 1, 14, 18, 30, tzinfo=dt.UTC))  # 2020-01-15 02:30 in Asia/Shanghai
    root = web.Application()
    root.add_subapp(agents_app.PREFIX, agents_app.create_app(pool, Settings(), clock))
    try:
        async with TestClient(TestServer(root)) as client:
            status, report = await _get(client, "/api/suggestions/accuracy", **_basic("boss"))
    finally:
        await pool.close()
    assert status == 200
    assert (report["since"], report["until"], report["timezone"]) == ("2019-12-16", "2020-01-15", "Asia/Shanghai")

"""The admin page's accounts and skills, through aiohttp's test client against the real PostgreSQL: creating
agents (never overwriting one), disabling and enabling them, resetting passwords, changing roles, replacing
skills; each change audited without the password, each refusal leaving everything as it was."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from db import agents, sessions
from hotline.clock import SYSTEM
from hotline.config import ConsoleSettings, Settings
from hotline.supervisor.service import make_app
from tests.support import console

PASSWORDS = {"root": "root-password", "root2": "root2-password", "boss": "boss-password", "lawyer01": "password-123"}
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def pool(db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(db, min_size=1, max_size=4)
    async with p.acquire() as conn:
        await agents.create(conn, "root", "系统管理员", "admin", PASSWORDS["root"])
        await agents.create(conn, "root2", "备用管理员", "admin", PASSWORDS["root2"])
        await agents.create(conn, "boss", "王主任", "supervisor", PASSWORDS["boss"])
        await agents.create(conn, "lawyer01", "张律师", "lawyer", PASSWORDS["lawyer01"])
        await conn.execute("INSERT INTO skills (kind, name) VALUES ('language', '彝语'), ('legal_area', '劳动争议')")
    yield p
    await p.close()


@pytest.fixture
async def client(pool: asyncpg.Pool) -> AsyncIterator[Client]:
    app = make_app(Settings(console=ConsoleSettings(require_registration=False)), pool, SYSTEM)
    async with TestClient(TestServer(app)) as c:
        yield c


def basic(username: str, password: str | None = None) -> dict[str, str]:
    return console.basic(username, password or PASSWORDS[username])


async def post(client: Client, path: str, body: Any, as_: str = "root") -> tuple[int, Any]:
    async with client.post(path, data=json.dumps(body), headers=basic(as_)) as resp:
        return resp.status, await resp.json()


async def audit_rows(pool: asyncpg.Pool, object_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    rows = await pool.fetch("SELECT actor, action, detail FROM audit_log WHERE object_id = $1 ORDER BY id", object_id)
    return [(r["actor"], r["action"], json.loads(r["detail"])) for r in rows]


async def counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM agents) AS a, (SELECT count(*) FROM agent_skills) AS s,
                  (SELECT count(*) FROM audit_log) AS l"""
    )
    return row["a"], row["s"], row["l"]


@pytest.fixture
async def browsers(client: Client) -> AsyncIterator[list[Client]]:
    """Browsers opened by a test, closed after it."""
    opened: list[Client] = []
    yield opened
    for browser in opened:
        await browser.close()


async def browser_login(client: Client, browsers: list[Client], username: str) -> Client:
    """A browser (its own cookie jar) logged in through the login form."""
    return await console.browser_login(client.server, browsers, username, PASSWORDS[username])


async def opens_desk(browser: Client) -> bool:
    async with browser.get("/agent/", allow_redirects=False) as resp:
        return resp.status == 200


NEW = {"username": "mediator07", "display_name": "赵调解员", "role": "mediator", "password": "mediate-2024"}


async def test_an_admin_creates_an_agent_who_can_then_log_in(client: Client, pool: asyncpg.Pool) -> None:
    status, body = await post(client, "/admin/agents", NEW)
    assert status == 201, body
    assert body["agent"]["role_name"] == "调解员" and body["agent"]["state"] == "logged_out"
    async with client.get("/api/agents/me", headers=basic("mediator07", "mediate-2024")) as resp:
        assert resp.status == 200
    async with client.get("/admin/", headers=basic("root")) as resp:
        page = await resp.text()
    assert "赵调解员" in page and "调解员" in page and "法律援助工作者" in page
    assert await audit_rows(pool, "mediator07") == [
        ("root", "create", {"display_name": "赵调解员", "role": "mediator"})
    ]


async def test_an_existing_username_is_refused_with_409_and_the_agent_is_untouched(
    client: Client, pool: asyncpg.Pool
) -> None:
    before = await counts(pool)
    status, body = await post(client, "/admin/agents", {**NEW, "username": "lawyer01", "role": "admin"})
    assert status == 409 and "lawyer01" in body["error"]
    lawyer = await agents.get(pool, "lawyer01")
    assert (lawyer.display_name, lawyer.role) == ("张律师", "lawyer")
    async with client.get("/api/agents/me", headers=basic("lawyer01")) as resp:
        assert resp.status == 200  # the old password still works
    assert await counts(pool) == before


async def test_bad_fields_answer_422_naming_each_field_and_insert_nothing(client: Client, pool: asyncpg.Pool) -> None:
    before = await counts(pool)
    bad = {"username": "Bad Name!", "display_name": "  ", "role": "judge", "password": "short"}
    status, body = await post(client, "/admin/agents", bad)
    assert status == 422
    assert set(body["fields"]) == {"username", "display_name", "role", "password"}
    assert "3 至 32" in body["fields"]["username"] and "8" in body["fields"]["password"]
    assert "调解员" in body["fields"]["role"]
    same = {**NEW, "password": NEW["username"]}
    status, body = await post(client, "/admin/agents", same)
    assert status == 422 and body["fields"] == {"password": "密码不能与用户名相同"}
    long_name = {**NEW, "display_name": "张" * 41}
    assert (await post(client, "/admin/agents", long_name))[0] == 422
    assert await counts(pool) == before


ROUTES = (
    ("/admin/agents", NEW),
    ("/admin/agents/lawyer01/active", {"active": False}),
    ("/admin/agents/lawyer01/password", {"password": "another-password"}),
    ("/admin/agents/lawyer01/role", {"role": "admin"}),
    ("/admin/agents/lawyer01/skills", {"skills": {"language:彝语": 3}}),
    ("/admin/skills", {"kind": "language", "name": "傣语"}),
)


async def test_a_supervisor_gets_403_on_every_admin_route_and_changes_nothing(
    client: Client, pool: asyncpg.Pool
) -> None:
    before = await counts(pool)
    for path, body in ROUTES:
        status, answer = await post(client, path, body, as_="boss")
        assert status == 403, path
        assert "boss" in answer["error"]
    async with client.get("/admin/", headers=basic("boss")) as resp:
        assert resp.status == 403
    assert await counts(pool) == before
    assert (await agents.get(pool, "lawyer01")).active


async def test_disabling_logs_the_agent_out_ends_their_sessions_and_enabling_lets_them_back(
    client: Client, pool: asyncpg.Pool, browsers: list[Client]
) -> None:
    browser = await browser_login(client, browsers, "lawyer01")
    assert await opens_desk(browser)
    async with pool.acquire() as conn:
        lawyer = await agents.change_state(conn, "lawyer01", "available", cause="agent", actor="lawyer01")
    assert await sessions.count(pool, lawyer.id) == 1

    status, body = await post(client, "/admin/agents/lawyer01/active", {"active": False})
    assert status == 200, body
    assert body["agent"]["active"] is False and body["agent"]["state"] == "logged_out" and body["sessions_ended"] == 1
    assert await sessions.count(pool, lawyer.id) == 0
    assert not await opens_desk(browser)
    async with client.get("/api/agents/me", headers=basic("lawyer01")) as resp:
        assert resp.status == 401
    last = await pool.fetchrow(
        "SELECT from_state, to_state, cause, actor, reason FROM agent_state_log WHERE agent_id = $1 ORDER BY id DESC",
        lawyer.id,
    )
    assert tuple(last) == ("available", "logged_out", "supervisor", "root", "账号停用")
    assert await pool.fetchval("SELECT count(*) FROM sip_subscribers WHERE username = 'lawyer01'") == 0

    status, body = await post(client, "/admin/agents/lawyer01/active", {"active": True})
    assert status == 200 and body["agent"]["active"] is True
    async with client.get("/api/agents/me", headers=basic("lawyer01")) as resp:
        assert resp.status == 200
    changes = [(actor, action, detail["change"]) for actor, action, detail in await audit_rows(pool, "lawyer01")]
    assert changes == [("root", "update", "disable"), ("root", "update", "enable")]


async def test_a_reset_password_replaces_both_credentials_and_ends_sessions(
    client: Client, pool: asyncpg.Pool, browsers: list[Client]
) -> None:
    browser = await browser_login(client, browsers, "lawyer01")
    before = await pool.fetchrow("SELECT password_hash, sip_ha1 FROM agents WHERE username = 'lawyer01'")
    status, body = await post(client, "/admin/agents/lawyer01/password", {"password": "lawyer01"})
    assert status == 422 and set(body["fields"]) == {"password"}
    status, body = await post(client, "/admin/agents/lawyer01/password", {"password": "new-secret-9"})
    assert status == 200 and body["sessions_ended"] == 1
    after = await pool.fetchrow("SELECT password_hash, sip_ha1 FROM agents WHERE username = 'lawyer01'")
    assert after["password_hash"] != before["password_hash"]
    assert after["sip_ha1"] == agents.sip_ha1("lawyer01", "12348", "new-secret-9") != before["sip_ha1"]
    assert not await opens_desk(browser)
    async with client.get("/api/agents/me", headers=basic("lawyer01")) as resp:
        assert resp.status == 401
    async with client.get("/api/agents/me", headers=basic("lawyer01", "new-secret-9")) as resp:
        assert resp.status == 200
    rows = await audit_rows(pool, "lawyer01")
    assert rows == [("root", "update", {"change": "password", "sessions_ended": 1})]
    assert (
        "new-secret-9" not in json.dumps(rows)
        and await pool.fetchval("SELECT count(*) FROM audit_log WHERE detail::text LIKE '%new-secret%'") == 0
    )


async def test_an_admin_may_not_disable_or_demote_themselves_but_another_admin_may(
    client: Client, pool: asyncpg.Pool
) -> None:
    before = await counts(pool)
    status, body = await post(client, "/admin/agents/root/active", {"active": False})
    assert status == 409 and "自己" in body["error"]
    status, body = await post(client, "/admin/agents/root/role", {"role": "lawyer"})
    assert status == 409 and "自己" in body["error"]
    root = await agents.get(pool, "root")
    assert (root.active, root.role) == (True, "admin")
    assert await counts(pool) == before

    status, body = await post(client, "/admin/agents/root2/role", {"role": "supervisor"})
    assert status == 200 and body["agent"]["role_name"] == "值班长"
    assert await audit_rows(pool, "root2") == [
        ("root", "update", {"change": "role", "role": "supervisor", "previous": "admin"})
    ]
    status, body = await post(client, "/admin/agents/lawyer01/role", {"role": "judge"})
    assert status == 422 and set(body["fields"]) == {"role"}
    assert (await post(client, "/admin/agents/nobody/role", {"role": "lawyer"}))[0] == 404


async def test_skills_are_replaced_and_an_unknown_skill_or_level_changes_nothing(
    client: Client, pool: asyncpg.Pool
) -> None:
    path = "/admin/agents/lawyer01/skills"
    status, body = await post(client, path, {"skills": {"language:彝语": 3, "legal_area:劳动争议": 8}})
    assert status == 200 and body["skills"] == {"language:彝语": 3, "legal_area:劳动争议": 8}
    status, body = await post(client, path, {"skills": {"language:彝语": 5}})
    assert status == 200 and body["skills"] == {"language:彝语": 5}

    status, body = await post(client, path, {"skills": {"language:彝语": 9, "language:藏语": 2}})
    assert status == 422 and set(body["fields"]) == {"language:藏语"} and "language:藏语" in body["error"]
    status, body = await post(client, path, {"skills": {"language:彝语": 11}})
    assert status == 422 and "1 至 10" in body["fields"]["language:彝语"]
    lawyer = await agents.get(pool, "lawyer01")
    levels = await pool.fetch("SELECT skill_id, level FROM agent_skills WHERE agent_id = $1", lawyer.id)
    assert [r["level"] for r in levels] == [5]

    async with client.get("/admin/", headers=basic("root")) as resp:
        page = await resp.text()
    assert "language:彝语（5）" in page and "劳动争议" in page
    details = [detail for _, _, detail in await audit_rows(pool, "lawyer01")]
    assert details[-1] == {"skills": {"language:彝语": 5}, "previous": {"language:彝语": 3, "legal_area:劳动争议": 8}}
    assert len(details) == 2


async def test_an_admin_defines_a_skill_once(client: Client, pool: asyncpg.Pool) -> None:
    status, body = await post(client, "/admin/skills", {"kind": "language", "name": " 傣语 "})
    assert status == 201 and body["skill"] == "language:傣语"
    assert (await post(client, "/admin/skills", {"kind": "language", "name": "傣语"}))[0] == 409
    status, body = await post(client, "/admin/skills", {"kind": "dialect", "name": ""})
    assert status == 422 and set(body["fields"]) == {"kind", "name"}
    assert await audit_rows(pool, "language:傣语") == [("root", "create", {})]

"""The web console's accounts and security, through aiohttp's test client against the real PostgreSQL: login,
session rotation, throttling, CSRF, roles, idle and absolute timeouts, logout, the work-order draft, body size
and the security headers. Ages of sessions are PostgreSQL's clock, so timeouts are tested by moving the stored
stamps back, not by waiting."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from db import agents, calls
from hotline.caller.phone import parse_caller
from hotline.clock import SYSTEM
from hotline.config import ConsoleSettings, Settings
from hotline.supervisor.service import make_app
from hotline.tag.taxonomy import LEGAL_AREAS, SERVICES
from tests.support.calls import CALLER, KEYS

PASSWORD = "password-123"
COOKIE = "hotline_session"
LOGIN_COOKIE = "hotline_login"
AGENTS = (
    ("lawyer01", "张律师", "lawyer"),
    ("lawyer02", "李律师", "lawyer"),
    ("boss", "王主任", "supervisor"),
    ("root", "系统管理员", "admin"),
)

Browser = TestClient[web.Request, web.Application]


class Console:
    """One console server over the test database; each browser is a client with its own cookie jar."""

    def __init__(self, server: TestServer, stack: AsyncExitStack) -> None:
        self.server = server
        self._stack = stack

    async def browser(self, token: str | None = None) -> Browser:
        """A new browser; with ``token``, one that carries that session cookie (stolen, kept, or planted)."""
        client: Browser = TestClient(self.server)
        await client.start_server()  # the shared server starts once
        self._stack.push_async_callback(client.close)
        if token is not None:
            client.session.cookie_jar.update_cookies({COOKIE: token}, response_url=client.make_url("/"))
        return client


StartConsole = Callable[..., Awaitable[Console]]


def _settings(**console: Any) -> Settings:
    """No SIP front here: going available is allowed without a registered phone unless a test asks otherwise."""
    return Settings(console=ConsoleSettings(**{"require_registration": False, **console}))


@pytest.fixture
async def pool(db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=6)
    async with pool.acquire() as conn:
        for username, name, role in AGENTS:
            await agents.create(conn, username, name, role, PASSWORD)
    yield pool
    await pool.close()


@pytest.fixture
async def console(pool: asyncpg.Pool) -> AsyncIterator[StartConsole]:
    """Start the supervisor's web app (console, API, static files) with the given settings."""
    async with AsyncExitStack() as stack:
        server: TestServer | None = None

        async def start(settings: Settings | None = None) -> Console:
            nonlocal server
            assert server is None, "one console per test"
            server = TestServer(make_app(settings or _settings(), pool, SYSTEM))
            stack.push_async_callback(server.close)  # after the browsers (the stack unwinds in reverse)
            return Console(server, stack)

        yield start


# ---- helpers


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden field {name!r} in the page"
    return html.unescape(found.group(1))


def _meta_csrf(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', page)
    assert found, "no <meta name=csrf-token> in the page"
    return html.unescape(found.group(1))


def _cookie(browser: Browser, name: str = COOKIE, path: str = "/") -> str | None:
    morsel = browser.session.cookie_jar.filter_cookies(browser.make_url(path)).get(name)
    return morsel.value if morsel is not None else None


def _set_cookie(headers: CIMultiDictProxy[str], name: str) -> str:
    found = [h for h in headers.getall("Set-Cookie", []) if h.startswith(f"{name}=")]
    assert len(found) == 1, headers.getall("Set-Cookie", [])
    return found[0]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _login_form(browser: Browser, next_path: str = "/agent/") -> str:
    async with browser.get("/account/login", params={"next": next_path}) as resp:
        assert resp.status == 200
        return _hidden(await resp.text(), "csrf")


async def _post_login(
    browser: Browser, username: str, password: str = PASSWORD, next_path: str = "/agent/"
) -> tuple[int, CIMultiDictProxy[str], str]:
    csrf = await _login_form(browser, next_path)
    form = {"username": username, "password": password, "csrf": csrf, "next": next_path}
    async with browser.post("/account/login", data=form, allow_redirects=False) as resp:
        return resp.status, resp.headers, await resp.text()


async def _login(browser: Browser, username: str = "lawyer01") -> str:
    """Log in; the page's CSRF token."""
    status, _, _ = await _post_login(browser, username)
    assert status == 303, status
    return await _page_csrf(browser)


async def _page_csrf(browser: Browser, path: str = "/agent/") -> str:
    async with browser.get(path, allow_redirects=False) as resp:
        assert resp.status == 200, resp.status
        return _meta_csrf(await resp.text())


async def _redirected_to_login(browser: Browser, path: str = "/agent/") -> bool:
    async with browser.get(path, allow_redirects=False) as resp:
        return resp.status == 303 and urlsplit(resp.headers["Location"]).path == "/account/login"


async def _post_json(
    browser: Browser, path: str, body: Any, csrf: str | None = None, **headers: str
) -> tuple[int, Any]:
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    async with browser.post(path, json=body, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.json()


async def _state(pool: asyncpg.Pool, username: str = "lawyer01") -> tuple[str, int]:
    """The agent's state and how many state changes were logged for it."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT a.state, (SELECT count(*) FROM agent_state_log l WHERE l.agent_id = a.id) AS changes
               FROM agents a WHERE a.username = $1""",
            username,
        )
    return row["state"], row["changes"]


async def _sessions(pool: asyncpg.Pool, username: str = "lawyer01") -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT s.id FROM web_sessions s JOIN agents a ON a.id = s.agent_id WHERE a.username = $1", username
        )
    return sorted(r["id"] for r in rows)


async def _database_text(pool: asyncpg.Pool) -> str:
    """Every row of every table of the database, as text."""
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            """SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name
               FROM information_schema.tables
               WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"""
        )
        parts: list[str] = []
        for table in tables:
            rows = await conn.fetch(f"SELECT t::text AS row FROM {table['name']} t")
            parts.extend(r["row"] for r in rows)
    return "\n".join(parts)


# ---- 1. login through the form


async def test_login_form_sets_a_strict_httponly_session_cookie_redirects_to_next_and_rotates_the_session(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    browser = await c.browser()
    async with browser.get("/account/login", params={"next": "/agent/desk"}) as resp:
        assert resp.status == 200
        page = await resp.text()
        login_cookie = _set_cookie(resp.headers, LOGIN_COOKIE)
    csrf = _hidden(page, "csrf")
    assert len(csrf) >= 24 and _hidden(page, "next") == "/agent/desk"
    assert login_cookie.startswith(f"{LOGIN_COOKIE}={csrf};") and "HttpOnly" in login_cookie
    assert _cookie(browser, LOGIN_COOKIE, "/account/login") == csrf

    # a fixation attempt: the browser comes with a session id chosen by someone else
    planted = "planted-by-an-attacker-0123456789abcdef"
    browser.session.cookie_jar.update_cookies({COOKIE: planted}, response_url=browser.make_url("/"))
    form = {"username": "lawyer01", "password": PASSWORD, "csrf": csrf, "next": "/agent/desk"}
    async with browser.post("/account/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/agent/desk"
        header = _set_cookie(resp.headers, COOKIE)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in header.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    first = _cookie(browser)
    assert first is not None and first != planted and header.startswith(f"{COOKIE}={first};")
    assert await _sessions(pool) == [_digest(first)]  # only the digest is stored, never the token
    async with browser.get("/agent/desk") as resp:
        assert resp.status == 200
        assert (await resp.json())["agent"]["username"] == "lawyer01"

    # logging in again with a live session: a new id, and the old one is over
    status, _, _ = await _post_login(browser, "lawyer01")
    assert status == 303
    second = _cookie(browser)
    assert second is not None and second != first
    assert await _sessions(pool) == [_digest(second)]
    old = await c.browser(first)
    assert await _redirected_to_login(old)
    async with old.get("/agent/desk") as resp:
        assert resp.status == 401
    assert await _page_csrf(browser)  # the new session works


async def test_login_redirects_only_to_paths_of_this_site(console: StartConsole) -> None:
    c = await console()
    status, headers, _ = await _post_login(await c.browser(), "lawyer01", next_path="//evil.example/phish")
    assert status == 303 and headers["Location"] == "/"


async def test_login_without_the_forms_csrf_token_is_refused(console: StartConsole, pool: asyncpg.Pool) -> None:
    c = await console()
    browser = await c.browser()
    await _login_form(browser)
    form = {"username": "lawyer01", "password": PASSWORD, "csrf": "not-the-token", "next": "/agent/"}
    async with browser.post("/account/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 403
        assert "页面已过期" in await resp.text()
    assert _cookie(browser) is None and await _sessions(pool) == []


# ---- 2. wrong passwords and the throttle


async def test_wrong_passwords_are_recorded_then_throttled_with_retry_after_and_no_password_is_stored(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console(_settings(login_failures=3, login_window_minutes=15))
    browser = await c.browser()
    wrong = "wrong-password-7391"
    status, _, page = await _post_login(browser, "lawyer01", wrong)
    assert status == 401
    assert "用户名或密码错误" in page and 'name="password"' in page  # the form again, with the error
    assert _cookie(browser) is None and await _sessions(pool) == []

    for _ in range(2):
        assert (await _post_login(browser, "lawyer01", wrong))[0] == 401
    status, headers, page = await _post_login(browser, "lawyer01", PASSWORD)  # right, but too late
    assert status == 429
    assert "登录失败次数过多" in page
    assert 0 < int(headers["Retry-After"]) <= 15 * 60
    assert _cookie(browser) is None and await _sessions(pool) == []
    # the same address guessing another account is refused too
    assert (await _post_login(browser, "lawyer02", PASSWORD))[0] == 429

    async with pool.acquire() as conn:
        failures = await conn.fetch("SELECT username, address FROM login_failures ORDER BY id")
    assert [(r["username"], r["address"]) for r in failures] == [("lawyer01", "127.0.0.1")] * 3
    stored = await _database_text(pool)
    assert "lawyer01" in stored  # the dump does see the tables
    assert wrong not in stored and PASSWORD not in stored


async def test_failures_older_than_the_window_no_longer_count(console: StartConsole, pool: asyncpg.Pool) -> None:
    c = await console(_settings(login_failures=3, login_window_minutes=15))
    browser = await c.browser()
    for _ in range(3):
        assert (await _post_login(browser, "lawyer01", "wrong-password"))[0] == 401
    assert (await _post_login(browser, "lawyer01"))[0] == 429
    async with pool.acquire() as conn:
        await conn.execute("UPDATE login_failures SET at = at - interval '16 minutes'")
    assert (await _post_login(browser, "lawyer01"))[0] == 303
    async with pool.acquire() as conn:  # a success forgets the account's failures
        assert await conn.fetchval("SELECT count(*) FROM login_failures WHERE username = 'lawyer01'") == 0


# ---- going available needs a registered phone (default settings)


async def test_going_available_without_a_registered_phone_is_refused_in_chinese_and_changes_nothing(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console(Settings())  # require_registration on, and no SIP front to ask
    browser = await c.browser()
    csrf = await _login(browser)
    status, body = await _post_json(browser, "/agent/state", {"state": "available"}, csrf)
    assert status == 409
    assert "注册" in body["error"] and "示闲" in body["error"]
    assert await _state(pool) == ("logged_out", 0)


# ---- 3. CSRF


async def test_a_session_post_without_or_with_a_wrong_csrf_token_is_refused_and_with_the_pages_token_accepted(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    browser = await c.browser()
    csrf = await _login(browser)
    assert len(csrf) >= 32
    status, body = await _post_json(browser, "/agent/state", {"state": "available"})
    assert status == 403 and "CSRF" in body["error"]
    status, body = await _post_json(browser, "/agent/state", {"state": "available"}, csrf[:-1] + "x")
    assert status == 403 and "CSRF" in body["error"]
    # another session's token is no better
    other = await c.browser()
    other_csrf = await _login(other, "lawyer02")
    assert (await _post_json(browser, "/agent/state", {"state": "available"}, other_csrf))[0] == 403
    assert await _state(pool) == ("logged_out", 0)

    status, body = await _post_json(browser, "/agent/state", {"state": "available"}, csrf)
    assert status == 200
    assert body["agent"]["state"] == "available"
    assert await _state(pool) == ("available", 1)


# ---- 4. roles and the unauthenticated


async def test_an_agent_may_not_open_the_supervisor_or_admin_pages_nor_change_membership(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    browser = await c.browser()
    csrf = await _login(browser)
    for page in ("/supervisor/", "/admin/"):
        async with browser.get(page, allow_redirects=False) as resp:
            assert resp.status == 403, page
            assert resp.content_type == "text/html"
            assert "lawyer01" in await resp.text()
    async with browser.get("/supervisor/wallboard") as resp:
        assert resp.status == 403
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM queue_members")
    member = {"queue": "legal_consult", "username": "lawyer01", "penalty": 0, "tier": 1}
    status, body = await _post_json(browser, "/admin/members", member, csrf)
    assert status == 403 and "lawyer01 (lawyer) may not change queue membership" in body["error"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM queue_members") == before
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action <> 'login'") == 0


async def test_a_supervisor_sees_the_wallboard_and_an_admin_changes_membership(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    boss = await c.browser()
    await _login(boss, "boss")
    async with boss.get("/supervisor/wallboard") as resp:
        assert resp.status == 200
        board = await resp.json()
    assert board["type"] == "wallboard"
    assert {a["username"]: a["state"] for a in board["agents"]}["lawyer01"] == "logged_out"
    assert "legal_consult" in {q["name"] for q in board["queues"]}
    async with boss.get("/admin/", allow_redirects=False) as resp:
        assert resp.status == 403

    root = await c.browser()
    csrf = await _login(root, "root")
    member = {"queue": "legal_consult", "username": "lawyer01", "penalty": 2, "tier": 1}
    status, body = await _post_json(root, "/admin/members", member, csrf)
    assert status == 200
    assert [m["username"] for m in body["members"]] == ["lawyer01"]


async def test_the_unauthenticated_are_sent_to_login_from_pages_and_get_401_from_json(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    browser = await c.browser()
    async with browser.get("/agent/", allow_redirects=False) as resp:
        assert resp.status == 303
        location = urlsplit(resp.headers["Location"])
    assert location.path == "/account/login" and parse_qs(location.query) == {"next": ["/agent/"]}
    async with browser.get("/agent/desk") as resp:
        assert resp.status == 401
    status, body = await _post_json(browser, "/agent/state", {"state": "available"})
    assert status == 401 and "error" in body
    # a cookie that names no session is the same as none
    forged = await c.browser("x" * 43)
    assert await _redirected_to_login(forged)
    assert (await _post_json(forged, "/agent/state", {"state": "available"}, "y" * 43))[0] == 401
    assert await _state(pool) == ("logged_out", 0)


# ---- 5. idle and absolute timeouts


async def test_a_session_unused_beyond_the_idle_limit_is_over(console: StartConsole, pool: asyncpg.Pool) -> None:
    c = await console(_settings(idle_minutes=20, absolute_hours=12))
    browser = await c.browser()
    await _login(browser)
    token = _cookie(browser)
    assert token is not None
    async with pool.acquire() as conn:  # just inside the limit: still alive, and marked seen again
        await conn.execute("UPDATE web_sessions SET seen_at = now() - interval '19 minutes'")
    await _page_csrf(browser)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT now() - seen_at < interval '1 minute' FROM web_sessions")
        await conn.execute("UPDATE web_sessions SET seen_at = now() - interval '21 minutes'")
    assert await _redirected_to_login(browser)
    async with browser.get("/agent/desk") as resp:
        assert resp.status == 401
    async with pool.acquire() as conn:  # not revived by the refused requests: it stays over
        assert await conn.fetchval("SELECT now() - seen_at > interval '20 minutes' FROM web_sessions")
    # the next login (anyone's) forgets sessions that are over
    await _login(await c.browser(), "lawyer02")
    assert await _sessions(pool, "lawyer01") == []


async def test_a_session_older_than_the_absolute_limit_is_over_however_recently_used(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console(_settings(idle_minutes=30, absolute_hours=2))
    browser = await c.browser()
    await _login(browser)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE web_sessions SET created_at = now() - interval '119 minutes'")
    await _page_csrf(browser)  # used now, inside both limits
    async with pool.acquire() as conn:
        await conn.execute("UPDATE web_sessions SET created_at = now() - interval '121 minutes', seen_at = now()")
    assert await _redirected_to_login(browser)
    async with browser.get("/agent/desk") as resp:
        assert resp.status == 401
    await _login(await c.browser(), "lawyer02")
    assert await _sessions(pool, "lawyer01") == []


# ---- 6. logout


async def test_logout_ends_the_session_and_its_cookie_no_longer_works(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    browser = await c.browser()
    csrf = await _login(browser)
    token = _cookie(browser)
    assert token is not None
    async with browser.post("/account/logout", data={}, allow_redirects=False) as resp:
        assert resp.status == 403  # a logout without the token (another site's form) is refused
    assert await _sessions(pool) == [_digest(token)]

    async with browser.post("/account/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/account/login"
        assert _set_cookie(resp.headers, COOKIE).startswith(f'{COOKIE}="";')
    assert await _sessions(pool) == []
    assert await _redirected_to_login(browser)
    kept = await c.browser(token)  # a copy of the cookie kept from before
    assert await _redirected_to_login(kept)


async def test_logout_everywhere_ends_every_session_of_the_agent_and_only_theirs(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    first, second, colleague = await c.browser(), await c.browser(), await c.browser()
    csrf = await _login(first)
    await _login(second)
    await _login(colleague, "lawyer02")
    assert len(await _sessions(pool)) == 2
    async with first.post("/account/logout-all", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    assert await _sessions(pool) == []
    assert await _redirected_to_login(first)
    assert await _redirected_to_login(second)
    async with second.get("/agent/desk") as resp:
        assert resp.status == 401
    assert len(await _sessions(pool, "lawyer02")) == 1
    await _page_csrf(colleague)


# ---- 7. the work-order draft


async def _call_on_desk(pool: asyncpg.Pool, username: str = "lawyer01") -> str:
    """A call answered by the agent and still up; the agent on the call."""
    async with pool.acquire() as conn:
        call_id = await calls.start(
            conn, sip_call_id=f"sip-{time.monotonic_ns()}", caller=parse_caller(CALLER), keys=KEYS
        )
        await calls.answered(conn, call_id)
        await conn.execute(
            """UPDATE calls SET agent_id = (SELECT id FROM agents WHERE username = $2),
                   queue_id = (SELECT id FROM queues WHERE name = 'legal_consult') WHERE id = $1""",
            call_id,
            username,
        )
        await conn.execute("UPDATE agents SET state = 'on_call' WHERE username = $1", username)
    return str(call_id)


async def _ticket_row(pool: asyncpg.Pool, number: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM tickets WHERE number = $1", number)
    assert row is not None
    return dict(row)


async def test_the_desk_opens_the_calls_work_order_and_drafts_are_validated_stored_and_kept_to_the_assignee(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console()
    browser = await c.browser()
    csrf = await _login(browser)
    call_id = await _call_on_desk(pool)
    e164 = parse_caller(CALLER).e164
    assert e164 is not None

    async with browser.get("/agent/desk") as resp:
        assert resp.status == 200
        raw = await resp.text()
    desk = json.loads(raw)
    assert desk["call"]["call_id"] == call_id
    assert desk["call"]["caller_masked"] == "139****2345"
    assert CALLER not in raw and e164 not in raw and e164.lstrip("+") not in raw
    ticket = desk["ticket"]
    assert ticket["assignee"] == "lawyer01" and ticket["caller_masked"] == "139****2345"
    number = ticket["number"]
    async with browser.get("/agent/") as resp:  # the page renders the same snapshot in: masked too
        page = await resp.text()
    assert number in page and CALLER not in page and e164.lstrip("+") not in page

    before = await _ticket_row(pool, number)
    path = f"/agent/tickets/{number}/draft"
    status, body = await _post_json(browser, path, {"legal_area": "不存在", "facts": "拖欠工资"}, csrf)
    assert status == 422
    assert set(body["fields"]) == {"legal_area"} and "不存在" in body["fields"]["legal_area"]
    assert await _ticket_row(pool, number) == before

    draft = {
        "legal_area": LEGAL_AREAS[1],
        "service": SERVICES[0],
        "flags": [],
        "facts": "工地拖欠工资三个月",
        "answer": "可申请法律援助",
    }
    status, body = await _post_json(browser, path, draft, csrf)
    assert status == 200 and body["number"] == number and body["saved_at"]
    saved = await _ticket_row(pool, number)
    assert (saved["legal_area"], saved["service"], saved["facts"], saved["answer"]) == (
        LEGAL_AREAS[1],
        SERVICES[0],
        "工地拖欠工资三个月",
        "可申请法律援助",
    )

    other = await c.browser()
    other_csrf = await _login(other, "lawyer02")
    status, body = await _post_json(other, path, {**draft, "facts": "改写", "legal_area": LEGAL_AREAS[0]}, other_csrf)
    assert status in (403, 404)
    assert await _ticket_row(pool, number) == saved
    async with other.get("/agent/desk") as resp:  # nor does the other agent's desk show it
        other_desk = await resp.json()
    assert other_desk["call"] is None and other_desk["ticket"] is None


# ---- 8. body size


async def test_a_body_larger_than_the_limit_is_refused_with_413_and_changes_nothing(
    console: StartConsole, pool: asyncpg.Pool
) -> None:
    c = await console(_settings(max_body_kb=1))
    browser = await c.browser()
    csrf = await _login(browser)
    status, body = await _post_json(browser, "/agent/state", {"state": "available", "pad": "x" * 2048}, csrf)
    assert status == 413 and "too large" in body["error"]
    assert await _state(pool) == ("logged_out", 0)
    assert (await _post_json(browser, "/agent/state", {"state": "available"}, csrf))[0] == 200  # under it: fine


# ---- 9. headers and static files


def _script_sources(csp: str) -> str:
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    return directives.get("script-src") or directives["default-src"]  # script-src falls back to default-src


async def test_pages_carry_the_security_headers_and_static_files_are_served_without_login(
    console: StartConsole,
) -> None:
    c = await console()
    browser = await c.browser()
    async with browser.get("/account/login") as resp:
        login_headers = resp.headers.copy()
    await _login(browser)
    async with browser.get("/agent/") as resp:
        assert resp.status == 200
        agent_headers = resp.headers.copy()
    for headers in (login_headers, agent_headers):
        csp = headers["Content-Security-Policy"]
        assert "'self'" in _script_sources(csp) and "'unsafe-inline'" not in _script_sources(csp)
        assert "'unsafe-eval'" not in _script_sources(csp)
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"

    anonymous = await c.browser()
    async with anonymous.get("/static/console.js", allow_redirects=False) as resp:
        assert resp.status == 200
        assert "javascript" in resp.content_type
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.text()

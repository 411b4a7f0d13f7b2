"""Console sessions: the cookie, its CSRF token, login (throttled) and logout.

The cookie ``hotline_session`` holds 32 random bytes; PostgreSQL keeps only their SHA-256 (``db.sessions``), so
the table cannot be replayed. The cookie is HttpOnly and SameSite=Strict, Secure when ``console.secure_cookies``
is set (HTTPS in front). A login always creates a new session and ends the one the browser came with (no
session fixation). A session ends after ``console.idle_minutes`` unused or ``console.absolute_hours`` in all, at
logout, and for every browser at "log out everywhere".

Failed logins are counted per account and per address over ``console.login_window_minutes``; at
``console.login_failures`` the next attempts are refused with 429 and ``Retry-After`` until the window has
passed, and each refusal is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from agents.api import ApiError, Forbidden
from agents.keys import POOL, SETTINGS
from db import agents, audit
from db import sessions as db_sessions
from hotline.config import ConsoleSettings

log = logging.getLogger(__name__)

COOKIE = "hotline_session"
CSRF_HEADER = "X-CSRF-Token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LOGIN_PATH = "/account/login"
_SESSION = web.RequestKey("session", object)


class TooManyAttempts(ApiError):
    status = 429


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _limits(request: web.Request) -> ConsoleSettings:
    return request.config_dict[SETTINGS].console


def _ages(console: ConsoleSettings) -> tuple[float, float]:
    return console.idle_minutes * 60.0, console.absolute_hours * 3600.0


def ages(request: web.Request) -> tuple[float, float]:
    """A session's idle and absolute limits, in seconds."""
    return _ages(_limits(request))


def address_of(request: web.Request) -> str:
    return request.remote or "unknown"


async def current(request: web.Request) -> db_sessions.Session | None:
    """The live session of the request's cookie, looked up once per request."""
    if _SESSION in request:
        found: Any = request[_SESSION]
        return found if isinstance(found, db_sessions.Session) else None
    token = request.cookies.get(COOKIE)
    session = None
    if token:
        async with request.config_dict[POOL].acquire() as conn:
            session = await db_sessions.live(conn, _digest(token), *_ages(_limits(request)))
    request[_SESSION] = session
    return session


def check_csrf(request: web.Request, session: db_sessions.Session, form_token: str | None) -> None:
    """Refuse a state-changing request of a session that does not carry the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER) or form_token or ""
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        log.warning(
            "refused %s %s of agent %s: CSRF token missing or wrong",
            request.method,
            request.path,
            session.agent.username,
        )
        raise Forbidden(f"{request.method} {request.path}: the CSRF token is missing or wrong (reload the page)")


def login_url(request: web.Request) -> str:
    return f"{LOGIN_PATH}?next={quote(request.path_qs, safe='')}"


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@dataclass(frozen=True)
class LoggedIn:
    agent: agents.Agent
    token: str
    csrf: str


async def login(request: web.Request, username: str, password: str) -> LoggedIn | None:
    """Check the credentials under the throttle; on success a new session (the old one ended); None if wrong.
    Raises TooManyAttempts while the account or the address has too many recent failures."""
    console = _limits(request)
    address = address_of(request)
    window = console.login_window_minutes * 60.0
    async with request.config_dict[POOL].acquire() as conn:
        failed = await db_sessions.failures(conn, username, address, window)
        if max(failed.by_username, failed.by_address) >= console.login_failures:
            log.warning(
                "login refused for %r from %s: %d failures for the account, %d from the address in %d min",
                username,
                address,
                failed.by_username,
                failed.by_address,
                console.login_window_minutes,
            )
            wait = max(1, round(failed.retry_after_s))
            raise TooManyAttempts(
                f"登录失败次数过多，请 {max(1, -(-wait // 60))} 分钟后再试", {"Retry-After": str(wait)}
            )
        agent = await agents.verify_password(conn, username, password)
        if agent is None:
            await db_sessions.record_failure(conn, username, address)
            log.info("login failed for %r from %s", username, address)
            return None
        async with conn.transaction():
            old = request.cookies.get(COOKIE)
            if old:
                await db_sessions.end(conn, _digest(old))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            await db_sessions.create(conn, _digest(token), agent.id, csrf, address)
            await db_sessions.clear_failures(conn, username)
            await audit.record(conn, agent.username, "login", "web_session", None, address=address)
        await db_sessions.prune(conn, *_ages(console))
    return LoggedIn(agent, token, csrf)


def set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    console = _limits(request)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=console.secure_cookies,
        path="/",
        max_age=console.absolute_hours * 3600,
    )


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")


async def logout(request: web.Request, *, everywhere: bool) -> None:
    session = await current(request)
    if session is None:
        return
    async with request.config_dict[POOL].acquire() as conn:
        if everywhere:
            ended = await db_sessions.end_all(conn, session.agent.id)
            log.info("agent %s logged out everywhere (%d session(s))", session.agent.username, ended)
        else:
            await db_sessions.end(conn, session.id)

"""Login and logout pages, mounted at ``/account``.

GET  /account/login            the form (a login CSRF token is set as a cookie and repeated in the form)
POST /account/login            username, password, csrf, next -> 303 to next with a new session
POST /account/logout           ends this session
POST /account/logout-all       ends every session of the agent (every browser, every tab)
"""

from __future__ import annotations

import hmac
import secrets

import aiohttp_jinja2
from aiohttp import web

from agents import session as sessions
from agents.auth import current_agent, public_page, requires
from agents.keys import HUB

LOGIN_COOKIE = "hotline_login"  # the login form's CSRF token (double submit: cookie and form field)


def _form(request: web.Request, status: int = 200, error: str | None = None, username: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    response = aiohttp_jinja2.render_template(
        "login.html",
        request,
        {"csrf": token, "error": error, "username": username, "next": request.query.get("next", "")},
        status=status,
    )
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/account")
    return response


@public_page
async def login_form(request: web.Request) -> web.StreamResponse:
    return _form(request)


@public_page
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    sent, expected = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _form(request, 403, "页面已过期，请重新登录", username)
    if not username or not password:
        return _form(request, 400, "请输入用户名和密码", username)
    try:
        done = await sessions.login(request, username, password)
    except sessions.TooManyAttempts as exc:
        response = _form(request, 429, exc.message, username)
        response.headers.update(exc.headers or {})
        return response
    if done is None:
        return _form(request, 401, "用户名或密码错误", username)
    response = web.HTTPSeeOther(sessions.safe_next(str(form.get("next", "")) or None))
    sessions.set_cookie(request, response, done.token)
    response.del_cookie(LOGIN_COOKIE, path="/account")
    raise response


async def _logout(request: web.Request, everywhere: bool) -> web.StreamResponse:
    agent = current_agent(request)
    session = await sessions.current(request)
    await sessions.logout(request, everywhere=everywhere)
    hub = request.config_dict.get(HUB)
    if hub is not None:
        await hub.close_sessions(agent.id, None if everywhere else (session.id if session else None))
    response = web.HTTPSeeOther(sessions.LOGIN_PATH)
    sessions.clear_cookie(response)
    raise response


@requires("agent", page=True)
async def logout(request: web.Request) -> web.StreamResponse:
    return await _logout(request, everywhere=False)


@requires("agent", page=True)
async def logout_all(request: web.Request) -> web.StreamResponse:
    return await _logout(request, everywhere=True)


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/login", login_form),
            web.post("/login", login),
            web.post("/logout", logout),
            web.post("/logout-all", logout_all),
        ]
    )
    return app

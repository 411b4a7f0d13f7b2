"""Logging in to the console from a test: HTTP Basic headers for scripts, and a browser (its own cookie jar)
logged in through the login form."""

from __future__ import annotations

import base64
import re

from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient

Client = TestClient[web.Request, web.Application]


def basic(username: str, password: str) -> dict[str, str]:
    """Headers of a script's state-changing request: HTTP Basic and a JSON body."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


async def browser_login(server: BaseTestServer, browsers: list[Client], username: str, password: str) -> Client:
    """A new browser on `server` logged in through the login form; appended to `browsers` (the test closes
    them)."""
    browser: Client = TestClient(server)
    browsers.append(browser)
    await browser.start_server()
    async with browser.get("/account/login") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found
    form = {"username": username, "password": password, "csrf": found.group(1), "next": "/agent/"}
    async with browser.post("/account/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 303
    return browser

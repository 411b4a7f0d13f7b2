"""What the REST APIs served by the supervisor share: JSON answers, errors, HTTP Basic over the console password."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from db import agents
from hotline.supervisor.state import POOL

SUPERVISORS = ("supervisor", "admin")


def json_response(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        data, status=status, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str)
    )


def error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def unauthorized(message: str) -> web.Response:
    return json_response({"error": message}, 401, headers={"WWW-Authenticate": 'Basic realm="12348", charset="UTF-8"'})


async def authenticate(request: web.Request) -> agents.Agent | web.Response:
    """The active agent named by the request's HTTP Basic credentials, or the 400/401 answer to send."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return unauthorized("authentication required: HTTP Basic with the agent's username and console password")
    try:
        username, _, password = base64.b64decode(token).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return error(400, "Authorization: expected Basic base64(username:password)")
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn:
        agent = await agents.verify_password(conn, username, password)
    if agent is None:
        return unauthorized("wrong username or password")
    return agent

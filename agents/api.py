"""What every JSON API of the web app shares: answers, errors, and the middleware that turns errors into answers.

A handler or a service raises an :class:`ApiError` (or one of the domain errors of :data:`DOMAIN_ERRORS`); the
``json_errors`` middleware answers ``{"error": "<message>"}`` with its status. Anything else is a bug and is left
to aiohttp (500, logged).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from db.agents import AgentNotFound
from db.pool import UNREACHABLE
from db.tickets import TicketClosed, TicketNotFound
from hotline.acd.agent_state import AgentStateError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than success: its status, the message for ``{"error": ...}`` and extra headers."""

    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


# Domain errors the services let through, and the status they answer.
DOMAIN_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (AgentNotFound, NotFound.status),
    (TicketNotFound, NotFound.status),
    (AgentStateError, Conflict.status),  # the state rules refuse the change
    (TicketClosed, Conflict.status),
)
_DOMAIN_KINDS = tuple(kind for kind, _ in DOMAIN_ERRORS)


def json_response(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON as it reads (no \\u escapes for Chinese), dates and other values as their ``str``."""
    return web.json_response(
        data, status=status, headers=headers, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str)
    )


def storable(text: str) -> bool:
    """Whether PostgreSQL can hold ``text``: no NUL character, no unpaired surrogate (JSON's \\ud800 escapes)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from _strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings(value)


UNSTORABLE = "含有无法保存的字符（NUL 字符 \\u0000 或不成对的 \\ud800–\\udfff）"


def decode(raw: bytes | str, example: str) -> Any:
    """The JSON document of a request body, or a BadRequest that shows an example of what was expected (or says
    that its text holds characters no column can store)."""
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest(f"body: expected JSON such as {example}") from None
    if not all(storable(text) for text in _strings(document)):
        raise BadRequest(f"请求正文{UNSTORABLE}")
    return document


@web.middleware
async def storable_paths(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (400) a path whose parameters hold characters no column can store, before a query would fail."""
    match = request.match_info
    if match.http_exception is None and not all(storable(value) for value in match.values()):
        raise BadRequest(f"路径参数{UNSTORABLE}")
    return await handler(request)


def _is_page(request: web.Request) -> bool:
    handler = request.match_info.handler if request.match_info.http_exception is None else None
    return bool(getattr(getattr(handler, "__agents_access__", None), "page", False))


def _answer(request: web.Request, status: int, body: dict[str, Any], headers: dict[str, str] | None) -> web.Response:
    if _is_page(request):  # a browser page: the message as a page, in the console's language
        import aiohttp_jinja2

        return aiohttp_jinja2.render_template("error.html", request, {"status": status, **body}, status=status)
    return json_response(body, status, headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        body: dict[str, Any] = {"error": exc.message}
        fields = getattr(exc, "fields", None)
        if fields:
            body["fields"] = fields
        return _answer(request, exc.status, body, exc.headers)
    except _DOMAIN_KINDS as exc:
        status = next(code for kind, code in DOMAIN_ERRORS if isinstance(exc, kind))
        return _answer(request, status, {"error": str(exc)}, None)
    except web.HTTPRequestEntityTooLarge as exc:
        return _answer(request, exc.status, {"error": f"request body too large: {exc.text}"}, None)
    except UNREACHABLE as exc:
        log.error("%s %s: database unreachable (%s: %s)", request.method, request.path, type(exc).__name__, exc)
        body = {"error": "数据库暂时无法访问，本次操作未保存，请稍后重试"}
        return _answer(request, 503, body, {"Retry-After": "10"})

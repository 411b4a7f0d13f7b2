"""What the REST API's lists share: their query string (limit, cursor, time bounds) read with a message per
parameter, and the cursor that carries the key of a page's last row to the next request.

A cursor is opaque to clients: base64url of ``[list, sort time, id]``. It holds no filter, so a client repeats
its filters with each page; a cursor of another list, or one edited by hand, is refused (400).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiMapping

from agents.api import ApiError, json_response
from agents.auth import current_agent
from agents.keys import POOL, SETTINGS
from db.agents import Agent

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
COMMON = ("limit", "cursor")

F = TypeVar("F")
K = TypeVar("K")
R = TypeVar("R")
# what serves a list: (pool, the agent asking, the query string, the hotline's time zone) -> the answer
Pull = Callable[[Any, Agent, MultiMapping[str], dt.tzinfo], Awaitable[dict[str, Any]]]


class BadQuery(ApiError):
    """400 with ``{"error": ..., "fields": {parameter: message}}``: a parameter of the query string is wrong."""

    status = 400

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("查询参数有误：" + "；".join(fields.values()))
        self.fields = fields


class Errors(dict[str, str]):
    """The wrong parameters found so far, by name; :meth:`check` raises them all at once."""

    def check(self) -> None:
        if self:
            raise BadQuery(dict(self))


def single(query: MultiMapping[str], allowed: Sequence[str], errors: Errors) -> dict[str, str]:
    """Each parameter of ``query`` once; unknown or repeated parameters are errors."""
    found: dict[str, str] = {}
    for name in query:
        if name not in allowed:
            errors[name] = f"未知参数“{name}”，可用参数：{'、'.join(allowed)}"
        elif len(query.getall(name)) > 1:
            errors[name] = f"参数“{name}”只能出现一次"
        else:
            found[name] = query[name]
    return found


def limit(query: Mapping[str, str], errors: Errors) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    errors["limit"] = f"“limit”应为 1 到 {MAX_LIMIT} 的整数（默认 {DEFAULT_LIMIT}），收到“{raw}”"
    return DEFAULT_LIMIT


def instant(
    query: Mapping[str, str], name: str, tz: dt.tzinfo, errors: Errors, *, end: bool = False
) -> dt.datetime | None:
    """A time bound: an ISO 8601 instant with its UTC offset, or a day YYYY-MM-DD in ``tz`` (its start; with
    ``end``, the start of the next day, so that the day is included)."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tz)
        moment = dt.datetime.fromisoformat(raw)
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.tzinfo is None:
        errors[name] = f"“{name}”应为日期 YYYY-MM-DD 或带时区的时间，如 2026-05-01T08:00:00+08:00，收到“{raw}”"
        return None
    return moment


def period(query: Mapping[str, str], tz: dt.tzinfo, errors: Errors) -> tuple[dt.datetime | None, dt.datetime | None]:
    since, until = instant(query, "since", tz, errors), instant(query, "until", tz, errors, end=True)
    if since is not None and until is not None and until <= since:
        errors["until"] = f"“until”应晚于“since”（{query['since']}），收到“{query['until']}”"
    return since, until


def choice(query: Mapping[str, str], name: str, allowed: Sequence[str], errors: Errors) -> str | None:
    raw = query.get(name)
    if raw is not None and raw not in allowed:
        errors[name] = f"“{name}”应为 {'、'.join(allowed)} 之一，收到“{raw}”"
        return None
    return raw


def encode_cursor(kind: str, at: dt.datetime, key: str | int) -> str:
    raw = json.dumps([kind, at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def after_key(
    query: Mapping[str, str], kind: str, key: Callable[[Any], K | None], errors: Errors
) -> tuple[dt.datetime, K] | None:
    """The key a ``kind`` cursor of the query carries; ``key`` checks and converts its id (None if wrong)."""
    raw = query.get("cursor")
    if raw is None:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        name, at, ident = decoded
        moment = dt.datetime.fromisoformat(at)
        found = key(ident) if name == kind and moment.tzinfo is not None else None
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        found = None
    if found is None:
        errors["cursor"] = "“cursor”无效：请原样使用上一页返回的 next_cursor"
        return None
    return moment, found


@dataclass(frozen=True)
class Asked(Generic[F, K]):
    """A list's request: its filters ``where``, the key of the previous page's last row, its page size."""

    where: F
    after: tuple[dt.datetime, K] | None
    limit: int


@dataclass(frozen=True)
class Page(Generic[R]):
    rows: list[R]
    next_cursor: str | None


def page(rows: list[R], limit: int, kind: str, key: Callable[[R], tuple[dt.datetime, str | int]]) -> Page[R]:
    """The first ``limit`` rows of ``rows`` (read with ``limit + 1``) and the cursor of the next page, if any."""
    if len(rows) <= limit:
        return Page(rows, None)
    kept = rows[:limit]
    return Page(kept, encode_cursor(kind, *key(kept[-1])))


async def answer(request: web.Request, pull: Pull) -> web.Response:
    """The answer of a list route: ``pull`` run for the request's agent and query string."""
    tz = ZoneInfo(request.config_dict[SETTINGS].timezone)
    return json_response(await pull(request.config_dict[POOL], current_agent(request), request.query, tz))

"""Supervisors' records of past work, routes of the supervisor area (``/supervisor``):

GET /supervisor/tickets              the work-order search: a page with the filter form and one page of
                                     results (JSON instead with ``Accept: application/json``)
GET /supervisor/tickets.json         the same search as JSON: {"tickets": [...], "total": n, "page", ...}
GET /supervisor/tickets/{number}     one work order with its calls, transcripts and recordings (audited: read)
GET /supervisor/recordings/{id}      the recording's WAV, with Range (audited: listen; ?download=1: export)

Filters (query string, all optional): number (part of the work-order number), date_from and date_to (local
days YYYY-MM-DD, both included, none after today), prefecture (a code, outside_yunnan, unknown), legal_area,
status, agent (the assignee's username), page, per_page (at most 100). A wrong one answers 400 naming it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import hdrs, web

from agents import session as sessions
from agents.api import NotFound, json_response
from agents.auth import current_agent, requires
from agents.keys import CLOCK, POOL, SETTINGS
from agents.supervisor.records import schemas, services
from db import console
from hotline.tag.taxonomy import LEGAL_AREAS

_RECORDING_ID = re.compile(r"[0-9]{1,18}")


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get(hdrs.ACCEPT, "")
    return "application/json" in accept and "text/html" not in accept


async def _search(request: web.Request, conn: Any, names: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of the search the query string asks for (BadFilters when a filter is wrong)."""
    tz = ZoneInfo(request.config_dict[SETTINGS].timezone)
    clock = request.config_dict[CLOCK]
    wanted = schemas.search(request.query, clock.today(tz), tz, {a["username"] for a in names})
    return await services.find(conn, wanted, tz, clock.now())


@requires("supervisor", "search work orders")
async def tickets_json(request: web.Request) -> web.Response:
    async with request.config_dict[POOL].acquire() as conn:
        return json_response(await _search(request, conn, await console.agent_names(conn)))


def _page_url(form: dict[str, str], page: int) -> str:
    kept = {name: value for name, value in form.items() if value and name != "page"}
    return "?" + urlencode({**kept, "page": page})


@requires("supervisor", "search work orders", page=True)
async def tickets_page(request: web.Request) -> web.StreamResponse:
    errors: dict[str, str] = {}
    result: dict[str, Any] | None = None
    async with request.config_dict[POOL].acquire() as conn:
        names = await console.agent_names(conn)
        try:
            result = await _search(request, conn, names)
        except schemas.BadFilters as exc:
            if _wants_json(request):
                return json_response({"error": exc.message, "fields": exc.fields}, exc.status)
            errors = exc.fields
    if _wants_json(request) and result is not None:
        return json_response(result)
    form = schemas.form_of(request.query)
    session = await sessions.current(request)
    tz = ZoneInfo(request.config_dict[SETTINGS].timezone)
    return aiohttp_jinja2.render_template(
        "tickets.html",
        request,
        {
            "agent": current_agent(request),
            "csrf": session.csrf if session else "",
            "form": form,
            "errors": errors,
            "result": result,
            "today": request.config_dict[CLOCK].today(tz).isoformat(),
            "prefectures": schemas.PREFECTURE_NAMES,
            "legal_areas": LEGAL_AREAS,
            "statuses": schemas.STATUS_NAMES,
            "agents": names,
            "prev_url": _page_url(form, result["page"] - 1) if result and result["page"] > 1 else None,
            "next_url": _page_url(form, result["page"] + 1) if result and result["page"] < result["pages"] else None,
        },
        status=400 if errors else 200,
    )


@requires("supervisor", "read another agent's work order", page=True)
async def ticket_page(request: web.Request) -> web.StreamResponse:
    tz = ZoneInfo(request.config_dict[SETTINGS].timezone)
    async with request.config_dict[POOL].acquire() as conn:
        order = await services.detail(
            conn, current_agent(request), request.match_info["number"], tz, request.config_dict[CLOCK].now()
        )
    session = await sessions.current(request)
    return aiohttp_jinja2.render_template(
        "ticket.html",
        request,
        {"agent": current_agent(request), "csrf": session.csrf if session else "", "ticket": order},
    )


def _starts_playback(request: web.Request) -> bool:
    """Whether this request starts a playback (or a download): a GET without Range, or whose Range starts at
    byte 0. A player asks for the rest, or seeks, with ranges that start further on; those are the same
    playback and are not audited again. An unreadable Range is answered 416 and is no playback."""
    if request.method != hdrs.METH_GET:
        return False
    if hdrs.RANGE not in request.headers:
        return True
    try:
        start: int | None = request.http_range.start
    except ValueError:
        return False
    return start == 0


@requires("supervisor", "listen to recordings")
async def recording(request: web.Request) -> web.StreamResponse:
    """The recording's WAV (``audio/wav``, never cached), with Range (206, Content-Range; 416 past its end) so a
    player can seek. Audit rule: one ``listen`` row per playback, written for a request that starts one (see
    :func:`_starts_playback`), never per chunk; ``?download=1`` sends it as an attachment and writes ``export``
    by the same rule. 404 when the recording or its file is missing."""
    raw = request.match_info["id"]
    if not _RECORDING_ID.fullmatch(raw):
        raise NotFound(f"录音 {raw} 不存在")
    download = request.query.get("download") == "1"
    async with request.config_dict[POOL].acquire() as conn:
        found, path = await services.recording_file(conn, int(raw))
        if _starts_playback(request):
            await services.audit_playback(conn, current_agent(request), found, "export" if download else "listen")
    headers = {hdrs.CONTENT_TYPE: "audio/wav", hdrs.CACHE_CONTROL: "no-store"}
    if download:
        headers[hdrs.CONTENT_DISPOSITION] = f'attachment; filename="{found.ticket or "call"}-{found.id}.wav"'
    return web.FileResponse(path, headers=headers)


ROUTES = [
    web.get("/tickets", tickets_page),
    web.get("/tickets.json", tickets_json),
    web.get("/tickets/{number}", ticket_page),
    web.get("/recordings/{id}", recording),
]

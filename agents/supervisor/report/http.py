"""The monthly report (上报表) in the console, routes of the supervisor area (``/supervisor``):

GET /supervisor/report                   the report page: a month picker and the report of that month as a table
                                         (?month=YYYY-MM, default the month before today; ?prefecture=CODE)
GET /supervisor/report/download          the same report as a file (?month=...&format=xlsx|csv|html)
GET /supervisor/report/files/{name}      a report `hotline up` made by itself (var/reports/, listed on the page)

The figures are those of `hotline report` (hotline.report.service): the same reader, the same layout. A wrong
month or prefecture answers 400 on the download and a message on the page, naming the input.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from agents import session as sessions
from agents.api import BadRequest, NotFound
from agents.auth import current_agent, requires
from agents.keys import CLOCK, POOL, SETTINGS
from hotline.caller.prefectures import PREFECTURES
from hotline.report import service
from hotline.report.html import fragment
from hotline.report.scheduled import FILE_NAME, listed, reports_dir
from hotline.report.table import ReportInputError, parse_month, parse_report_prefecture

MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def _last_month(request: web.Request) -> str:
    today = request.config_dict[CLOCK].today(ZoneInfo(request.config_dict[SETTINGS].timezone))
    return (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


def _wanted(request: web.Request) -> tuple[Any, str | None]:
    """The month and the prefecture the query asks for (ReportInputError naming the bad one)."""
    month = parse_month(request.query.get("month") or _last_month(request))
    raw = request.query.get("prefecture") or None
    return month, parse_report_prefecture(raw) if raw else None


@requires("supervisor", "see the monthly report", page=True)
async def page(request: web.Request) -> web.StreamResponse:
    session = await sessions.current(request)
    context: dict[str, Any] = {
        "agent": current_agent(request),
        "csrf": session.csrf if session else "",
        "month": request.query.get("month") or _last_month(request),
        "prefecture": request.query.get("prefecture", ""),
        "prefectures": {p.code: p.name for p in PREFECTURES},
        "formats": service.FORMATS,
        "error": None,
        "table": None,
        "files": await asyncio.to_thread(listed, reports_dir(request.config_dict[SETTINGS])),
        "report_day": request.config_dict[SETTINGS].reports.day,
    }
    try:
        month, only = _wanted(request)
    except ReportInputError as exc:
        context["error"] = str(exc)
        return aiohttp_jinja2.render_template("report.html", request, context, status=400)
    async with request.config_dict[POOL].acquire() as conn:
        context["table"] = fragment(await service.build(conn, month, only=only))
    return aiohttp_jinja2.render_template("report.html", request, context)


@requires("supervisor", "download the monthly report")
async def download(request: web.Request) -> web.Response:
    fmt = (request.query.get("format") or "xlsx").strip().lower()
    if fmt not in service.FORMATS:
        raise BadRequest(f"format {fmt!r}: expected one of {', '.join(service.FORMATS)}")
    try:
        month, only = _wanted(request)
    except ReportInputError as exc:
        raise BadRequest(str(exc)) from None
    async with request.config_dict[POOL].acquire() as conn:
        data = await service.render(conn, month, fmt, request.config_dict[CLOCK], only=only)
    name = f"hotline-report-{month.text}{'-' + only if only else ''}.{fmt}"
    return web.Response(
        body=data,
        headers={"Content-Type": MEDIA[fmt], "Content-Disposition": f'attachment; filename="{name}"'},
    )


@requires("supervisor", "download the monthly report")
async def made_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    m = FILE_NAME.match(name)
    path = reports_dir(request.config_dict[SETTINGS]) / name
    if m is None or not await asyncio.to_thread(path.is_file):
        raise NotFound(f"report file {name!r}: not among the reports made")
    return web.FileResponse(
        path,
        headers={"Content-Type": MEDIA[m.group(2)], "Content-Disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [
    web.get("/report", page),
    web.get("/report/download", download),
    web.get("/report/files/{name}", made_file),
]

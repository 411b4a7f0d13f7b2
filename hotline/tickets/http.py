"""The work-order REST API (served by `hotline up` beside the agents' API, same HTTP Basic authentication).

An agent reads a work order and decides on the values the post-call analysis suggested for it (confirm,
correct, reject); supervisors read how often the suggestions were right. A work order may be read and changed
by its assignee and by supervisors. It shows the caller only masked. Every read and every decision is written
to the audit log.

    GET  /api/tickets/{number}              -> the work order and its suggestions
    POST /api/tickets/{number}/fields       {"field": "legal_area" | "service" | "flag", "value": "<label>",
                                             "present": true | false}  -> the work order and its suggestions
    GET  /api/suggestions/accuracy?since=YYYY-MM-DD&until=YYYY-MM-DD   supervisors only; days in `timezone`,
                                             both included (default: the last 30 days)
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from db import agents, audit, suggestions, tickets
from hotline.caller.prefectures import BY_CODE
from hotline.supervisor.rest import SUPERVISORS, authenticate, error, json_response
from hotline.supervisor.state import POOL, SETTINGS

DECISION_EXAMPLE = '{"field": "legal_area", "value": "劳动争议", "present": true}'
ACCURACY_DAYS = 30


def may_handle(agent: agents.Agent, ticket: tickets.Ticket) -> bool:
    return agent.role in SUPERVISORS or ticket.assignee_id == agent.id


def _refused(agent: agents.Agent, ticket: tickets.Ticket, what: str) -> web.Response:
    return error(
        403,
        f"agent {agent.username} ({agent.role}) may not {what} work order {ticket.number}: "
        "only its assignee and supervisors may",
    )


def parse_decision(body: Any) -> tuple[str, str, bool] | str:
    """(field, value, present) from a decoded request body, or what is wrong with it."""
    if not isinstance(body, dict):
        return f"body: expected an object such as {DECISION_EXAMPLE}"
    field, value, present = body.get("field"), body.get("value"), body.get("present", True)
    if not isinstance(field, str) or field not in suggestions.FIELDS:
        return f'"field": expected one of {", ".join(suggestions.FIELDS)}; got {field!r}'
    labels = suggestions.FIELDS[field]
    if value not in labels:
        return f'"value": expected a {field} label, one of {", ".join(labels)}; got {value!r}'
    if not isinstance(present, bool):
        return f'"present": expected true or false; got {present!r}'
    return field, value, present


def parse_day(name: str, value: str | None, default: dt.date) -> dt.date | str:
    if value is None:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return f'"{name}": expected a date YYYY-MM-DD; got {value!r}'


async def _view(conn: Any, ticket: tickets.Ticket) -> dict[str, Any]:
    prefecture = BY_CODE.get(ticket.prefecture_code) if ticket.prefecture_code else None
    return {
        "number": ticket.number,
        "status": ticket.status.value,
        "priority": ticket.priority,
        "caller_masked": ticket.caller_masked,
        "prefecture": {"code": prefecture.code, "name": prefecture.name} if prefecture else None,
        "legal_area": ticket.legal_area,
        "service": ticket.service,
        "flags": ticket.flags,
        "facts": ticket.facts,
        "answer": ticket.answer,
        "assignee": await agents.username_of(conn, ticket.assignee_id) if ticket.assignee_id else None,
        "created_at": ticket.created_at.isoformat(),
        "suggestions": [
            {
                "field": s.field,
                "value": s.value,
                "source": s.source,
                "score": s.score,
                "rule": s.rule,
                "status": s.status,
                "final_value": s.final_value,
            }
            for s in await suggestions.for_ticket(conn, ticket.id)
        ],
    }


async def get_ticket(request: web.Request) -> web.Response:
    agent = await authenticate(request)
    if isinstance(agent, web.Response):
        return agent
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        try:
            ticket = await tickets.get(conn, request.match_info["number"])
        except tickets.TicketNotFound as exc:
            return error(404, str(exc))
        if not may_handle(agent, ticket):
            return _refused(agent, ticket, "read")
        view = await _view(conn, ticket)
        await audit.record(conn, agent.username, "read", "ticket", ticket.number)
    return json_response(view)


async def decide_field(request: web.Request) -> web.Response:
    agent = await authenticate(request)
    if isinstance(agent, web.Response):
        return agent
    raw = await request.read()
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        try:
            ticket = await tickets.get(conn, request.match_info["number"])
        except tickets.TicketNotFound as exc:
            return error(404, str(exc))
        if not may_handle(agent, ticket):
            return _refused(agent, ticket, "change")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, f"body: expected JSON such as {DECISION_EXAMPLE}")
        decision = parse_decision(body)
        if isinstance(decision, str):
            return error(400, decision)
        field, value, present = decision
        try:
            decided = await suggestions.decide(conn, ticket.number, field, value, agent.id, present=present)
        except tickets.TicketClosed as exc:
            return error(409, str(exc))
        await audit.record(
            conn,
            agent.username,
            "update",
            "ticket",
            ticket.number,
            field=field,
            value=value,
            present=present,
            suggestion=decided.status if decided else None,
        )
        view = await _view(conn, await tickets.get(conn, ticket.number))
    return json_response(view)


async def accuracy(request: web.Request) -> web.Response:
    agent = await authenticate(request)
    if isinstance(agent, web.Response):
        return agent
    if agent.role not in SUPERVISORS:
        return error(403, f"agent {agent.username} ({agent.role}) may not read the accuracy of suggestions")
    tz = ZoneInfo(request.app[SETTINGS].timezone)
    today = dt.datetime.now(tz).date()
    first = parse_day("since", request.query.get("since"), today - dt.timedelta(days=ACCURACY_DAYS))
    last = parse_day("until", request.query.get("until"), today)
    if isinstance(first, str):
        return error(400, first)
    if isinstance(last, str):
        return error(400, last)
    if last < first:
        return error(400, f'"until" {last} is before "since" {first}')
    pool: Any = request.app[POOL]
    async with pool.acquire() as conn:
        rows = await suggestions.accuracy(
            conn,
            since=dt.datetime.combine(first, dt.time(), tz),
            until=dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz),
        )
    return json_response(
        {
            "since": first.isoformat(),
            "until": last.isoformat(),
            "timezone": str(tz),
            "fields": [
                {
                    "field": a.field,
                    "decided": a.decided,
                    "confirmed": a.confirmed,
                    "corrected": a.corrected,
                    "rejected": a.rejected,
                    "rate": a.rate,
                }
                for a in rows
            ],
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/tickets/{number}", get_ticket),
        web.post("/api/tickets/{number}/fields", decide_field),
        web.get("/api/suggestions/accuracy", accuracy),
    ]

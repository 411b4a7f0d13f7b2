"""The agent page and what it calls, mounted at ``/agent``. Every read is of the signed-in agent's own desk.

GET  /agent/                              the page (its first snapshot rendered in)
GET  /agent/desk                          the snapshot as JSON (the websocket sends the same)
POST /agent/state                         {"state": "available" | "paused" | "logged_out", "reason": "..."}
POST /agent/tickets/{number}/draft        the form as it is (autosave): saved whole or not at all
POST /agent/tickets/{number}/complete     the form, checked as complete: the work order is answered or
                                          referred, and the agent's wrap-up ends
POST /agent/tickets/{number}/risk         {"advice": "110" | "120"}: flag the danger, urgent
POST /agent/tickets/{number}/callback     {"at": "YYYY-MM-DDTHH:MM", "reason": "..."}: call the caller back then
                                          (the call has ended; local time; up to 30 days ahead)
POST /agent/transfer                      {"queue": "legal_aid"} | {"agent": "lawyer02"}: blind transfer of the
                                          connected caller; the work order follows the call
POST /agent/number                        the full number of the call being handled (audited)
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from agents.api import BadRequest, Conflict, decode, json_response
from agents.auth import current_agent, requires
from agents.desk import schemas, services
from agents.keys import CLOCK, POOL, SETTINGS
from agents.state import schemas as state_schemas
from agents.state import services as state_services
from agents.state.http import registrar_of
from agents.tickets.services import handled_ticket
from db import agents, audit, console, tickets
from hotline.caller.privacy import load_keys

RISK_ADVICE = {"110": "已建议拨打 110 报警", "120": "已建议拨打 120 急救"}


async def _snapshot(request: web.Request) -> dict[str, Any]:
    async with request.config_dict[POOL].acquire() as conn:
        return await services.snapshot(conn, current_agent(request), request.config_dict[SETTINGS])


@requires("agent", "use the agent page", page=True)
async def page(request: web.Request) -> web.StreamResponse:
    from agents import session as sessions

    session = await sessions.current(request)
    desk = await _snapshot(request)
    async with request.config_dict[POOL].acquire() as conn:
        reasons = await console.pause_reasons(conn)
    return aiohttp_jinja2.render_template(
        "agent.html",
        request,
        {
            "agent": current_agent(request),
            "csrf": session.csrf if session else "",
            "desk_json": json.dumps(desk, ensure_ascii=False, default=str),
            "options": services.form_options(),
            "reasons": reasons,
            "timezone": request.config_dict[SETTINGS].timezone,
        },
    )


@requires("agent")
async def desk(request: web.Request) -> web.Response:
    return json_response(await _snapshot(request))


@requires("agent")
async def change_state(request: web.Request) -> web.Response:
    change = state_schemas.own_state_change(decode(await request.read(), state_schemas.EXAMPLE))
    agent = current_agent(request)
    pool = request.config_dict[POOL]
    if change.state == "paused":
        async with pool.acquire() as conn:
            reasons = await console.pause_reasons(conn)
        if change.reason not in reasons:
            raise BadRequest(f"示忙原因须从列表中选择：{'、'.join(reasons)}")
    await state_services.change_own_state(pool, agent, change, registrar_of(request))
    return json_response(await _snapshot(request))


async def _form(request: web.Request) -> Any:
    return decode(await request.read(), '{"legal_area": "劳动争议", "facts": "..."}')


@requires("agent")
async def save_draft(request: web.Request) -> web.Response:
    agent = current_agent(request)
    body = await _form(request)
    async with handled_ticket(request.config_dict[POOL], agent, request.match_info["number"], "change") as (
        conn,
        ticket,
    ):
        draft = schemas.draft(body)
        saved = await console.save_draft(conn, ticket.number, draft)
        if saved is None:
            raise Conflict(f"工单 {ticket.number} 已办结，不能再修改")
    return json_response({"number": ticket.number, "saved_at": saved.isoformat()})


@requires("agent")
async def complete(request: web.Request) -> web.Response:
    agent = current_agent(request)
    body = await _form(request)
    async with handled_ticket(request.config_dict[POOL], agent, request.match_info["number"], "change") as (
        conn,
        ticket,
    ):
        draft = schemas.complete(schemas.draft(body))
        if await console.save_draft(conn, ticket.number, draft) is None:
            raise Conflict(f"工单 {ticket.number} 已办结，不能再修改")
        status = ticket.status.value
        if status in ("new", "reopened"):
            status = (await tickets.transition(conn, ticket.number, "in_progress", actor=agent.username)).status
        if status == "in_progress":
            referred = draft.disposition == "已转介"
            await tickets.transition(
                conn,
                ticket.number,
                "referred" if referred else "answered",
                actor=agent.username,
                referral=draft.referral if referred else None,
            )
        await audit.record(conn, agent.username, "update", "ticket", ticket.number, completed=True)
    async with request.config_dict[POOL].acquire() as conn:
        fresh = await agents.get(conn, agent.username)
    if fresh.state.value == "wrap_up":  # the work order is done: so is the wrap-up
        end = state_schemas.StateChange("available", None)
        with contextlib.suppress(state_services.PhoneNotRegistered):  # the page says why it stays
            await state_services.change_own_state(request.config_dict[POOL], fresh, end, registrar_of(request))
    return json_response(await _snapshot(request))


@requires("agent")
async def risk(request: web.Request) -> web.Response:
    agent = current_agent(request)
    body = decode(await request.read(), '{"advice": "110"}')
    advice = body.get("advice") if isinstance(body, dict) else None
    if advice not in RISK_ADVICE:
        raise BadRequest('"advice": expected "110" or "120"')
    async with handled_ticket(request.config_dict[POOL], agent, request.match_info["number"], "change") as (
        conn,
        ticket,
    ):
        await console.mark_risk(conn, ticket.number, ticket.call_id, RISK_ADVICE[advice])
        await audit.record(conn, agent.username, "update", "ticket", ticket.number, risk=advice)
    return json_response(await _snapshot(request))


@requires("agent")
async def schedule_callback(request: web.Request) -> web.Response:
    agent = current_agent(request)
    settings = request.config_dict[SETTINGS]
    tz = ZoneInfo(settings.timezone)
    at, reason = schemas.callback(
        decode(await request.read(), '{"at": "2026-12-08T09:30", "reason": "..."}'),
        request.config_dict[CLOCK].now().astimezone(tz),
        tz,
    )
    async with handled_ticket(request.config_dict[POOL], agent, request.match_info["number"], "change") as (
        conn,
        ticket,
    ):
        if ticket.call_id is None:
            raise Conflict(f"工单 {ticket.number} 没有关联来电，无法回拨")
        await services.call_back(conn, ticket.call_id, agent, at=at, reason=reason)
    return json_response(await _snapshot(request))


@requires("agent")
async def transfer(request: web.Request) -> web.Response:
    kind, name = schemas.transfer_target(decode(await request.read(), '{"queue": "legal_aid"}'))
    async with request.config_dict[POOL].acquire() as conn:
        await services.transfer(conn, current_agent(request), kind, name)
    return json_response(await _snapshot(request))


@requires("agent")
async def full_number(request: web.Request) -> web.Response:
    """The caller's full number, for the agent the call is offered to or connected with; the read is audited."""
    agent = current_agent(request)
    settings = request.config_dict[SETTINGS]
    async with request.config_dict[POOL].acquire() as conn:
        call_id = await console.current_call(conn, agent.id)
        secret = await console.caller_secret(conn, call_id) if call_id else None
        if call_id is None or secret is None:
            raise Conflict("当前没有可显示号码的来电")
        number = load_keys(settings).decrypt(secret)
        await audit.record(conn, agent.username, "decrypt", "call", str(call_id), what="caller number")
    return json_response({"call_id": str(call_id), "number": number})


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", page),
            web.get("/desk", desk),
            web.post("/state", change_state),
            web.post("/tickets/{number}/draft", save_draft),
            web.post("/tickets/{number}/complete", complete),
            web.post("/tickets/{number}/risk", risk),
            web.post("/tickets/{number}/callback", schedule_callback),
            web.post("/transfer", transfer),
            web.post("/number", full_number),
        ]
    )
    return app

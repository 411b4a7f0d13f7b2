"""The agent's desk: everything the agent page shows, as one snapshot read from PostgreSQL.

The page and the websocket send the same snapshot: the state is the one in the database (never a local guess),
the call is the one the ACD offered or connected, the work order is the one of that call. A snapshot is sent
again after every change that concerns the agent, so two windows of one agent show the same thing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from agents.tickets.services import view as ticket_view
from db import agents, calls, console, tags, tickets
from hotline.config import Settings
from hotline.tag.taxonomy import FLAGS, LEGAL_AREAS, SERVICES

STATE_NAMES = {
    "logged_out": "签出",
    "available": "空闲",
    "reserved": "振铃中",
    "on_call": "通话中",
    "wrap_up": "话后整理",
    "paused": "示忙",
}
OUTCOME_NAMES = {
    "answered": "已接听",
    "abandoned": "放弃",
    "ivr_only": "自助语音",
    "voicemail": "留言",
    "callback": "回拨",
    "transferred": "已转接",
    "failed": "失败",
    "rejected": "拒接",
    "timeout": "超时",
}
REGISTRY_NAMES = {"jdlk": "建档立卡", "dibao": "低保特困"}
DISPOSITIONS = ("已解答", "已转介", "需回访", "无效来电", "咨询未完成")


def form_options() -> dict[str, Any]:
    return {
        "legal_areas": LEGAL_AREAS,
        "services": SERVICES,
        "flags": FLAGS,
        "referrals": tickets.REFERRALS,
        "dispositions": DISPOSITIONS,
    }


def _pop_view(pop: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    language = next((s.split(":", 1)[1] for s in pop["skills"] or () if s.startswith("language:")), "普通话")
    return {
        "call_id": str(pop["id"]),
        "caller_masked": pop["caller_masked"],
        "prefecture": pop["prefecture"] or "未知地区",
        "county": pop["county"],
        "language": language,
        "ivr_path": list(pop["node_path"]),
        "digits": pop["digits"],
        "queue": pop["queue_name"],
        "waited_s": round(pop["waited_s"] or 0),
        "priority": pop["priority"],
        "entry_state": pop["entry_state"],
        "answered": pop["answered_at"] is not None and pop["entry_state"] == "connected",
        "ended": pop["ended_at"] is not None,
        "registry": [REGISTRY_NAMES.get(k, k) for k in pop["registry"]],
        "flags": list(pop["flags"]),
        "earlier": [
            {
                "at": e.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "outcome": OUTCOME_NAMES.get(e.outcome or "", e.outcome or "进行中"),
                "ticket": e.ticket,
                "legal_area": e.legal_area,
                "status": e.status,
            }
            for e in pop["earlier"]
        ],
    }


async def ensure_ticket(conn: Any, call_id: UUID, agent: agents.Agent, settings: Settings) -> str:
    """The call's work order, opened now (assigned to the agent, due in ``console.ticket_deadline_hours``) if the
    call has none; one per call however many windows ask at once."""
    async with conn.transaction():
        await console.lock_call(conn, call_id)
        number = await console.ticket_of_call(conn, call_id)
        if number is None:
            call = await calls.get(conn, call_id)
            chosen = await tags.chosen_in_flow(conn, call_id)
            created = await tickets.create(
                conn,
                prefix=settings.ticket_prefix,
                tz=settings.timezone,
                actor=agent.username,
                call_id=call_id,
                assignee_id=agent.id,
                caller_masked=call.caller_masked if call else None,
                prefecture_code=call.prefecture_code if call else None,
                legal_area=chosen.get("legal_area") if chosen.get("legal_area") in LEGAL_AREAS else None,
                service=chosen.get("service") if chosen.get("service") in SERVICES else None,
            )
            number = created.number
        await console.take_ticket(conn, number, agent.id, settings.console.ticket_deadline_hours)
    return number


async def snapshot(conn: Any, agent: agents.Agent, settings: Settings) -> dict[str, Any]:
    """The agent's desk now: state, the call (screen pop), its work order, recent calls and open work orders."""
    tz = ZoneInfo(settings.timezone)
    fresh = await agents.get(conn, agent.username)
    call_id = await console.current_call(conn, fresh.id)
    if call_id is None and fresh.state.value == "wrap_up":
        call_id = await console.last_call(conn, fresh.id)
    call: dict[str, Any] | None = None
    ticket: dict[str, Any] | None = None
    live: dict[str, Any] = {"transcript": [], "tags": [], "transcription": settings.transcribe.live}
    if call_id is not None:
        pop = await console.screen_pop(conn, call_id)
        if pop is not None:
            call = _pop_view(pop, tz)
            if call["answered"] or call["ended"] or fresh.state.value in ("on_call", "wrap_up"):
                order = await tickets.get(conn, await ensure_ticket(conn, call_id, fresh, settings))
                ticket = await ticket_view(conn, order)
                ticket.update(
                    deadline=_local(order.deadline, tz),
                    disposition=order.disposition,
                    referral=order.referral,
                )
            live["transcript"] = await console.transcript(conn, call_id)
            live["tags"] = await console.call_tags(conn, call_id)
    return {
        "type": "desk",
        "agent": {
            "username": fresh.username,
            "display_name": fresh.display_name,
            "role": fresh.role,
            "state": fresh.state.value,
            "state_name": STATE_NAMES[fresh.state.value],
            "reason": fresh.state_reason,
            "since": fresh.state_changed_at.isoformat(),
        },
        "call": call,
        "ticket": ticket,
        "live": live,
        "recent": [
            {
                "at": _local(r["started_at"], tz),
                "caller_masked": r["caller_masked"],
                "prefecture": r["prefecture"],
                "outcome": OUTCOME_NAMES.get(r["outcome"] or "", "进行中"),
                "ticket": r["ticket"],
            }
            for r in await console.recent_calls(conn, fresh.id)
        ],
        "open_tickets": [
            {
                "number": t["number"],
                "status": t["status"],
                "priority": t["priority"],
                "caller_masked": t["caller_masked"],
                "legal_area": t["legal_area"],
                "deadline": _local(t["deadline"], tz),
                "overdue": bool(t["overdue"]),
            }
            for t in await console.open_tickets(conn, fresh.id)
        ],
    }


def _local(at: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None

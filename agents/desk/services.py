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

from agents.api import Conflict, NotFound
from agents.tickets.services import view as ticket_view
from db import agents, audit, callbacks, calls, console, tags, tickets, transfers
from hotline.config import Settings
from hotline.tag.taxonomy import FLAGS, LEGAL_AREAS, SERVICES

CALLBACK_NAMES = {
    "waiting": "待回拨",
    "dialing": "回拨中",
    "connected": "已接通",
    "failed": "未打通",
    "cancelled": "已取消",
}
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


async def ensure_ticket(conn: Any, call_id: UUID, agent: agents.Agent, settings: Settings, *, take: bool = True) -> str:
    """The call's work order, opened now (assigned to the agent, due in ``console.ticket_deadline_hours``) if the
    call has none; one per call however many windows ask at once."""
    async with conn.transaction():
        await console.lock_call(conn, call_id)
        number = await console.ticket_of_call(conn, call_id)
        opened = number is None
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
        if take or opened:  # the agent the call is with now: after a transfer the work order follows the call
            await console.take_ticket(conn, number, agent.id, settings.console.ticket_deadline_hours)
    return number


async def snapshot(conn: Any, agent: agents.Agent, settings: Settings) -> dict[str, Any]:
    """The agent's desk now: state, the call (screen pop), its work order, recent calls and open work orders."""
    tz = ZoneInfo(settings.timezone)
    fresh = await agents.get(conn, agent.username)
    call_id = await console.current_call(conn, fresh.id)
    current = call_id is not None
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
                order = await tickets.get(conn, await ensure_ticket(conn, call_id, fresh, settings, take=current))
                ticket = await ticket_view(conn, order)
                ticket.update(
                    deadline=_local(order.deadline, tz),
                    disposition=order.disposition,
                    referral=order.referral,
                    callbacks=[
                        {
                            "status": CALLBACK_NAMES.get(b["status"], b["status"]),
                            "at": _local(b["scheduled_for"] or b["requested_at"], tz),
                            "reason": b["reason"],
                            "by": b["requested_by"],
                        }
                        for b in await callbacks.of_call(conn, call_id)
                    ],
                )
            live["transcript"] = await console.transcript(conn, call_id)
            live["tags"] = await console.call_tags(conn, call_id)
    targets = None
    if current and fresh.state.value == "on_call":
        targets = await console.transfer_targets(conn, fresh.id)
    return {
        "type": "desk",
        "transfer_targets": targets,
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


async def call_back(conn: Any, call_id: UUID, agent: agents.Agent, *, at: dt.datetime | None, reason: str) -> int:
    """Put a callback of the ended call in its queue (at ``at``, or as soon as an agent is free); audited. One
    open callback per call; a withheld number or a call still up is refused with the reason (Conflict)."""
    async with conn.transaction():
        found = await callbacks.source(conn, call_id)
        if found is None:
            raise Conflict("来电号码未显示（隐藏号码），无法回拨")
        if not found.ended:
            raise Conflict("通话结束后（话后整理时）方可预约回拨")
        if found.open_callback is not None:
            raise Conflict("该来电已有待回拨的预约，不能重复预约")
        if found.queue_id is None:
            raise Conflict("该来电未进入任何队列，无法安排回拨")
        callback_id = await callbacks.request(
            conn,
            call_id,
            found.queue_id,
            number_hmac=found.number_hmac,
            number_enc=found.number_enc,
            number_masked=found.number_masked,
            keep_place=False,
            at=at,
            reason=reason,
            requested_by=agent.id,
        )
        await audit.record(
            conn,
            agent.username,
            "create",
            "callback",
            str(callback_id),
            call=str(call_id),
            at=at.isoformat() if at else None,
        )
    return callback_id


async def transfer(conn: Any, agent: agents.Agent, kind: str, name: str) -> None:
    """Ask the cell to transfer the agent's connected caller to a queue or to an available colleague (blind);
    audited. Refusals say why, in Chinese (no call, unknown target, colleague not free, one already pending)."""
    call_id = await transfers.connected_call(conn, agent.id)
    if call_id is None:
        raise Conflict("当前没有接通的来电，无法转接")
    queue_id = to_agent = None
    if kind == "queue":
        queue_id = await console.queue_id(conn, name)
        if queue_id is None:
            raise NotFound(f"队列“{name}”不存在")
    else:
        if name == agent.username:
            raise Conflict("不能转接给自己")
        free = (await console.transfer_targets(conn, agent.id))["agents"]
        if name not in [a["username"] for a in free]:
            raise Conflict(f"坐席 {name} 当前不在空闲状态，无法转接")
        to_agent = (await agents.get(conn, name)).id
    async with conn.transaction():
        if await transfers.request(conn, call_id, agent.id, queue_id=queue_id, agent_id=to_agent) is None:
            raise Conflict("该来电的转接正在进行中")
        await audit.record(conn, agent.username, "update", "call", str(call_id), transfer={kind: name})

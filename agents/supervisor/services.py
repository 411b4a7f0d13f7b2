"""What supervisors see live: the wallboard (per queue, per agent) and today's abandoned callers; and the
survey's follow-up work orders, with the result of each follow-up call."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from agents.api import Conflict, NotFound
from agents.desk.services import STATE_NAMES
from db import agents, audit, console, tickets


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


async def wallboard(conn: Any, timezone: str) -> dict[str, Any]:
    queues, agents = await console.wallboard(conn, timezone)
    return {
        "type": "wallboard",
        "queues": [
            {
                **q,
                "service_level": _rate(q["in_service_level"], q["answered"] + q["abandoned"]),
                "avg_wait_s": round(q["avg_wait_s"]) if q["avg_wait_s"] is not None else None,
                "oldest_wait_s": round(q["oldest_wait_s"]),
            }
            for q in queues
        ],
        "agents": [
            {
                "username": a["username"],
                "display_name": a["display_name"],
                "state": a["state"],
                "state_name": STATE_NAMES[a["state"]],
                "reason": a["state_reason"],
                "in_state_s": round(a["in_state_s"]),
                "calls_today": a["calls_today"],
                "queues": list(a["queues"]),
            }
            for a in agents
        ],
        "abandoned": [
            {
                "call_id": str(r["id"]),
                "caller_masked": r["caller_masked"],
                "prefecture": r["prefecture"],
                "queue": r["queue"],
                "at": r["abandoned_at"].isoformat(),
                "callback_requested": r["callback_requested"],
            }
            for r in await console.abandoned_today(conn, timezone)
        ],
    }


FOLLOW_UP_PATH = {  # the way to closed that records a follow-up: the result is the answer and the follow-up
    "new": "in_progress",
    "reopened": "in_progress",
    "in_progress": "answered",
    "answered": "follow_up",
    "referred": "follow_up",
    "follow_up": "closed",
}


def follow_up_view(rows: list[dict[str, Any]], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "number": r["number"],
            "status": r["status"],
            "at": r["created_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            "caller_masked": r["caller_masked"],
            "prefecture": r["prefecture"],
            "handled_by": r["handled_by_name"] or r["handled_by"],
            "answers": r["answers"],
            "result": r["follow_up_result"],
        }
        for r in rows
    ]


async def record_follow_up(conn: Any, supervisor: agents.Agent, number: str, result: str) -> None:
    """Record what the follow-up call found and close the survey's work order (new -> ... -> follow_up ->
    closed, each step in the status log), audited; a closed one is refused (Conflict)."""
    async with conn.transaction():
        if not await console.is_follow_up(conn, number):
            raise NotFound(f"{number} 不是满意度回访工单")
        ticket = await tickets.get(conn, number)
        status = ticket.status.value
        if status == "closed":
            raise Conflict(f"回访工单 {number} 已办结")
        while status != "closed":
            step = FOLLOW_UP_PATH[status]
            status = (
                await tickets.transition(
                    conn,
                    number,
                    step,
                    actor=supervisor.username,
                    reason="满意度回访" if step == "closed" else None,
                    answer=result if step == "answered" else None,
                    follow_up_result=result if step in ("follow_up", "closed") else None,
                )
            ).status.value
        await audit.record(conn, supervisor.username, "update", "ticket", number, follow_up=True)

"""What supervisors see live: the wallboard (per queue, per agent) and today's abandoned callers."""

from __future__ import annotations

from typing import Any

from agents.desk.services import STATE_NAMES
from db import console


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

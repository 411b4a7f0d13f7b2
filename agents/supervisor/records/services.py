"""What supervisors read of past work: the work-order search, one work order with its calls, transcripts and
recordings (audited), and a recording's file (each playback or download audited)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from agents.api import NotFound
from agents.supervisor.records.schemas import PREFECTURE_NAMES, STATUS_NAMES, Search
from db import agents, audit, search, transcription

DIRECTIONS = {"inbound": "呼入", "callback": "回拨"}
OUTCOMES = {
    "answered": "已接听",
    "abandoned": "放弃",
    "ivr_only": "仅自助语音",
    "voicemail": "留言",
    "callback": "转回拨",
    "transferred": "已转接",
    "failed": "失败",
    "rejected": "拒接",
    "timeout": "超时",
}
CHANNELS = {"caller": "来电人", "agent": "坐席"}


def _local(at: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else None


def _summary(row: dict[str, Any], tz: dt.tzinfo, now: dt.datetime) -> dict[str, Any]:
    """A work order as the search lists it: the caller masked, times local."""
    deadline = row["deadline"]
    return {
        "number": row["number"],
        "created_at": _local(row["created_at"], tz),
        "status": row["status"],
        "status_name": STATUS_NAMES[row["status"]],
        "priority": row["priority"],
        "caller_masked": row["caller_masked"],
        "prefecture": row["prefecture"],
        "prefecture_name": row["prefecture_name"] or PREFECTURE_NAMES[row["prefecture"]],
        "legal_area": row["legal_area"],
        "service": row["service"],
        "agent": row["agent"],
        "agent_name": row["agent_name"],
        "deadline": _local(deadline, tz),
        "overdue": deadline is not None and row["status"] != "closed" and deadline < now,
    }


async def find(conn: Any, wanted: Search, tz: dt.tzinfo, now: dt.datetime) -> dict[str, Any]:
    """One page of the work orders the search keeps, newest first, and how many it keeps in all."""
    rows = await search.find_tickets(conn, wanted.where, limit=wanted.per_page, offset=wanted.offset)
    total = await search.count_tickets(conn, wanted.where)
    return {
        "tickets": [_summary(r, tz, now) for r in rows],
        "total": total,
        "page": wanted.page,
        "per_page": wanted.per_page,
        "pages": max(1, -(-total // wanted.per_page)),
    }


def _minutes(ms: int) -> str:
    return f"{ms // 60000:02d}:{ms // 1000 % 60:02d}"


def _transcript(segments: list[transcription.StoredSegment]) -> list[dict[str, Any]]:
    """The batch transcript when there is one (the whole recording, read again), else what was heard live."""
    batch = [s for s in segments if s.source == "batch"]
    return [{"channel": CHANNELS[s.channel], "at": _minutes(s.start_ms), "text": s.text} for s in (batch or segments)]


async def detail(conn: Any, reader: agents.Agent, number: str, tz: dt.tzinfo, now: dt.datetime) -> dict[str, Any]:
    """The work order, its calls (the call and its callbacks), each call's transcript and recordings; the read
    is audited (a supervisor opening another agent's work order). NotFound when there is no such number."""
    async with conn.transaction():
        row = await search.ticket(conn, number)
        if row is None:
            raise NotFound(f"工单 {number} 不存在")
        calls = await search.ticket_calls(conn, row["call_id"]) if row["call_id"] else []
        recordings = await search.call_recordings(conn, [c["id"] for c in calls])
        shown = []
        for call in calls:
            shown.append(
                {
                    "id": str(call["id"]),
                    "direction": DIRECTIONS.get(call["direction"], call["direction"]),
                    "caller_masked": call["caller_masked"],
                    "started_at": _local(call["started_at"], tz),
                    "seconds": round(call["seconds"]) if call["seconds"] is not None else None,
                    "outcome": OUTCOMES.get(call["outcome"] or "", call["outcome"] or "通话中"),
                    "queue": call["queue"],
                    "agent": call["agent_name"] or call["agent"],
                    "recordings": [
                        {
                            "id": r["id"],
                            "started_at": _local(r["started_at"], tz),
                            "seconds": round(r["seconds"]) if r["seconds"] is not None else None,
                            "channels": r["channels"],
                        }
                        for r in recordings
                        if r["call_id"] == call["id"]
                    ],
                    "transcript": _transcript(await transcription.segments(conn, call["id"])),
                }
            )
        await audit.record(conn, reader.username, "read", "ticket", number, assignee=row["agent"])
    return {
        **_summary(row, tz, now),
        "flags": row["flags"],
        "facts": row["facts"],
        "answer": row["answer"],
        "disposition": row["disposition"],
        "referral": row["referral"],
        "follow_up_result": row["follow_up_result"],
        "closed_at": _local(row["closed_at"], tz),
        "calls": shown,
    }


async def recording_file(conn: Any, recording_id: int) -> tuple[search.RecordingFile, Path]:
    """The recording and its file on disk; NotFound when either is missing."""
    found = await search.recording(conn, recording_id)
    if found is None:
        raise NotFound(f"录音 {recording_id} 不存在")
    path = Path(found.path)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"录音 {recording_id} 的文件已不在服务器上")
    return found, path


async def audit_playback(conn: Any, reader: agents.Agent, found: search.RecordingFile, action: str) -> None:
    await audit.record(
        conn, reader.username, action, "recording", str(found.id), call=found.call_id, ticket=found.ticket
    )

"""Calls for the analysis and work-order tests: an answered call with a batch transcript, and the wage claim
a migrant worker makes in it."""

from __future__ import annotations

import time
from uuid import UUID

import asyncpg

from db import calls
from hotline.caller.phone import parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.events import CallEvent

KEYS = NumberKeys.from_master(b"k" * 32)
CALLER = "13908712345"

WAGES = [
    ("agent", 1_000, 4_000, "您好 一 二 三 四 八 很 高兴 为 您 服务"),
    ("caller", 5_000, 15_000, "我 在 工地 上 干活 老板 拖欠 工资 三 个 月 了"),
    ("caller", 15_500, 20_000, "我们 是 农民工 想 申请 法律 援助"),
    ("agent", 21_000, 35_000, "您 可以 到 县 法律 援助 中心 申请 农民工 讨薪 不 需要 经济 困难 审查"),
    ("caller", 36_000, 40_000, "好的 谢谢"),
    ("agent", 41_000, 44_000, "还有 什么 可以 帮 您 感谢 您 的 来电 再见"),
]


async def answered_call(
    conn: asyncpg.Connection,
    agent_id: int | None,
    segments: list[tuple[str, int, int, str]],
    *,
    queue: str = "legal_consult",
    transcribed: bool = True,
) -> UUID:
    """A call that reached ``agent_id`` through ``queue``, ended, with batch transcript ``segments``."""
    call_id = await calls.start(conn, sip_call_id=f"sip-{time.monotonic_ns()}", caller=parse_caller(CALLER), keys=KEYS)
    await calls.answered(conn, call_id)
    if agent_id is not None:
        queue_id = await conn.fetchval("SELECT id FROM queues WHERE name = $1", queue)
        await conn.execute("UPDATE calls SET queue_id = $2, agent_id = $3 WHERE id = $1", call_id, queue_id, agent_id)
        await calls.add_event(conn, call_id, CallEvent.CONNECT, queue_id=queue_id, agent_id=agent_id)
    await calls.end(conn, call_id, "answered" if agent_id else "ivr_only")
    await conn.executemany(
        """INSERT INTO transcripts (call_id, channel, start_ms, end_ms, text, confidence, source)
           VALUES ($1, $2, $3, $4, $5, 0.9, 'batch')""",
        [(call_id, *s) for s in segments],
    )
    if transcribed:
        await conn.execute("INSERT INTO transcription_state (call_id, batch_done_at) VALUES ($1, now())", call_id)
    return call_id

"""Pulling call records: each list and each record read is written to the audit log, in the transaction that
reads it (a list as an export, with the ids it handed out)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from multidict import MultiMapping

from agents import listing
from agents.api import NotFound
from agents.calls import schemas
from db import agents, audit, queues, records


async def pull(pool: Any, agent: agents.Agent, query: MultiMapping[str], tz: dt.tzinfo) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        asked = schemas.call_query(query, tz, await queues.names(conn))
        rows = await records.calls(conn, asked.where, asked.after, asked.limit + 1)
        found = listing.page(rows, asked.limit, schemas.KIND, schemas.key)
        await audit.record(
            conn,
            agent.username,
            "export",
            "call",
            None,
            api="calls",
            query=dict(query),
            ids=[str(r.id) for r in found.rows],
        )
    return schemas.calls_view(found)


async def read(pool: Any, agent: agents.Agent, call_id: UUID) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row = await records.call(conn, call_id)
        if row is None:
            raise NotFound(f"没有编号为 {call_id} 的通话")
        await audit.record(conn, agent.username, "read", "call", str(call_id), api="calls")
    return schemas.call_view(row)

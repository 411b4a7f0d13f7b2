"""Pulling referrals: each list and each referral read is written to the audit log, in the transaction that
reads it (a list as an export, with the work-order numbers it handed out)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from multidict import MultiMapping

from agents import listing
from agents.api import NotFound
from agents.referrals import schemas
from db import agents, audit, records


async def pull(pool: Any, agent: agents.Agent, query: MultiMapping[str], tz: dt.tzinfo) -> dict[str, Any]:
    asked = schemas.referral_query(query, tz)
    async with pool.acquire() as conn, conn.transaction():
        rows = await records.referrals(conn, asked.where, asked.after, asked.limit + 1)
        found = listing.page(rows, asked.limit, schemas.KIND, schemas.key)
        numbers = [r.number for r in found.rows]
        await audit.record(
            conn, agent.username, "export", "ticket", None, api="referrals", query=dict(query), ids=numbers
        )
    return schemas.referrals_view(found)


async def read(pool: Any, agent: agents.Agent, number: str) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row = await records.referral(conn, number) if schemas.NUMBER.fullmatch(number) else None
        if row is None:
            raise NotFound(f"没有编号为“{number}”且有转介去向的工单")
        await audit.record(conn, agent.username, "read", "ticket", number, api="referrals")
    return schemas.referral_view(row)

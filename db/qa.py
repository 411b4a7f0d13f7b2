"""Quality-check results (质检) per call, and per-agent / per-queue summaries over a period."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from hotline.qa import QaResult


@dataclass(frozen=True)
class QaRecord:
    call_id: UUID
    agent_id: int | None
    queue_id: int | None
    call_at: dt.datetime
    score: int
    items: list[dict[str, Any]]
    rules_version: int
    rules_checksum: str
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> QaRecord:
        values = {name: row[name] for name in cls.__dataclass_fields__ if name != "items"}
        return cls(**values, items=json.loads(row["items"]))


_COLUMNS = ", ".join(QaRecord.__dataclass_fields__)


async def store(conn: Any, call_id: UUID, result: QaResult) -> None:
    """Store (or replace) a call's result; agent, queue and start time are copied from the call."""
    await conn.execute(
        """
        INSERT INTO qa_results (call_id, agent_id, queue_id, call_at, score, items, rules_version, rules_checksum)
        SELECT c.id, c.agent_id, c.queue_id, c.started_at, $2, $3::jsonb, $4, $5 FROM calls c WHERE c.id = $1
        ON CONFLICT (call_id) DO UPDATE SET agent_id = EXCLUDED.agent_id, queue_id = EXCLUDED.queue_id,
            call_at = EXCLUDED.call_at, score = EXCLUDED.score, items = EXCLUDED.items,
            rules_version = EXCLUDED.rules_version, rules_checksum = EXCLUDED.rules_checksum, created_at = now()
        WHERE (qa_results.score, qa_results.items, qa_results.rules_checksum, qa_results.agent_id,
               qa_results.queue_id)
              IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.items, EXCLUDED.rules_checksum, EXCLUDED.agent_id,
                                EXCLUDED.queue_id)
        """,
        call_id,
        result.score,
        json.dumps([i.to_json() for i in result.items], ensure_ascii=False),
        result.rules_version,
        result.rules_checksum,
    )


async def delete(conn: Any, call_id: UUID) -> None:
    await conn.execute("DELETE FROM qa_results WHERE call_id = $1", call_id)


async def get(conn: Any, call_id: UUID) -> QaRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM qa_results WHERE call_id = $1", call_id)
    return QaRecord.from_row(row) if row else None


@dataclass(frozen=True)
class QaSummary:
    """One agent's or one queue's results over a period."""

    key: str  # agent username or queue name; "" for calls without a queue or whose agent was deleted
    name: str  # display name
    calls: int
    mean_score: float
    failures: dict[str, int] = field(default_factory=dict)  # item name -> calls that failed it


_GROUPS = {
    "agent": ("q.agent_id", "LEFT JOIN agents g ON g.id = q.agent_id", "g.username", "g.display_name"),
    "queue": ("q.queue_id", "LEFT JOIN queues g ON g.id = q.queue_id", "g.name", "g.display_name"),
}


async def summary(
    conn: Any,
    by: str,
    *,
    since: dt.datetime,
    until: dt.datetime,
    name: str | None = None,
) -> list[QaSummary]:
    """Calls scored, mean score and failures per item, grouped ``by`` "agent" or "queue", for calls that
    started in [since, until); ``name`` keeps one agent (username) or queue (name). Lowest mean score first."""
    if by not in _GROUPS:
        raise ValueError(f"summary by {by!r}: expected one of {', '.join(_GROUPS)}")
    key_col, join, key_name, display = _GROUPS[by]
    where = f"q.call_at >= $1 AND q.call_at < $2 AND ($3::text IS NULL OR {key_name} = $3)"
    totals = await conn.fetch(
        f"""
        SELECT {key_col} AS id, coalesce({key_name}, '') AS key, coalesce({display}, '') AS name,
               count(*) AS calls, avg(q.score)::float8 AS mean
        FROM qa_results q {join}
        WHERE {where}
        GROUP BY 1, 2, 3
        ORDER BY mean, key
        """,
        since,
        until,
        name,
    )
    failures = await conn.fetch(
        f"""
        SELECT {key_col} AS id, i->>'name' AS item, count(*) AS n
        FROM qa_results q {join}, jsonb_array_elements(q.items) AS i
        WHERE {where} AND NOT (i->>'passed')::boolean
        GROUP BY 1, 2
        """,
        since,
        until,
        name,
    )
    by_id: dict[Any, dict[str, int]] = {}
    for row in failures:
        by_id.setdefault(row["id"], {})[row["item"]] = int(row["n"])
    return [QaSummary(r["key"], r["name"], int(r["calls"]), float(r["mean"]), by_id.get(r["id"], {})) for r in totals]

"""Tags of a call (legal area, service, flags, failed quality items), one set per source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class TagRow:
    kind: str  # legal_area, service, flag, quality
    value: str
    score: float | None = None
    rule: str | None = None


async def replace(conn: Any, call_id: UUID, source: str, rows: Sequence[TagRow]) -> None:
    """Make ``source``'s tags of the call exactly ``rows``; rows that are already there stay untouched."""
    await conn.execute(
        "DELETE FROM tags WHERE call_id = $1 AND source = $2 AND NOT (kind || ':' || value = ANY($3::text[]))",
        call_id,
        source,
        [f"{r.kind}:{r.value}" for r in rows],
    )
    await conn.executemany(
        """INSERT INTO tags (call_id, kind, value, score, source, rule) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (call_id, kind, value, source) DO UPDATE SET score = EXCLUDED.score, rule = EXCLUDED.rule
           WHERE (tags.score, tags.rule) IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.rule)""",
        [(call_id, r.kind, r.value, r.score, source, r.rule) for r in rows],
    )


async def of_call(conn: Any, call_id: UUID, source: str | None = None) -> list[TagRow]:
    rows = await conn.fetch(
        """SELECT kind, value, score, rule FROM tags WHERE call_id = $1 AND ($2::text IS NULL OR source = $2)
           ORDER BY kind, value""",
        call_id,
        source,
    )
    return [TagRow(r["kind"], r["value"], r["score"], r["rule"]) for r in rows]


async def add_from_flow(conn: Any, call_id: UUID, rows: Sequence[tuple[str, str]]) -> None:
    """Tags the IVR flow set, (kind, value) pairs; ones the call already has from the flow stay as they are."""
    await conn.executemany(
        """INSERT INTO tags (call_id, kind, value, source) VALUES ($1, $2, $3, 'flow')
           ON CONFLICT (call_id, kind, value, source) DO NOTHING""",
        [(call_id, kind, value) for kind, value in rows],
    )


async def chosen_in_flow(conn: Any, call_id: UUID) -> dict[str, str]:
    """The legal area and service the caller chose in the IVR (kind -> value), as the flow tagged them."""
    rows = await conn.fetch(
        "SELECT kind, value FROM tags WHERE call_id = $1 AND source = 'flow' AND kind IN ('legal_area', 'service')",
        call_id,
    )
    return {r["kind"]: r["value"] for r in rows}

"""The targets table (目标值 per prefecture or province, period and measure): upsert a checked file, list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db import audit
from hotline.kpi.targets import TargetsFile


@dataclass(frozen=True)
class ImportResult:
    added: int
    changed: int
    unchanged: int


async def import_file(conn: Any, parsed: TargetsFile, *, actor: str) -> ImportResult:
    """Store a checked file's targets with its audit row, in one transaction: all or nothing. A target already
    stored with the same value is left as it is (re-importing a file changes nothing); another value replaces it."""
    t = parsed.targets
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::date[], $6::text[],
                                     $7::text[], $8::numeric[])
                    AS i (prefecture, period, period_kind, starts, ends, measure, unit, target)
            ), before AS (
                SELECT i.target, old.target AS old_target
                FROM input i
                LEFT JOIN targets old USING (prefecture, period, measure)
            ), upsert AS (
                INSERT INTO targets (prefecture, period, period_kind, starts, ends, measure, unit, target, source)
                SELECT prefecture, period, period_kind, starts, ends, measure, unit, target, $9 FROM input
                ON CONFLICT (prefecture, period, measure) DO UPDATE
                    SET target = EXCLUDED.target, unit = EXCLUDED.unit, source = EXCLUDED.source, updated_at = now()
                    WHERE targets.target IS DISTINCT FROM EXCLUDED.target
                RETURNING 1
            )
            SELECT count(*) FILTER (WHERE old_target IS NULL) AS added,
                   count(*) FILTER (WHERE old_target <> target) AS changed,
                   count(*) FILTER (WHERE old_target = target) AS unchanged,
                   (SELECT count(*) FROM upsert) AS written
            FROM before
            """,
            [x.prefecture for x in t],
            [x.period.text for x in t],
            [x.period.kind.value for x in t],
            [x.period.starts for x in t],
            [x.period.ends for x in t],
            [x.measure.id for x in t],
            [x.measure.unit.value for x in t],
            [x.target for x in t],
            parsed.path.name,
        )
        result = ImportResult(added=int(row["added"]), changed=int(row["changed"]), unchanged=int(row["unchanged"]))
        await audit.record(
            conn,
            actor,
            "import",
            "targets",
            parsed.path.name,
            rows=len(t),
            added=result.added,
            changed=result.changed,
        )
    return result


async def list_targets(conn: Any, period: str | None = None) -> list[dict[str, Any]]:
    """Stored targets, by period start, period kind (year, quarter, month), province first, then prefecture code and
    measure; with `period` (canonical text, e.g. 2026Q2), that period's only."""
    rows = await conn.fetch(
        """
        SELECT prefecture, period, period_kind, starts, ends, measure, unit, target, source, updated_at
        FROM targets
        WHERE $1::text IS NULL OR period = $1
        ORDER BY starts, ends DESC, prefecture <> 'province', prefecture, measure
        """,
        period,
    )
    return [dict(r) for r in rows]

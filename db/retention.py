"""Retention (hotline/retention.py): what is older than each data class's period is deleted, in bounded batches.

Each function deletes one batch (at most `limit` rows) older than `before` and returns what it deleted, so the
caller can remove files, write the audit log, and go round again. A recording whose `retain_until` is later than
`before` (a legal hold) is kept, and so is the call it belongs to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID


async def recordings(conn: Any, before: dt.datetime, limit: int) -> list[tuple[int, str]]:
    """Delete recordings that ended before `before` (not under hold); their (id, path), for the files."""
    rows = await conn.fetch(
        """DELETE FROM recordings WHERE id IN (
               SELECT id FROM recordings
               WHERE coalesce(ended_at, started_at) < $1 AND (retain_until IS NULL OR retain_until < $1::date)
               ORDER BY id LIMIT $2)
           RETURNING id, path""",
        before,
        limit,
    )
    return [(r["id"], r["path"]) for r in rows]


async def transcripts(conn: Any, before: dt.datetime, limit: int) -> int:
    """Delete transcript segments made before `before` (not those of a call whose recording is on hold); how
    many."""
    rows = await conn.fetch(
        """DELETE FROM transcripts WHERE id IN (
               SELECT t.id FROM transcripts t
               WHERE t.created_at < $1
                 AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = t.call_id
                                 AND r.retain_until IS NOT NULL AND r.retain_until >= $1::date)
               ORDER BY t.id LIMIT $2)
           RETURNING id""",
        before,
        limit,
    )
    return len(rows)


async def call_records(conn: Any, before: dt.datetime, limit: int) -> tuple[list[UUID], list[str]]:
    """Delete ended calls that started before `before` with everything that belongs to them (events, surveys,
    tags, queue history...; work orders stay, without their call), unless a recording of theirs is on hold.
    (the call ids, the paths of their recordings, for the files)."""
    async with conn.transaction():
        ids = [
            r["id"]
            for r in await conn.fetch(
                """SELECT c.id FROM calls c
                   WHERE c.started_at < $1 AND c.ended_at IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.call_id = c.id
                                     AND r.retain_until IS NOT NULL AND r.retain_until >= $1::date)
                   ORDER BY c.started_at LIMIT $2""",
                before,
                limit,
            )
        ]
        if not ids:
            return [], []
        paths = [r["path"] for r in await conn.fetch("SELECT path FROM recordings WHERE call_id = ANY($1)", ids)]
        await conn.execute("DELETE FROM calls WHERE id = ANY($1)", ids)
    return ids, paths


async def audit_log(conn: Any, before: dt.datetime, limit: int) -> int:
    """Delete audit rows written before `before`; how many."""
    rows = await conn.fetch(
        "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2) RETURNING id",
        before,
        limit,
    )
    return len(rows)

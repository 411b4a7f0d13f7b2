"""The vulnerable-household registry table: keyed HMACs only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportResult:
    kind: str
    total: int
    added: int


async def import_digests(conn: Any, kind: str, digests: list[bytes], source: str) -> ImportResult:
    """Store all digests in one transaction; ones already registered for the kind are left as they are."""
    async with conn.transaction():
        added = await conn.fetchval(
            """
            WITH ins AS (
                INSERT INTO vulnerable_registry (number_hmac, kind, source)
                SELECT d, $2, $3 FROM unnest($1::bytea[]) AS d
                ON CONFLICT (number_hmac, kind) DO NOTHING
                RETURNING 1
            ) SELECT count(*) FROM ins
            """,
            digests,
            kind,
            source,
        )
    return ImportResult(kind=kind, total=len(digests), added=int(added))


async def lookup(conn: Any, digest: bytes) -> list[str]:
    """The registry kinds a caller is registered under (empty when none)."""
    rows = await conn.fetch("SELECT kind FROM vulnerable_registry WHERE number_hmac = $1 ORDER BY kind", digest)
    return [r["kind"] for r in rows]

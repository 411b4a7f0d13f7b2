"""The vulnerable-household registry table: keyed HMACs only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db import audit
from hotline.caller.households import RegistryFile
from hotline.caller.privacy import NumberKeys


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


async def import_file(conn: Any, kind: str, parsed: RegistryFile, keys: NumberKeys, *, actor: str) -> ImportResult:
    """Register a checked file's numbers (their keyed HMACs) under `kind` with its audit row, in one transaction:
    all or nothing. What ``hotline registry import`` and the admin page's upload both do."""
    async with conn.transaction():
        result = await import_digests(conn, kind, [keys.digest(n) for n in parsed.numbers], source=parsed.path.name)
        await audit.record(
            conn,
            actor,
            "import",
            "vulnerable_registry",
            kind,
            file=parsed.path.name,
            rows=parsed.rows,
            added=result.added,
        )
    return result


async def lookup(conn: Any, digest: bytes) -> list[str]:
    """The registry kinds a caller is registered under (empty when none)."""
    rows = await conn.fetch("SELECT kind FROM vulnerable_registry WHERE number_hmac = $1 ORDER BY kind", digest)
    return [r["kind"] for r in rows]

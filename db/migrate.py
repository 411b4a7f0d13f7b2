"""Numbered SQL migrations in db/migrations/, applied in order, each in its own transaction.

Every applied file is recorded with its SHA-256; a recorded file that changed on disk stops everything.
A session-level advisory lock makes concurrent runs wait for each other instead of racing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x12348_0001  # pg_advisory_lock key owned by the migrator
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(HotlineError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str

    @property
    def filename(self) -> str:
        return self.path.name

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Plan:
    applied: list[Migration]
    pending: list[Migration]
    edited: list[Migration]
    unknown: list[str]  # recorded in the database, no longer on disk


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path} is misnamed: expected NNNN_lower_case_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"migration files {found[version].path} and {path} share number {version:04d}")
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        found[version] = Migration(version, match.group(2), path, checksum)
    return [found[v] for v in sorted(found)]


async def _ensure_table(conn: Any) -> None:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version     integer PRIMARY KEY,
            filename    text NOT NULL,
            checksum    text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
            applied_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


async def plan(conn: Any, migrations: list[Migration] | None = None) -> Plan:
    """Compare the files with what the database records. Read-only if the table exists."""
    migrations = discover() if migrations is None else migrations
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    rows = await conn.fetch("SELECT version, filename, checksum FROM schema_migrations") if exists else []
    recorded = {r["version"]: r for r in rows}
    on_disk = {m.version for m in migrations}
    applied = [m for m in migrations if m.version in recorded]
    return Plan(
        applied=applied,
        pending=[m for m in migrations if m.version not in recorded],
        edited=[m for m in applied if recorded[m.version]["checksum"] != m.checksum],
        unknown=[r["filename"] for v, r in sorted(recorded.items()) if v not in on_disk],
    )


def check_plan(p: Plan) -> None:
    if p.edited:
        names = ", ".join(m.filename for m in p.edited)
        raise MigrationError(
            f"applied migration file(s) changed since they ran: {names}; "
            "restore the original file and put the change in a new migration"
        )


async def migrate(conn: Any, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply pending migrations; return the ones applied now (empty when up to date)."""
    migrations = discover() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await _ensure_table(conn)
        current = await plan(conn, migrations)
        check_plan(current)
        done: list[Migration] = []
        for m in current.pending:
            try:
                async with conn.transaction():
                    await conn.execute(m.sql())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, filename, checksum) VALUES ($1, $2, $3)",
                        m.version,
                        m.filename,
                        m.checksum,
                    )
            except Exception as exc:
                raise MigrationError(f"migration {m.filename} failed and was rolled back: {exc}") from None
            done.append(m)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def require_current(conn: Any) -> None:
    """Refuse to run against a schema that is behind or whose applied files were edited."""
    current = await plan(conn)
    check_plan(current)
    if current.pending:
        names = ", ".join(m.filename for m in current.pending)
        raise MigrationError(f"database schema is behind: pending migration(s) {names}; run `hotline migrate`")


async def table_count(conn: Any) -> int:
    """How many tables the database's public schema has (0: a new database, e.g. to restore a backup into)."""
    count: int = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    return count

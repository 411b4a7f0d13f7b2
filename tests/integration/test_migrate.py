import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from db import migrate


async def test_migrate_applies_all_then_changes_nothing_the_second_time(empty_db: str) -> None:
    conn = await asyncpg.connect(empty_db)
    try:
        first = await migrate.migrate(conn)
        assert [m.filename for m in first] == [m.filename for m in migrate.discover()]
        tables_before = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1")
        recorded = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1")
        assert await migrate.migrate(conn) == []
        assert await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1") == tables_before
        assert await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1") == recorded
    finally:
        await conn.close()


async def test_concurrent_migrations_apply_each_file_once(empty_db: str) -> None:
    conns = [await asyncpg.connect(empty_db) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, len(migrate.discover())]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(migrate.discover())
    finally:
        for c in conns:
            await c.close()


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, target)
    return target


async def test_edited_migration_is_refused_naming_the_file(empty_db: str, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate.migrate(conn, migrate.discover(directory))
        first = sorted(directory.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(migrate.MigrationError, match=first.name):
            await migrate.migrate(conn, migrate.discover(directory))
        current = await migrate.plan(conn, migrate.discover(directory))
        with pytest.raises(migrate.MigrationError, match=first.name):
            migrate.check_plan(current)
    finally:
        await conn.close()


async def test_failed_migration_rolls_back_and_names_the_file(empty_db: str, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    (directory / "9999_broken.sql").write_text("CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;\n")
    conn = await asyncpg.connect(empty_db)
    try:
        with pytest.raises(migrate.MigrationError, match=r"9999_broken\.sql"):
            await migrate.migrate(conn, migrate.discover(directory))
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9999") == 0
    finally:
        await conn.close()


async def test_schema_behind_is_named(empty_db: str) -> None:
    conn = await asyncpg.connect(empty_db)
    try:
        with pytest.raises(migrate.MigrationError, match=r"0001_core\.sql"):
            await migrate.require_current(conn)
    finally:
        await conn.close()


def test_misnamed_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match=r"1_x\.sql"):
        migrate.discover(tmp_path)

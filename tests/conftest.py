"""Shared fixtures: a fresh PostgreSQL database per test, cloned from a migrated template."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from db import migrate

ADMIN_URL = os.environ.get("HOTLINE_TEST_ADMIN_URL", "postgresql://hotline:hotline@127.0.0.1:5432/postgres")
# One template per test session, so two sessions (CI and a developer, two checkouts) never rebuild each
# other's template under them.
TEMPLATE = f"hotline_test_template_{os.getpid()}"
ROOT = Path(__file__).resolve().parent.parent


def db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(ADMIN_URL)


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database with every migration applied, rebuilt once per test session."""
    import asyncio

    async def build() -> None:
        admin = await _admin()
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(db_url(TEMPLATE))
        try:
            await migrate.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield TEMPLATE

    async def drop() -> None:
        admin = await _admin()
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            # templates of sessions that were killed before their clean-up
            for row in await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'hotline\\_test\\_template\\_%'"
            ):
                pid = row["datname"].rsplit("_", 1)[-1]
                if pid.isdigit() and not _alive(int(pid)):
                    await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


async def _create(name: str, template: str | None) -> None:
    admin = await _admin()
    try:
        tmpl = f" TEMPLATE {template}" if template else ""
        await admin.execute(f"CREATE DATABASE {name}{tmpl}")
    finally:
        await admin.close()


async def _drop(name: str) -> None:
    admin = await _admin()
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def empty_db() -> AsyncIterator[str]:
    """URL of a new database with no schema at all."""
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    await _create(name, None)
    yield db_url(name)
    await _drop(name)


@pytest.fixture
async def db(template_db: str) -> AsyncIterator[str]:
    """URL of a new, fully migrated database."""
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    await _create(name, template_db)
    yield db_url(name)
    await _drop(name)


@pytest.fixture
async def conn(db: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(db)
    yield c
    await c.close()

"""Shared fixtures: a fresh PostgreSQL database per test, cloned from a migrated template."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.database import admin, create_database, create_migrated, drop_database
from tests.support.ports import free_port as free_port  # re-exported for test modules not moved yet (see layout)

# One template per test session, so two sessions (CI and a developer, two checkouts) never rebuild each
# other's template under them.
TEMPLATE = f"hotline_test_template_{os.getpid()}"


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database with every migration applied, rebuilt once per test session."""

    async def build() -> None:
        await drop_database(TEMPLATE)
        await create_migrated(TEMPLATE)

    asyncio.run(build())
    yield TEMPLATE

    async def drop() -> None:
        await drop_database(TEMPLATE)
        # templates of sessions that were killed before their clean-up
        async with admin() as conn:
            rows = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'hotline\\_test\\_template\\_%'"
            )
        for row in rows:
            pid = row["datname"].rsplit("_", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                await drop_database(row["datname"])

    asyncio.run(drop())


@pytest.fixture
async def empty_db() -> AsyncIterator[str]:
    """URL of a new database with no schema at all."""
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    url = await create_database(name)
    yield url
    await drop_database(name)


@pytest.fixture
async def db(template_db: str) -> AsyncIterator[str]:
    """URL of a new, fully migrated database."""
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    url = await create_database(name, template_db)
    yield url
    await drop_database(name)


@pytest.fixture
async def conn(db: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(db)
    yield c
    await c.close()

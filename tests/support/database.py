"""Throw-away PostgreSQL databases for the tests: created from the admin URL, migrated or cloned, dropped."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg

from db import migrate

ADMIN_URL = os.environ.get("HOTLINE_TEST_ADMIN_URL", "postgresql://hotline:hotline@127.0.0.1:5432/postgres")


def db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@contextlib.asynccontextmanager
async def admin() -> AsyncIterator[asyncpg.Connection]:
    """A connection to the admin database (CREATE and DROP DATABASE cannot run in the database itself)."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        yield conn
    finally:
        await conn.close()


async def create_database(name: str, template: str | None = None) -> str:
    """A new database (empty, or a copy of ``template``); its URL."""
    async with admin() as conn:
        await conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return db_url(name)


async def create_migrated(name: str) -> str:
    """A new database with every migration applied; its URL."""
    url = await create_database(name)
    conn = await asyncpg.connect(url)
    try:
        await migrate.migrate(conn)
    finally:
        await conn.close()
    return url


async def drop_database(name: str) -> None:
    async with admin() as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

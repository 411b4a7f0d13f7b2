"""The SIP front under test: a throwaway database with agents, a Kamailio factory. The fixtures are imported by
the conftest.py of each folder that uses them (tests/front, tests/sip)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from hotline.front.kamailio import CellAddress, FrontParams
from hotline.front.process import KamailioProcess
from tests.support.database import create_migrated, drop_database
from tests.support.ports import free_port

AGENTS = {"lawyer01": "secret", "lawyer02": "secret2"}  # lawyer02 never registers

StartFront = Callable[..., Awaitable[KamailioProcess]]


@pytest.fixture(scope="session")
def front_db() -> Iterator[str]:
    """URL of a database with the schema and two agents; dropped at the end of the session."""
    name = f"front_test_{uuid.uuid4().hex[:10]}"

    async def create() -> str:
        url = await create_migrated(name)
        conn = await asyncpg.connect(url)
        try:
            for username, password in AGENTS.items():
                await conn.execute(
                    "INSERT INTO agents (username, display_name, role, sip_ha1) "
                    "VALUES ($1, $2, 'lawyer', md5($1 || ':12348:' || $3))",
                    username,
                    f"律师 {username}",
                    password,
                )
        finally:
            await conn.close()
        return url

    yield asyncio.run(create())
    asyncio.run(drop_database(name))


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short path (unix socket names are limited to 108 bytes) removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="front-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def start_front(front_db: str, workdir: Path) -> AsyncIterator[StartFront]:
    """Start Kamailio with these cells (host:port strings) and extra FrontParams fields; stopped after."""
    started: list[KamailioProcess] = []

    async def start(cells: tuple[str, ...] = (), **overrides: object) -> KamailioProcess:
        fields: dict[str, object] = {
            "db_url": front_db,
            "runtime_dir": workdir / f"kam{len(started)}",
            "cells": tuple(CellAddress.parse(c) for c in cells),
            "sip_port": free_port(),
            "http_port": free_port(),
            **overrides,
        }
        params = FrontParams(**fields)  # type: ignore[arg-type]
        front = KamailioProcess(params)
        started.append(front)
        await front.start()
        return front

    yield start
    for front in started:
        await front.stop()

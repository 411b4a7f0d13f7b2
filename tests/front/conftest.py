"""Fixtures for the SIP front: a throwaway database with agents, free ports, a Kamailio factory."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from db import migrate
from hotline.front.kamailio import CellAddress, FrontParams
from hotline.front.process import KamailioProcess
from tests.conftest import ADMIN_URL, db_url

AGENTS = {"lawyer01": "secret", "lawyer02": "secret2"}  # lawyer02 never registers


def free_udp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


@pytest.fixture(scope="session")
def front_db() -> Iterator[str]:
    """URL of a database with the schema and two agents; dropped at the end of the session."""
    name = f"front_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(db_url(name))
        try:
            await migrate.migrate(conn)
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

    async def drop() -> None:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    asyncio.run(create())
    yield db_url(name)
    asyncio.run(drop())


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short path (unix socket names are limited to 108 bytes) removed after the test."""
    path = Path(tempfile.mkdtemp(prefix="front-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


StartFront = Callable[..., Awaitable[KamailioProcess]]


@pytest.fixture
async def start_front(front_db: str, workdir: Path) -> AsyncIterator[StartFront]:
    """Start Kamailio with these cells (host:port strings) and extra FrontParams fields; stopped after."""
    started: list[KamailioProcess] = []

    async def start(cells: tuple[str, ...] = (), **overrides: object) -> KamailioProcess:
        fields: dict[str, object] = {
            "db_url": front_db,
            "runtime_dir": workdir / f"kam{len(started)}",
            "cells": tuple(CellAddress.parse(c) for c in cells),
            "sip_port": free_udp_port(),
            "http_port": free_udp_port(),
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

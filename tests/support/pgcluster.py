"""A throw-away PostgreSQL cluster for fault tests: its own data directory and port, stopped and started at will,
removed afterwards. Never the developer's (or CI's) shared server: stopping that one would break every other test.

initdb and the server run as the `postgres` system user when the tests run as root (PostgreSQL refuses root).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from db import migrate
from tests.support.ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found under /usr/lib/postgresql/*/bin (scripts/setup-system.sh installs it)")
    return found[-1]


class Cluster:
    """One PostgreSQL server in a temporary directory, trusting local connections (it lives only for a test)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pgthrow-", dir="/tmp"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/hotline"

    def _run(self, *cmd: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", self._user, "--"] if self._user else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    async def create_migrated(self) -> str:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await conn.execute("CREATE DATABASE hotline")
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.url)
        try:
            await migrate.migrate(conn)
        finally:
            await conn.close()
        return self.url

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
async def pg_cluster() -> AsyncIterator[Cluster]:
    """A started throw-away cluster with the `hotline` database migrated; stopped and removed after the test."""
    cluster = Cluster()
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        await cluster.create_migrated()
        yield cluster
    finally:
        await asyncio.to_thread(cluster.remove)

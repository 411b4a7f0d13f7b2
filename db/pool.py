"""Connecting to PostgreSQL. Errors name host, port, database and user, never the password."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg

from hotline.config import Settings
from hotline.errors import DatabaseUnavailable
from hotline.metrics import count_db_connection

# What "PostgreSQL cannot be reached" looks like from asyncpg (refused, lost, shutting down, no answer in time): a
# caller may journal the write (hotline/cell/journal.py) or answer 503 (the console). Anything else (a constraint,
# a bug) is an error of the statement itself.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


@dataclass(frozen=True)
class Target:
    """Where a DSN (or the PG* variables) points, without the password."""

    host: str
    port: int
    database: str
    user: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


def describe(dsn: str | None, environ: Mapping[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    parts = urlsplit(dsn) if dsn else None
    user = (parts.username if parts else None) or env.get("PGUSER") or _os_user()
    host = (parts.hostname if parts else None) or env.get("PGHOST") or "/var/run/postgresql"
    port = (parts.port if parts else None) or int(env.get("PGPORT", "5432"))
    path = unquote(parts.path.lstrip("/")) if parts else ""
    database = path or env.get("PGDATABASE") or user
    return Target(host=host, port=port, database=database, user=unquote(user))


def _os_user() -> str:
    import getpass

    return getpass.getuser()


def _dsn(settings: Settings) -> str | None:
    url = settings.database.url
    return url.get_secret_value() if url is not None else None


def _unavailable(settings: Settings, exc: BaseException) -> DatabaseUnavailable:
    target = describe(_dsn(settings))
    reason = exc.__class__.__name__ if isinstance(exc, TimeoutError) else str(exc).splitlines()[0]
    return DatabaseUnavailable(
        f"cannot reach PostgreSQL at {target.host}:{target.port} "
        f"(database {target.database!r}, user {target.user!r}): {reason}"
    )


async def connect(settings: Settings) -> Any:
    """One connection (for migrations and CLI commands)."""
    try:
        return await asyncpg.connect(_dsn(settings), timeout=settings.database.connect_timeout)
    except (OSError, TimeoutError, socket.gaierror, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _unavailable(settings, exc) from None


async def connect_current(settings: Settings) -> Any:
    """One connection to a database whose schema is up to date (else a MigrationError naming what is missing)."""
    from db import migrate

    conn = await connect(settings)
    try:
        await migrate.require_current(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def _opened(conn: Any) -> None:
    """Every connection the pool opens (the first ones, and each one after a lost connection) is counted."""
    count_db_connection()


async def create_pool(settings: Settings) -> Any:
    try:
        return await asyncpg.create_pool(
            _dsn(settings),
            min_size=settings.database.min_pool,
            max_size=settings.database.max_pool,
            timeout=settings.database.connect_timeout,
            init=_opened,
        )
    except (OSError, TimeoutError, socket.gaierror, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _unavailable(settings, exc) from None


def database_name(settings: Settings) -> str:
    """The configured database's name (from the URL or the PG* variables)."""
    return describe(_dsn(settings)).database


def on_database(settings: Settings, name: str) -> Settings:
    """The same settings pointed at database `name` on the same server, as the same user."""
    from urllib.parse import quote, urlunsplit

    from pydantic import SecretStr

    dsn = _dsn(settings)
    if dsn:
        parts = urlsplit(dsn)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + quote(name), parts.query, parts.fragment))
    else:
        target = describe(None)
        url = f"postgresql://{quote(target.user)}@/{quote(name)}?host={quote(target.host)}&port={target.port}"
    database = settings.database.model_copy(update={"url": SecretStr(url)})
    return settings.model_copy(update={"database": database})


async def ensure_database(settings: Settings, name: str) -> bool:
    """Create database `name` on the configured server unless it exists (the user needs CREATEDB); True if made."""
    conn = await connect(settings)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.InsufficientPrivilegeError:
            raise DatabaseUnavailable(
                f"cannot create database {name!r}: user {describe(_dsn(settings)).user!r} lacks CREATEDB "
                "(create it as a superuser, owned by that user)"
            ) from None
        return True
    finally:
        await conn.close()

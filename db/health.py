"""The database's answer to a health probe."""

from __future__ import annotations

from typing import Any


async def ping(conn: Any) -> None:
    """One round trip to the server (raises what the connection raises if it does not answer)."""
    await conn.fetchval("SELECT 1")

"""The accuracy of the tagger's suggestions over a period, per field."""

from __future__ import annotations

from typing import Any

from agents.suggestions.schemas import Period
from db import suggestions


async def accuracy(pool: Any, asked: Period) -> list[suggestions.Accuracy]:
    async with pool.acquire() as conn:
        return await suggestions.accuracy(conn, since=asked.since, until=asked.until)

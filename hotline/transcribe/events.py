"""Transcription events out: an in-process publish/subscribe of partial and final results per call leg."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Partial:
    call_id: UUID | None
    channel: str
    stream: str
    text: str


@dataclass(frozen=True)
class Final:
    call_id: UUID | None
    channel: str
    stream: str
    start_ms: int
    end_ms: int
    text: str


Event = Partial | Final


class EventBus:
    """Each subscriber gets its own bounded queue; a subscriber that falls behind loses its oldest events
    rather than slowing transcription. Use from the event loop's thread only."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, event: Event) -> None:
        for q in self._subscribers:
            if q.full():
                q.get_nowait()
            q.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        q: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)

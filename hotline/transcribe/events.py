"""Transcription events out: an in-process publish/subscribe of partial and final results per call leg, and of
risk flags raised on a caller's words."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
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


@dataclass(frozen=True)
class Risk:
    """The tagger raised ``flag`` on the caller's live speech, once per call. Carries no transcript text and no
    caller number: ``rule`` is the taxonomy rule that matched, ``call_ms`` how far into the call the speech that
    raised it ends (the call's timeline, as transcripts.start_ms), ``at`` when it was detected."""

    call_id: UUID | None
    channel: str
    at: dt.datetime
    flag: str
    rule: str
    call_ms: int

    def to_json(self) -> dict[str, Any]:
        """The NOTIFY payload (``hotline_risk``) and the wire form for consoles."""
        return {
            "call_id": str(self.call_id) if self.call_id is not None else None,
            "channel": self.channel,
            "at": self.at.isoformat(),
            "flag": self.flag,
            "rule": self.rule,
            "call_ms": self.call_ms,
        }


Event = Partial | Final | Risk


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

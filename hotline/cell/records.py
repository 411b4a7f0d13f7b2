"""Call records around an application handler: a `calls` row at INVITE, events as it goes, closed at the end.

The handler returns the call's outcome; whatever happens (caller hangs up, handler error, drain), the
record is closed exactly once and the recording, if any, is registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from db import calls
from hotline.caller.phone import CallerNumber, InvalidNumber, parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.caller.simulated import is_simulated
from hotline.cell.transcription import CallTranscription, LiveTranscription
from hotline.events import CallEvent
from hotline.sip.call import CallEnded, CallLeg

log = logging.getLogger(__name__)


@dataclass
class Session:
    """What an application handler gets besides the SIP leg."""

    call_id: UUID
    caller: CallerNumber = None  # type: ignore[assignment]
    pool: Any = None
    answered: bool = False
    on_hangup: str = "ivr_only"  # the outcome if the caller hangs up now; the app moves it along
    agent: Any = None  # the bridged agent's CallLeg, while connected
    agent_id: int | None = None
    queue_id: int | None = None
    live: CallTranscription | None = None  # live transcription of the call's legs; None when off

    async def event(self, name: CallEvent, **data: Any) -> None:
        async with self.pool.acquire() as conn:
            await calls.add_event(conn, self.call_id, name, data=data)

    async def mark_answered(self) -> None:
        if not self.answered:
            self.answered = True
            async with self.pool.acquire() as conn:
                await calls.answered(conn, self.call_id)
            if self.live is not None:
                await self.live.start_caller()


App = Callable[[CallLeg, Session], Awaitable[str]]


def caller_of(leg: CallLeg) -> CallerNumber:
    try:
        return parse_caller(leg.caller)
    except InvalidNumber:
        # A SIP user part that is not a phone number (a softphone name): treat as not shown.
        return parse_caller("unknown")


class RecordedCalls:
    """The cell's handler: wraps an App with the call record. Runs on the cell's asyncio loop."""

    def __init__(
        self,
        pool: Any,
        keys: NumberKeys,
        cell: str,
        app: App,
        prompts: tuple[str, ...] = (),
        live: LiveTranscription | None = None,
    ) -> None:
        self.pool, self.keys, self.cell, self.app = pool, keys, cell, app
        self.prompts = prompts
        self.live = live

    async def __call__(self, call: CallLeg) -> None:
        leg = call
        caller = caller_of(leg)
        async with self.pool.acquire() as conn:
            call_id = await calls.start(
                conn,
                sip_call_id=leg.sip_call_id,
                caller=caller,
                keys=self.keys,
                cell=self.cell,
                simulated=is_simulated(leg.sip_call_id, self.keys),
            )
        session = Session(call_id, caller, self.pool)
        if self.live is not None:
            session.live = self.live.call(call_id, leg)
        outcome, reason = "failed", None
        try:
            outcome = await self.app(leg, session)
        except CallEnded:
            outcome = session.on_hangup if session.answered else "abandoned"
            reason = "caller hung up"
        except asyncio.CancelledError:
            outcome, reason = "failed", "cell stopped"
            raise
        except Exception as exc:
            outcome, reason = "failed", f"handler error: {type(exc).__name__}"
            log.exception("call %s: handler failed", call_id)
        finally:
            await asyncio.shield(self._close(leg, session, outcome, reason))

    async def _close(self, leg: CallLeg, session: Session, outcome: str, reason: str | None) -> None:
        await close_call(self.pool, leg, session.call_id, session.live, outcome, reason)


async def close_call(
    pool: Any, leg: CallLeg, call_id: UUID, live: CallTranscription | None, outcome: str, reason: str | None
) -> None:
    """End a call's record once: recording written and registered, outcome stored, live streams finished."""
    # the live streams end (eof, last results) while the recording is written; marked done after the record
    ending = asyncio.ensure_future(live.end_streams()) if live is not None else None
    recording: Path | None = None
    try:
        recording = await leg.stop_recording()
    except Exception as exc:
        log.error("call %s: recording not written: %s", call_id, exc)
    async with pool.acquire() as conn:
        if recording is not None and recording.exists():
            await _register_recording(conn, call_id, recording)
        await calls.end(conn, call_id, outcome, reason=reason)
    if ending is not None and live is not None:
        await ending
        await live.finish()


async def _register_recording(conn: Any, call_id: UUID, path: Path) -> None:
    import wave

    data = await asyncio.to_thread(path.read_bytes)
    with wave.open(str(path), "rb") as w:
        channels, rate, seconds = w.getnchannels(), w.getframerate(), w.getnframes() / w.getframerate()
    await calls.add_recording(
        conn, call_id, str(path), channels, rate, seconds, len(data), hashlib.sha256(data).hexdigest()
    )

"""Call records around an application handler: a `calls` row at INVITE, events as it goes, closed at the end.

The handler returns the call's outcome; whatever happens (caller hangs up, handler error, drain), the
record is closed exactly once and the recording, if any, is registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from db import calls
from hotline.caller.phone import CallerNumber, InvalidNumber, parse_caller
from hotline.caller.privacy import NumberKeys
from hotline.caller.simulated import is_simulated
from hotline.cell.journal import DurableWriter, apply_now
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
    writer: DurableWriter | None = None  # the cell's durable write path; None: straight to the database

    async def write(self, op: str, **args: Any) -> None:
        """One write of the call's record (hotline.cell.journal ops), through the durable writer if there is one."""
        if self.writer is not None:
            await self.writer.write(op, call_id=self.call_id, **args)
        else:
            await apply_now(self.pool, op, call_id=self.call_id, **args)

    async def event(self, name: CallEvent, *, queue_id: int | None = None, **data: Any) -> None:
        await self.write("event", event=CallEvent(name).value, queue_id=queue_id, data=data)

    async def mark_answered(self) -> None:
        if not self.answered:
            self.answered = True
            await self.write("answered")
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
        writer: DurableWriter | None = None,
    ) -> None:
        self.pool, self.keys, self.cell, self.app = pool, keys, cell, app
        self.prompts = prompts
        self.live = live
        self.writer = writer

    async def __call__(self, call: CallLeg) -> None:
        leg = call
        caller = caller_of(leg)
        session = Session(uuid.uuid4(), caller, self.pool, writer=self.writer)
        columns = calls.CallerColumns.of(caller, self.keys)
        await session.write(
            "open",
            sip_call_id=leg.sip_call_id,
            caller_masked=columns.masked,
            caller_kind=columns.kind,
            caller_hmac=columns.hmac,
            caller_enc=columns.enc,
            prefecture_code=columns.prefecture_code,
            province=columns.province,
            cell=self.cell,
            trunk=None,
            simulated=is_simulated(leg.sip_call_id, self.keys),
        )
        call_id = session.call_id
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
        await close_call(session, leg, session.live, outcome, reason)


async def close_call(
    session: Session, leg: CallLeg, live: CallTranscription | None, outcome: str, reason: str | None
) -> None:
    """End a call's record once: recording written and registered, outcome stored, live streams finished."""
    # the live streams end (eof, last results) while the recording is written; marked done after the record
    ending = asyncio.ensure_future(live.end_streams()) if live is not None else None
    recording: Path | None = None
    try:
        recording = await leg.stop_recording()
    except Exception as exc:
        log.error("call %s: recording not written: %s", session.call_id, exc)
    if recording is not None and recording.exists():
        await session.write("recording", **await recording_facts(recording))
    await session.write("end", outcome=outcome, reason=reason)
    if ending is not None and live is not None:
        await ending
        await live.finish()


async def recording_facts(path: Path, *, partial: bool = False) -> dict[str, Any]:
    """The `recording` write of a WAV file: its path, format, length, size and checksum."""
    import wave

    data = await asyncio.to_thread(path.read_bytes)
    with wave.open(str(path), "rb") as w:
        channels, rate, seconds = w.getnchannels(), w.getframerate(), w.getnframes() / w.getframerate()
    return {
        "path": str(path),
        "channels": channels,
        "sample_rate": rate,
        "seconds": seconds,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "partial": partial,
    }

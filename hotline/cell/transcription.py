"""Live transcription from a cell: each leg of a call streams the audio it receives to the transcription service.

The caller leg streams from answer, each bridged agent leg from its bridge, one websocket per leg
(``ws://{transcribe.host}:{transcribe.port}/asr``, protocol in hotline/transcribe/README.md). Both channels
share the call's timeline: a stream's ``offset_ms`` is its start relative to the call's first stream, as the
stereo recording places the agent channel at its bridge time.

Nothing here may block or break a call. Frames go through a bounded queue; the service being unreachable,
refusing the stream (capacity), failing, or falling more than ``MAX_QUEUED_FRAMES`` behind ends that leg's
stream, and the call is marked in ``transcription_state.live_failed`` so its recording is transcribed after
hang-up. A leg's stream ends with ``{"eof": 1}`` when the leg hangs up; when every stream of a call ended
with its final result, ``live_done_at`` is set (NOTIFY 'transcribed').
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any
from uuid import UUID

import aiohttp

from db import transcription as state
from hotline.clock import SYSTEM, Clock
from hotline.config import TranscribeSettings
from hotline.sip.call import CallLeg, Tap

log = logging.getLogger(__name__)

RATE = 8000  # what a tap delivers: 20 ms frames of 16-bit mono PCM
FRAMES_PER_MESSAGE = 5  # 100 ms of audio per websocket message
MAX_QUEUED_FRAMES = 250  # 5 s: a service this far behind loses the stream to the backlog
CONNECT_TIMEOUT = 3.0
FINAL_TIMEOUT = 5.0  # after eof, for the last final result


class LiveTranscription:
    """The cell's client of the transcription service: one per cell, used from the cell's event loop only."""

    def __init__(self, settings: TranscribeSettings, pool: Any, clock: Clock = SYSTEM) -> None:
        self.enabled = settings.live
        self.clock = clock
        self.url = f"ws://{settings.host}:{settings.port}/asr"
        self.pool = pool
        self._session: aiohttp.ClientSession | None = None
        self._calls: set[CallTranscription] = set()
        self._reachable: bool | None = None  # last seen, to log changes rather than every call

    async def start(self) -> None:
        if self.enabled:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT))

    async def stop(self) -> None:
        """End the streams still open (the cell has drained its calls by now), then close the client."""
        if self._calls:
            await asyncio.gather(*(c.finish() for c in list(self._calls)))
        if self._session is not None:
            await self._session.close()
            self._session = None

    def call(self, call_id: UUID, caller: CallLeg) -> CallTranscription | None:
        """The live streams of a new call; None when live transcription is off (the call goes to the backlog)."""
        if self._session is None:
            return None
        call = CallTranscription(self, call_id, caller)
        self._calls.add(call)
        return call

    def _reached(self, ok: bool, reason: str = "") -> None:
        if ok and self._reachable is False:
            log.info("transcription service at %s reachable again", self.url)
        elif not ok and self._reachable is not False:
            log.warning("%s; calls go to the post-call backlog until it answers", reason)
        self._reachable = ok


class CallTranscription:
    """The streams of one call. Its methods never raise; none waits on the service except `finish`."""

    def __init__(self, client: LiveTranscription, call_id: UUID, caller: CallLeg) -> None:
        self.client = client
        self.call_id = call_id
        self.caller = caller
        self.origin: float | None = None  # monotonic start of the call's first stream: 0 on the call's timeline
        self.streams: list[LegStream] = []
        self._finished: asyncio.Task[None] | None = None

    async def start_caller(self) -> None:
        """Stream the caller leg (once answered); a second call does nothing."""
        if not any(s.channel == "caller" for s in self.streams):
            await self._start("caller", self.caller)

    async def add_agent(self, leg: CallLeg) -> None:
        """Stream an agent leg from now (call right after the bridge)."""
        await self._start("agent", leg)

    async def _start(self, channel: str, leg: CallLeg) -> None:
        if self._finished is not None:
            return
        stream = LegStream(self, channel, leg)
        try:
            await stream.start()
        except Exception as exc:  # the leg ended meanwhile, or the engine refused the tap: nothing to stream
            log.info("call %s: no live %s stream: %s", self.call_id, channel, exc)
            return
        self.streams.append(stream)

    async def end_streams(self) -> bool:
        """End every stream now (eof, last results, close); True when all ended cleanly. Each stream also ends
        by itself when its leg hangs up."""
        results = await asyncio.gather(*(s.finish() for s in self.streams))
        return bool(results) and all(results)

    async def finish(self) -> None:
        """Once the call's record is closed: end the streams and, if all ended cleanly, mark the call's live
        transcript done (which tells the post-call analysis). Idempotent."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        await asyncio.shield(self._finished)

    async def _finish(self) -> None:
        try:
            if await self.end_streams():
                try:
                    await state.mark_live_done(self.client.pool, self.call_id)
                except Exception as exc:
                    log.warning("call %s: live transcript not marked done: %s", self.call_id, exc)
        finally:
            self.client._calls.discard(self)


class LegStream:
    """One leg's audio to one websocket. The tap's frames are queued on the loop; a task sends them."""

    def __init__(self, call: CallTranscription, channel: str, leg: CallLeg) -> None:
        self.call = call
        self.channel = channel
        self.leg = leg
        self.offset_ms = 0
        self.failure: str | None = None
        self.frames: deque[bytes] = deque()
        self.overflow = False
        self._tap: Tap | None = None
        self._wake = asyncio.Event()
        self._ending = False
        self._eof_sent = False
        self._clean = False
        self._task: asyncio.Task[bool] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._done: asyncio.Task[bool] | None = None
        self._marking: asyncio.Task[None] | None = None  # writes live_failed; awaited by finish

    async def start(self) -> None:
        self._tap = await self.leg.tap(self._frame)
        started = self.call.client.clock.monotonic()
        if self.call.origin is None:
            self.call.origin = started
        self.offset_ms = round((started - self.call.origin) * 1000)
        self._task = asyncio.create_task(self._run(), name=f"live-{self.channel}-{self.call.call_id}")
        self._watch = asyncio.create_task(self._leg_ended())

    def _frame(self, _leg: int, pcm: bytes) -> None:
        if self._eof_sent or self.failure is not None:
            return
        if len(self.frames) >= MAX_QUEUED_FRAMES:
            self.overflow = True
            self._wake.set()
            return
        self.frames.append(pcm)
        if len(self.frames) >= FRAMES_PER_MESSAGE:
            self._wake.set()

    async def _leg_ended(self) -> None:
        with contextlib.suppress(Exception):
            await self.leg.wait_ended()
        await self.finish()

    async def finish(self) -> bool:
        """Stop the tap, send what is queued and eof, wait for the final result; True when the stream ended
        cleanly. Idempotent."""
        if self._done is None:
            self._done = asyncio.ensure_future(self._finish())
        return await asyncio.shield(self._done)

    async def _finish(self) -> bool:
        await self._close_tap()
        self._ending = True
        self._wake.set()
        assert self._task is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._task), CONNECT_TIMEOUT + FINAL_TIMEOUT + 1)
        except TimeoutError:
            self._task.cancel()
            await self._failed("no final result from the transcription service")
            return False
        except Exception as exc:
            await self._failed(f"{type(exc).__name__}: {exc}")
            return False
        finally:
            if self._watch is not None and self._watch is not asyncio.current_task():
                self._watch.cancel()
            if self._marking is not None:
                await self._marking

    async def _close_tap(self) -> None:
        tap, self._tap = self._tap, None
        if tap is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(tap.close())

    async def _run(self) -> bool:
        client = self.call.client
        assert client._session is not None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                ws = await client._session.ws_connect(client.url, autoping=True)
        except Exception as exc:  # refused, timed out, not a websocket server...
            reason = f"transcription service at {client.url} unreachable: {type(exc).__name__}: {exc}"
            client._reached(False, reason)
            await self._failed(reason, logging.DEBUG)
            return False
        client._reached(True)
        try:
            return await self._stream(ws)
        except Exception as exc:
            await self._failed(f"stream lost: {type(exc).__name__}: {exc}")
            return False
        finally:
            await ws.close()

    async def _stream(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        config = {"sample_rate": RATE, "call_id": str(self.call.call_id), "channel": self.channel}
        await ws.send_json({"config": {**config, "offset_ms": self.offset_ms}})
        receiver = asyncio.create_task(self._receive(ws))
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.failure is not None:
                    return False
                while not self.overflow and (len(self.frames) >= FRAMES_PER_MESSAGE or (self._ending and self.frames)):
                    chunk = b"".join(self.frames.popleft() for _ in range(min(FRAMES_PER_MESSAGE, len(self.frames))))
                    await ws.send_bytes(chunk)
                if self.overflow:
                    await self._failed(f"the transcription service fell {MAX_QUEUED_FRAMES * 20 / 1000:g} s behind")
                    return False
                if self._ending:
                    break
            self._eof_sent = True
            await ws.send_str(json.dumps({"eof": 1}))
            try:
                await asyncio.wait_for(asyncio.shield(receiver), FINAL_TIMEOUT)
            except TimeoutError:
                await self._failed(f"no final result within {FINAL_TIMEOUT:g} s of eof")
        finally:
            if not receiver.done():
                receiver.cancel()
                with contextlib.suppress(BaseException):
                    await receiver
        if self.failure is None and not self._clean:
            await self._failed(f"the service closed the stream without a final result (code {ws.close_code})")
        return self._clean

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read results until the service closes; an error or a close before the last final fails the stream."""
        last: dict[str, Any] = {}
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                last = json.loads(msg.data)
            except ValueError:
                continue
            if "error" in last:
                code = last.get("code")
                # at capacity is how the service sheds load: expected, so not a warning
                level = logging.INFO if code == "capacity" else logging.WARNING
                await self._failed(f"refused by the transcription service ({code}): {last['error']}", level)
                self._wake.set()
                return
        if self._eof_sent and "text" in last and "partial" not in last:
            self._clean = True
        elif self.failure is None:
            await self._failed(f"the service closed the stream (code {ws.close_code})")
        self._wake.set()

    async def _failed(self, reason: str, level: int = logging.WARNING) -> None:
        """End this leg's stream and send the call's recording to the backlog. Never raises."""
        if self.failure is not None:
            return
        self.failure = reason
        self.frames.clear()
        self._wake.set()
        log.log(level, "call %s: live %s stream ended: %s", self.call.call_id, self.channel, reason)
        # its own task: the receiver that noticed the failure may be cancelled before the write is done
        self._marking = asyncio.create_task(self._mark_failed(f"{self.channel} stream: {reason}"))
        await self._close_tap()

    async def _mark_failed(self, reason: str) -> None:
        try:
            await state.mark_live_failed(self.call.client.pool, self.call.call_id, reason)
        except Exception as exc:
            log.error("call %s: live failure not recorded: %s", self.call.call_id, exc)

"""The cell's side of live transcription (hotline.cell.transcription) against the real service and decoder.

Only the outermost IO of a call leg is replaced: `FakeLeg` delivers what the leg receives as 20 ms frames to
its tap in real time, as pjsua2's conference clock does, and hangs up when told. The SIP path itself is
covered by tests/e2e/test_transcription.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast
from uuid import UUID

import asyncpg
import pytest
from aiohttp import WSMsgType, web

from hotline.cell.transcription import CallTranscription, LiveTranscription
from hotline.config import TranscribeSettings
from hotline.sip.call import CallLeg
from hotline.transcribe import backlog
from hotline.transcribe.models import ModelPool
from tests.support.audio import silence, speak, stereo
from tests.support.ports import free_port
from tests.support.transcribe import Service, new_call

FRAME = 320  # bytes: 20 ms of 8 kHz 16-bit mono


class FakeTap:
    def __init__(self, leg: FakeLeg) -> None:
        self.leg = leg

    async def close(self) -> None:
        self.leg.consumer = None


class FakeLeg:
    """What a leg receives (``pcm``, then silence) as 20 ms frames to its tap, paced in real time."""

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm
        self.consumer: Callable[[int, bytes], None] | None = None
        self.tapped_at: float | None = None
        self._ended = asyncio.Event()
        self._clock: asyncio.Task[None] | None = None

    async def tap(self, consumer: Callable[[int, bytes], None]) -> FakeTap:
        self.consumer = consumer
        self.tapped_at = time.monotonic()
        self._clock = asyncio.create_task(self._run())
        return FakeTap(self)

    async def _run(self) -> None:
        n = 0
        while not self._ended.is_set():
            n += 1
            await asyncio.sleep(max(0.0, self.tapped_at + n * 0.02 - time.monotonic()))  # type: ignore[operator]
            frame = self.pcm[(n - 1) * FRAME : n * FRAME].ljust(FRAME, b"\0")
            if self.consumer is not None:
                self.consumer(1, frame)

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def hang_up(self) -> None:
        self._ended.set()
        if self._clock is not None:
            await self._clock


def leg(pcm: bytes) -> CallLeg:
    return cast(CallLeg, FakeLeg(pcm))


def fake(call_leg: CallLeg) -> FakeLeg:
    return cast(FakeLeg, call_leg)


def pcm_of(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
        return bytes(w.readframes(w.getnframes()))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speak("대한민국", tmp_path_factory.mktemp("client") / "phrase.wav", 8000, lead_silence=0.5)


def settings_for(port: int, live: bool = True) -> TranscribeSettings:
    return TranscribeSettings(host="127.0.0.1", port=port, live=live)


@pytest.fixture
async def client(service: Service, pg: asyncpg.Pool) -> AsyncIterator[LiveTranscription]:
    port = int(service.url.rsplit(":", 1)[1].split("/", 1)[0])
    live = LiveTranscription(settings_for(port), pg)
    await live.start()
    yield live
    await live.stop()


async def state_of(pg: asyncpg.Pool, call_id: object) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pg.fetchrow(
        "SELECT live_failed, live_done_at FROM transcription_state WHERE call_id = $1", call_id
    )
    return row


async def hang_up_all(call: CallTranscription, *legs: CallLeg) -> None:
    for one in legs:
        await fake(one).hang_up()
    await call.end_streams()
    await call.finish()


async def test_caller_and_bridged_agent_stream_live_on_one_timeline_and_the_call_is_marked_done(
    client: LiveTranscription, pg: asyncpg.Pool, db: str, speech: Path
) -> None:
    call_id = await new_call(pg)
    listener = await asyncpg.connect(db)
    transcribed: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("transcribed", lambda _c, _p, _ch, payload: transcribed.put_nowait(payload))
    try:
        caller = leg(pcm_of(speech))
        call = client.call(cast(UUID, call_id), caller)
        assert call is not None
        await call.start_caller()
        await asyncio.sleep(1.0)
        agent = leg(pcm_of(speech))  # the same words, bridged a second later
        await call.add_agent(agent)
        await asyncio.sleep(3.0)
        await hang_up_all(call, caller, agent)
        assert await asyncio.wait_for(transcribed.get(), 5) == str(call_id)
    finally:
        await listener.close()

    state = await state_of(pg, call_id)
    assert state is not None and state["live_failed"] is None and state["live_done_at"] is not None
    rows = await pg.fetch("SELECT channel, start_ms, source FROM transcripts WHERE call_id = $1", call_id)
    assert {r["source"] for r in rows} == {"live"}
    first = {ch: min(r["start_ms"] for r in rows if r["channel"] == ch) for ch in ("caller", "agent")}
    bridged_ms = (fake(agent).tapped_at - fake(caller).tapped_at) * 1000  # type: ignore[operator]
    assert 950 <= bridged_ms <= 1200
    assert abs(first["agent"] - (first["caller"] + bridged_ms)) <= 100, (first, bridged_ms)
    assert await backlog.pending(pg) == []  # complete: nothing left for the post-call backlog


async def test_unreachable_service_sends_the_call_to_the_backlog_which_transcribes_the_recording(
    pg: asyncpg.Pool, models: ModelPool, speech: Path, tmp_path: Path
) -> None:
    live = LiveTranscription(settings_for(free_port()), pg)  # nothing listens there
    await live.start()
    try:
        call_id = await new_call(pg)
        caller = leg(pcm_of(speech))
        call = live.call(cast(UUID, call_id), caller)
        assert call is not None
        started = time.monotonic()
        await call.start_caller()
        assert time.monotonic() - started < 0.5  # the call does not wait for the service
        await asyncio.sleep(0.5)
        assert fake(caller).consumer is None  # the failed stream let go of the leg's audio
        await hang_up_all(call, caller)
    finally:
        await live.stop()
    state = await state_of(pg, call_id)
    assert state is not None and state["live_done_at"] is None
    assert state["live_failed"].startswith("caller stream: transcription service at ws://127.0.0.1:")

    wav = stereo(speech, silence(tmp_path / "quiet.wav", 1.0), tmp_path / "call.wav")
    await pg.execute(
        "INSERT INTO recordings (call_id, path, channels, sample_rate, started_at, ended_at)"
        " VALUES ($1, $2, 2, 8000, now() - interval '5 s', now())",
        call_id,
        str(wav),
    )
    assert [i.call_id for i in await backlog.run_once(pg, models)] == [call_id]
    rows = await pg.fetch("SELECT channel, source FROM transcripts WHERE call_id = $1", call_id)
    assert rows and {(r["channel"], r["source"]) for r in rows} == {("caller", "batch")}


@pytest.mark.parametrize("live_limit", [1])
async def test_agent_stream_refused_at_capacity_sends_the_call_to_the_backlog(
    client: LiveTranscription, pg: asyncpg.Pool, speech: Path
) -> None:
    call_id = await new_call(pg)
    caller, agent = leg(pcm_of(speech)), leg(pcm_of(speech))
    call = client.call(cast(UUID, call_id), caller)
    assert call is not None
    await call.start_caller()
    await asyncio.sleep(0.5)
    await call.add_agent(agent)
    await asyncio.sleep(2.5)
    await hang_up_all(call, caller, agent)
    state = await state_of(pg, call_id)
    assert state is not None and state["live_done_at"] is None
    assert "agent stream" in state["live_failed"] and "capacity" in state["live_failed"]
    assert await backlog.pending(pg) == []  # no recording in this test; with one, the backlog takes the call


async def test_service_failing_mid_stream_sends_the_call_to_the_backlog(pg: asyncpg.Pool, speech: Path) -> None:
    """A server that takes the config and some audio, then closes without a final result (and, unlike the real
    service, marks nothing itself)."""

    async def flaky(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        config = json.loads((await ws.receive()).data)["config"]
        assert (config["sample_rate"], config["channel"], config["offset_ms"]) == (8000, "caller", 0)
        for _ in range(3):
            assert (await ws.receive()).type == WSMsgType.BINARY
        await ws.close(code=1011)
        return ws

    app = web.Application()
    app.router.add_get("/asr", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    live = LiveTranscription(settings_for(port), pg)
    await live.start()
    try:
        call_id = await new_call(pg)
        caller = leg(pcm_of(speech))
        call = live.call(cast(UUID, call_id), caller)
        assert call is not None
        await call.start_caller()
        await asyncio.sleep(1.0)
        await hang_up_all(call, caller)
    finally:
        await live.stop()
        await runner.cleanup()
    state = await state_of(pg, call_id)
    assert state is not None and state["live_done_at"] is None
    assert state["live_failed"] == "caller stream: the service closed the stream (code 1011)"


async def test_live_transcription_switched_off_streams_nothing(pg: asyncpg.Pool) -> None:
    live = LiveTranscription(settings_for(free_port(), live=False), pg)
    await live.start()
    assert live.call(cast(UUID, await new_call(pg)), leg(b"")) is None
    await live.stop()

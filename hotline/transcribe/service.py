"""The transcription service: live streams under a limit, segments from Vosk results, storage of segments,
risk flags raised on callers' words."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prometheus_client import Gauge

from db import calls
from db import transcription as state
from hotline.clock import SYSTEM, Clock
from hotline.errors import HotlineError
from hotline.transcribe.events import EventBus, Final, Partial, Risk
from hotline.transcribe.models import ModelPool
from hotline.transcribe.risk import RiskDetector, RiskHit

log = logging.getLogger(__name__)

CHANNELS = ("caller", "agent")
MIN_RATE, MAX_RATE = 8000, 48000
MAX_OFFSET_MS = 24 * 3600 * 1000

LIVE_STREAMS = Gauge(
    "hotline_transcribe_live_streams", "Live transcription streams open now", multiprocess_mode="livesum"
)


class CapacityExceeded(HotlineError):
    pass


class BadStreamConfig(HotlineError):
    pass


@dataclass(frozen=True)
class Word:
    word: str
    start_ms: int
    end_ms: int
    conf: float


@dataclass(frozen=True)
class Segment:
    channel: str
    start_ms: int
    end_ms: int
    text: str
    confidence: float
    words: list[Word]

    def words_json(self) -> str:
        return json.dumps(
            [{"word": w.word, "start_ms": w.start_ms, "end_ms": w.end_ms, "conf": w.conf} for w in self.words],
            ensure_ascii=False,
        )


def segment_from_result(channel: str, result: dict[str, Any], offset_ms: int = 0) -> Segment | None:
    """A Vosk final result as a segment; None when it holds no words."""
    raw = result.get("result") or []
    words = [
        Word(
            str(w["word"]),
            offset_ms + round(float(w["start"]) * 1000),
            offset_ms + round(float(w["end"]) * 1000),
            min(1.0, max(0.0, float(w.get("conf", 1.0)))),
        )
        for w in raw
    ]
    if not words:
        return None
    text = str(result.get("text") or " ".join(w.word for w in words))
    return Segment(
        channel=channel,
        start_ms=words[0].start_ms,
        end_ms=max(words[-1].end_ms, words[0].start_ms),
        text=text,
        confidence=sum(w.conf for w in words) / len(words),
        words=words,
    )


async def store_segment(conn: Any, call_id: UUID, seg: Segment, source: str, recording_id: int | None = None) -> None:
    await state.add_segment(
        conn,
        call_id,
        channel=seg.channel,
        start_ms=seg.start_ms,
        end_ms=seg.end_ms,
        text=seg.text,
        confidence=seg.confidence,
        words=seg.words_json(),
        source=source,
        recording_id=recording_id,
    )


async def mark_live_failed(conn: Any, call_id: UUID, reason: str) -> None:
    """Send the call's recording to the post-call backlog."""
    await state.mark_live_failed(conn, call_id, reason)


@dataclass(frozen=True)
class StreamConfig:
    sample_rate: int
    call_id: UUID | None
    channel: str
    offset_ms: int = 0  # where the stream starts on the call's timeline; stored times are shifted by it

    @classmethod
    def parse(cls, message: Any) -> StreamConfig:
        """Validate the first client message, ``{"config": {"sample_rate": 8000, "call_id": ..., "channel": ...,
        "offset_ms": 0}}``."""
        if not isinstance(message, dict) or not isinstance(message.get("config"), dict):
            raise BadStreamConfig(
                'the first message must be JSON {"config": {"sample_rate": 8000, "call_id": "<uuid>", '
                f'"channel": "caller"}}, got {str(message)[:200]!r}'
            )
        cfg: dict[str, Any] = message["config"]
        rate = cfg.get("sample_rate")
        if isinstance(rate, float) and rate.is_integer():
            rate = int(rate)
        if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= MAX_RATE:
            raise BadStreamConfig(
                f"config.sample_rate {rate!r} is not supported: expected an integer from {MIN_RATE} to {MAX_RATE}"
            )
        raw_call = cfg.get("call_id")
        call_id: UUID | None = None
        if raw_call is not None:
            try:
                call_id = UUID(str(raw_call))
            except ValueError:
                raise BadStreamConfig(f"config.call_id {raw_call!r} is not a UUID") from None
        channel = cfg.get("channel", "caller")
        if channel not in CHANNELS:
            raise BadStreamConfig(f"config.channel {channel!r} is not one of {', '.join(CHANNELS)}")
        offset = cfg.get("offset_ms", 0)
        if isinstance(offset, float) and offset.is_integer():
            offset = int(offset)
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET_MS:
            raise BadStreamConfig(
                f"config.offset_ms {offset!r} is not supported: expected an integer from 0 to {MAX_OFFSET_MS} "
                "(milliseconds from the start of the call to the start of this stream)"
            )
        return cls(rate, call_id, str(channel), offset)


@dataclass
class Transcriber:
    """Live streams over the model pool, at most ``live_limit`` at once; owned by one event loop."""

    models: ModelPool
    live_limit: int
    pool: Any = None  # asyncpg pool; None runs without storage
    events: EventBus = field(default_factory=EventBus)
    risk: RiskDetector | None = None  # None: no risk flags
    live: int = 0
    streams: dict[str, LiveStream] = field(default_factory=dict)
    clock: Clock = SYSTEM

    def busy_calls(self) -> set[UUID]:
        """Calls with a live stream open now (the backlog leaves them alone)."""
        return {s.cfg.call_id for s in self.streams.values() if s.cfg.call_id is not None}

    async def open_stream(self, cfg: StreamConfig) -> LiveStream:
        if self.live >= self.live_limit:
            reason = f"live transcription is at capacity ({self.live_limit} streams)"
            if cfg.call_id is not None and self.pool is not None:
                await mark_live_failed(self.pool, cfg.call_id, "refused: " + reason)
            raise CapacityExceeded(reason + "; the call will be transcribed from its recording after hang-up")
        if cfg.call_id is not None and self.pool is not None:
            if not await calls.exists(self.pool, cfg.call_id):
                raise BadStreamConfig(f"config.call_id {cfg.call_id} is not a known call")
        self.live += 1
        LIVE_STREAMS.inc()
        stream = LiveStream(self, cfg, uuid.uuid4().hex)
        self.streams[stream.id] = stream
        try:
            await self.models.open(stream.id, cfg.sample_rate)
        except BaseException:
            self._closed(stream)
            raise
        return stream

    def _closed(self, stream: LiveStream) -> None:
        self.live -= 1
        LIVE_STREAMS.dec()
        self.streams.pop(stream.id, None)
        if self.risk is not None:
            self.risk.close(stream.id)

    async def _report_risk(self, stream: LiveStream, hit: RiskHit) -> None:
        """Publish the flag, store it with a NOTIFY on ``hotline_risk``, log it: call id and rule, nothing said."""
        cfg = stream.cfg
        event = Risk(cfg.call_id, cfg.channel, self.clock.now(), hit.flag, hit.rule, stream.call_ms)
        self.events.publish(event)
        log.warning("risk: call %s flagged %s by rule %r", cfg.call_id, hit.flag, hit.rule)
        if cfg.call_id is None or self.pool is None:
            return
        try:
            await state.add_risk_flag(self.pool, cfg.call_id, hit.flag, hit.rule, hit.score, event.to_json())
        except Exception:
            log.exception("risk: call %s: the %s flag was not stored", cfg.call_id, hit.flag)


@dataclass
class LiveStream:
    """One call leg; feed PCM, get Vosk results back; segments are stored and events published on the way."""

    owner: Transcriber
    cfg: StreamConfig
    id: str
    closed: bool = False
    samples: int = 0  # fed so far
    _odd: bytes = b""

    @property
    def call_ms(self) -> int:
        """The end of the audio fed so far, on the call's timeline."""
        return self.cfg.offset_ms + self.samples * 1000 // self.cfg.sample_rate

    async def feed(self, pcm: bytes) -> list[dict[str, Any]]:
        pcm = self._odd + pcm
        cut = len(pcm) - len(pcm) % 2
        pcm, self._odd = pcm[:cut], pcm[cut:]
        self.samples += len(pcm) // 2
        results = await self.owner.models.feed(self.id, pcm)
        for r in results:
            await self._handle(r)
        return results

    async def finish(self) -> dict[str, Any]:
        self.closed = True
        try:
            result = await self.owner.models.close(self.id)
            await self._handle(result)
        finally:
            self.owner._closed(self)
        return result

    async def fail(self, reason: str) -> None:
        """Abandon the stream; its call goes to the backlog."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.owner.models.drop(self.id)
        finally:
            self.owner._closed(self)
        if self.cfg.call_id is not None and self.owner.pool is not None:
            await mark_live_failed(self.owner.pool, self.cfg.call_id, f"{self.cfg.channel} stream failed: {reason}")

    async def _handle(self, result: dict[str, Any]) -> None:
        bus = self.owner.events
        if "partial" in result:
            if result["partial"]:
                bus.publish(Partial(self.cfg.call_id, self.cfg.channel, self.id, str(result["partial"])))
                await self._check_risk(str(result["partial"]), final=False)
            return
        seg = segment_from_result(self.cfg.channel, result, self.cfg.offset_ms)
        if seg is None:
            return
        bus.publish(Final(self.cfg.call_id, seg.channel, self.id, seg.start_ms, seg.end_ms, seg.text))
        await self._check_risk(seg.text, final=True)
        if self.cfg.call_id is not None and self.owner.pool is not None:
            await store_segment(self.owner.pool, self.cfg.call_id, seg, "live")

    async def _check_risk(self, text: str, final: bool) -> None:
        risk = self.owner.risk
        if risk is None or self.cfg.channel != "caller":
            return
        try:
            hit = risk.check(self.cfg.call_id or self.id, self.id, text, final)
        except Exception:  # a tagger bug must not cost the call its live transcript
            log.exception("risk: tagging failed on call %s", self.cfg.call_id)
            return
        if hit is not None:
            await self.owner._report_risk(self, hit)

"""Vosk models in worker processes: each worker loads the model once and owns the recognizers of its streams.

Each worker is a ``ProcessPoolExecutor`` with a single process, so a stream's recognizer (which lives in that
process's memory) is always reached through the same executor. Only this module imports vosk, and only inside
the workers.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from hotline.errors import HotlineError
from hotline.metrics import safe
from hotline.transcribe.audio import Resampler, split_stereo

# ~0.25 s of 16 kHz audio per decoder call: small enough for lively partials, large enough to keep overhead low.
CHUNK_BYTES = 8000


class ModelError(HotlineError):
    pass


class WorkerError(HotlineError):
    pass


def check_model_path(path: Path) -> int:
    """Raise ModelError naming ``path`` unless it looks like a readable Vosk model; return the model's rate."""
    if not path.exists():
        raise ModelError(f"Vosk model path {path} does not exist (set transcribe.model_path to an unpacked model)")
    if not path.is_dir():
        raise ModelError(f"Vosk model path {path} is not a directory (expected an unpacked Vosk model)")
    for part in ("am/final.mdl", "conf/mfcc.conf"):
        f = path / part
        if not f.is_file() or not os.access(f, os.R_OK):
            raise ModelError(f"Vosk model path {path} has no readable {part}: not an unpacked Vosk model")
    return model_sample_rate(path)


def model_sample_rate(path: Path) -> int:
    for line in (path / "conf/mfcc.conf").read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition("=")
        if key == "--sample-frequency":
            return int(float(value))
    return 16000  # Kaldi's default, used by every Vosk model that does not say otherwise


# --- inside a worker process -------------------------------------------------------------------------------
#
# A new recognizer fills its decoding-graph cache (Vosk composes HCLr and Gr on the fly) during its first
# seconds of audio: about a second of CPU with the Korean model, during which a live stream falls behind. A
# recognizer that has decoded before is about ten times faster. So each worker keeps its recognizers for the
# next stream or recording, and starts with one warmed on a second of silence. After FinalResult a recognizer
# starts afresh (new feature pipeline and speaker adaptation) except that Vosk's word times run on from the
# audio it decoded before; those are shifted back here.

AUDIO_SECONDS = Counter("hotline_transcribe_audio_seconds_total", "Audio fed to the recognisers, seconds")
PROCESSING_SECONDS = Counter(
    "hotline_transcribe_processing_seconds_total", "Time the recognisers took (real-time factor: this / audio)"
)

MAX_IDLE = 4  # recognizers kept per worker between streams
MAX_USES = 200  # then a recognizer is dropped, so its graph cache does not grow without end

_model: Any = None
_model_rate = 16000


@dataclass
class _Recognizer:
    rec: Any
    base: int = 0  # samples (at the model's rate) decoded before the current stream: Vosk's time origin
    fed: int = 0  # samples of the current stream
    uses: int = 0

    def accept(self, data: bytes) -> bool:
        self.fed += len(data) // 2
        started = time.perf_counter()
        done = bool(self.rec.AcceptWaveform(data))
        spent = time.perf_counter() - started
        safe("hotline_transcribe_audio_seconds_total", lambda: AUDIO_SECONDS.inc(len(data) / 2 / _model_rate))
        safe("hotline_transcribe_processing_seconds_total", lambda: PROCESSING_SECONDS.inc(spent))
        return done

    def result(self, raw: str) -> dict[str, Any]:
        """A Vosk result with its word times from the start of the current stream."""
        result: dict[str, Any] = json.loads(raw)
        if self.base:
            shift = self.base / _model_rate
            for w in result.get("result") or ():
                w["start"] = round(float(w["start"]) - shift, 6)
                w["end"] = round(float(w["end"]) - shift, 6)
        return result


@dataclass
class _Stream:
    recognizer: _Recognizer
    resampler: Resampler = field(repr=False)


_idle: list[_Recognizer] = []
_streams: dict[str, _Stream] = {}


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: when the service process dies (killed, crashed), its workers exit too, rather than
    keep the model's memory and the service's output pipe, on whose end a supervisor waits to restart it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _load(path: str) -> int:
    global _model, _model_rate
    import vosk

    vosk.SetLogLevel(-1)
    try:
        _model = vosk.Model(path)
    except Exception as exc:
        raise ModelError(f"Vosk could not load the model at {path}: {exc}") from None
    _model_rate = model_sample_rate(Path(path))
    warm = _take()
    warm.accept(b"\0\0" * _model_rate)
    warm.rec.FinalResult()
    _give(warm)
    return os.getpid()


def _take() -> _Recognizer:
    if _idle:
        return _idle.pop()
    import vosk

    rec = vosk.KaldiRecognizer(_model, _model_rate)
    rec.SetWords(True)
    return _Recognizer(rec)


def _give(r: _Recognizer) -> None:
    """Keep a recognizer whose utterance is finalized for the next stream."""
    r.base += r.fed
    r.fed = 0
    r.uses += 1
    if r.uses < MAX_USES and len(_idle) < MAX_IDLE:
        _idle.append(r)


def _open(stream: str, rate: int) -> None:
    _streams[stream] = _Stream(_take(), Resampler(rate, _model_rate))


def _feed(stream: str, pcm: bytes) -> list[dict[str, Any]]:
    s = _streams[stream]
    r = s.recognizer
    data = s.resampler.feed(pcm)
    out: list[dict[str, Any]] = []
    for i in range(0, len(data), CHUNK_BYTES):
        if r.accept(data[i : i + CHUNK_BYTES]):
            out.append(r.result(r.rec.Result()))
    if not out:
        out.append(json.loads(r.rec.PartialResult()))
    return out


def _close(stream: str) -> dict[str, Any]:
    r = _streams.pop(stream).recognizer
    result = r.result(r.rec.FinalResult())
    _give(r)
    return result


def _drop(stream: str) -> None:
    s = _streams.pop(stream, None)
    if s is not None:
        s.recognizer.rec.FinalResult()
        _give(s.recognizer)


def _decode(data: bytes) -> list[dict[str, Any]]:
    r = _take()
    out: list[dict[str, Any]] = []
    for i in range(0, len(data), CHUNK_BYTES):
        if r.accept(data[i : i + CHUNK_BYTES]):
            out.append(r.result(r.rec.Result()))
    out.append(r.result(r.rec.FinalResult()))
    _give(r)
    return out


def _transcribe_wav(path: str) -> dict[str, list[dict[str, Any]]]:
    """Decode a 16-bit WAV: a stereo file gives {"caller": left, "agent": right}, a mono one {"caller": ...}."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() not in (1, 2):
            raise WorkerError(
                f"recording {path} is {w.getnchannels()} channels of {8 * w.getsampwidth()}-bit audio; "
                "expected 16-bit mono or stereo"
            )
        rate, channels, pcm = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    legs = dict(zip(("caller", "agent"), split_stereo(pcm), strict=True)) if channels == 2 else {"caller": pcm}
    return {leg: _decode(Resampler(rate, _model_rate).feed(data)) for leg, data in legs.items()}


# --- in the service process --------------------------------------------------------------------------------


@dataclass
class _Worker:
    executor: ProcessPoolExecutor
    streams: int = 0


class ModelPool:
    """Worker processes that each hold the model; streams are spread to the least busy worker.

    Owned by the service's event loop; call its methods from that loop only.
    """

    def __init__(self, model_path: Path, workers: int) -> None:
        self.model_path = model_path
        self.model_rate = check_model_path(model_path)
        ctx = multiprocessing.get_context("spawn")
        self._workers = [
            _Worker(
                ProcessPoolExecutor(
                    max_workers=1, mp_context=ctx, initializer=_exit_with_parent, initargs=(os.getpid(),)
                )
            )
            for _ in range(max(1, workers))
        ]
        self._assigned: dict[str, _Worker] = {}

    async def start(self) -> None:
        """Load the model in every worker; raise ModelError naming the path if it cannot be loaded."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(
                *(loop.run_in_executor(w.executor, _load, str(self.model_path)) for w in self._workers)
            )
        except BaseException:
            self.shutdown()
            raise

    def shutdown(self) -> None:
        for w in self._workers:
            w.executor.shutdown(wait=True, cancel_futures=True)

    def _least_busy(self) -> _Worker:
        return min(self._workers, key=lambda w: w.streams)

    async def open(self, stream: str, rate: int) -> None:
        worker = self._least_busy()
        worker.streams += 1
        self._assigned[stream] = worker
        try:
            await asyncio.get_running_loop().run_in_executor(worker.executor, _open, stream, rate)
        except BaseException:
            self._release(stream)
            raise

    async def feed(self, stream: str, pcm: bytes) -> list[dict[str, Any]]:
        worker = self._assigned[stream]
        return await asyncio.get_running_loop().run_in_executor(worker.executor, _feed, stream, pcm)

    async def close(self, stream: str) -> dict[str, Any]:
        worker = self._assigned[stream]
        try:
            return await asyncio.get_running_loop().run_in_executor(worker.executor, _close, stream)
        finally:
            self._release(stream)

    async def drop(self, stream: str) -> None:
        worker = self._assigned.get(stream)
        if worker is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(worker.executor, _drop, stream)
        except Exception:
            pass
        finally:
            self._release(stream)

    def _release(self, stream: str) -> None:
        worker = self._assigned.pop(stream, None)
        if worker is not None:
            worker.streams -= 1

    async def transcribe_wav(self, path: Path) -> dict[str, list[dict[str, Any]]]:
        worker = self._least_busy()
        worker.streams += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(worker.executor, _transcribe_wav, str(path))
        finally:
            worker.streams -= 1

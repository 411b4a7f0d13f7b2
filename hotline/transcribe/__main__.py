"""Run the transcription service: ``python -m hotline.transcribe --model-path DIR`` (see README.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from db.pool import create_pool
from hotline.analysis import AnalysisWorker
from hotline.clock import from_environment
from hotline.config import Settings, TranscribeSettings, load_settings
from hotline.errors import ConfigError, HotlineError
from hotline.tag import load_taxonomy
from hotline.transcribe import backlog
from hotline.transcribe.http import make_app
from hotline.transcribe.models import ModelPool
from hotline.transcribe.risk import RiskDetector
from hotline.transcribe.service import Transcriber

log = logging.getLogger("hotline.transcribe")


_FLAGS = ("model_path", "live_streams", "workers", "host", "port", "backlog_interval", "taxonomy")


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, Settings, TranscribeSettings]:
    """Settings as everywhere (defaults, --config, HOTLINE_* variables, --set), then these flags on top."""
    p = argparse.ArgumentParser(prog="python -m hotline.transcribe", description=__doc__)
    p.add_argument("--config", type=Path, help="hotline YAML config (database and transcribe settings)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    p.add_argument("--model-path", type=Path, help="unpacked Vosk model directory (transcribe.model_path)")
    p.add_argument("--live-streams", type=int, help="most live streams at once (transcribe.live_streams)")
    p.add_argument("--workers", type=int, help="decoder processes, each loads the model (transcribe.workers)")
    p.add_argument("--host", help="listen address (transcribe.host)")
    p.add_argument("--port", type=int, help="listen port (transcribe.port)")
    p.add_argument("--backlog-interval", type=float, help="seconds between backlog runs (transcribe.backlog_interval)")
    p.add_argument("--taxonomy", type=Path, help="tagger taxonomy for risk flags (transcribe.taxonomy)")
    a = p.parse_args(argv)
    overrides: dict[str, str] = {}
    for item in a.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set transcribe.port=2701")
        overrides[key.strip()] = value
    settings = load_settings(a.config, overrides=overrides)
    flags = {name: getattr(a, name) for name in _FLAGS if getattr(a, name) is not None}
    try:
        ts = TranscribeSettings.model_validate({**settings.transcribe.model_dump(), **flags})
    except ValueError as exc:
        raise ConfigError(f"invalid transcription flags: {exc}") from None
    return a, settings, ts


async def _backlog_loop(transcriber: Transcriber, interval: float) -> None:
    while True:
        try:
            await backlog.run_once(transcriber.pool, transcriber.models, busy=transcriber.busy_calls())
        except Exception:
            log.exception("backlog run failed; retrying in %g s", interval)
        await transcriber.clock.sleep(interval)


async def _serve(settings: Settings, ts: TranscribeSettings) -> None:
    clock = from_environment()
    risk = RiskDetector(load_taxonomy(ts.taxonomy))
    models = ModelPool(ts.model_path, ts.workers)
    async with contextlib.AsyncExitStack() as stack:
        await models.start()
        stack.callback(models.shutdown)
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        await asyncio.to_thread(risk.warm_up)
        transcriber = Transcriber(models, ts.live_streams, pool, risk=risk, clock=clock)
        runner = web.AppRunner(make_app(transcriber))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        try:
            await web.TCPSite(runner, ts.host, ts.port).start()
        except OSError as exc:
            raise HotlineError(f"cannot listen on {ts.host}:{ts.port}: {exc.strerror} (set transcribe.port)") from None
        task = asyncio.create_task(_backlog_loop(transcriber, ts.backlog_interval))
        analysis = asyncio.create_task(AnalysisWorker.from_settings(pool, settings).run())

        async def _stop() -> None:
            for t in (task, analysis):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

        stack.push_async_callback(_stop)
        log.info("transcribing on ws://%s:%d/asr with %s", ts.host, ts.port, ts.model_path)
        stop = asyncio.Event()  # SIGTERM (from `hotline up`) or SIGINT: close streams and workers, exit 0
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO)
    try:
        _args, settings, ts = _parse(argv)
        asyncio.run(_serve(settings, ts))
    except HotlineError as exc:
        print(f"hotline transcribe: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the transcription service: ``python -m hotline.transcribe --model-path DIR`` (see README.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from aiohttp import web

from db.pool import create_pool
from hotline.config import TranscribeSettings, load_settings
from hotline.errors import HotlineError
from hotline.transcribe import backlog
from hotline.transcribe.http import make_app
from hotline.transcribe.models import ModelPool
from hotline.transcribe.service import Transcriber

log = logging.getLogger("hotline.transcribe")


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, TranscribeSettings]:
    d = TranscribeSettings()
    p = argparse.ArgumentParser(prog="python -m hotline.transcribe", description=__doc__)
    p.add_argument("--config", type=Path, help="hotline YAML config (database settings)")
    p.add_argument("--model-path", type=Path, default=d.model_path, help="unpacked Vosk model directory")
    p.add_argument("--live-streams", type=int, default=d.live_streams, help="most live streams at once")
    p.add_argument("--workers", type=int, default=d.workers, help="decoder processes, each loads the model")
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--backlog-interval", type=float, default=d.backlog_interval, help="seconds between runs")
    a = p.parse_args(argv)
    s = TranscribeSettings(
        model_path=a.model_path,
        live_streams=a.live_streams,
        workers=a.workers,
        host=a.host,
        port=a.port,
        backlog_interval=a.backlog_interval,
    )
    return a, s


async def _backlog_loop(transcriber: Transcriber, interval: float) -> None:
    while True:
        try:
            await backlog.run_once(transcriber.pool, transcriber.models)
        except Exception:
            log.exception("backlog run failed; retrying in %g s", interval)
        await asyncio.sleep(interval)


async def _serve(args: argparse.Namespace, ts: TranscribeSettings) -> None:
    settings = load_settings(args.config)
    models = ModelPool(ts.model_path, ts.workers)
    async with contextlib.AsyncExitStack() as stack:
        await models.start()
        stack.callback(models.shutdown)
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        transcriber = Transcriber(models, ts.live_streams, pool)
        runner = web.AppRunner(make_app(transcriber))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, ts.host, ts.port).start()
        task = asyncio.create_task(_backlog_loop(transcriber, ts.backlog_interval))

        async def _stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(_stop)
        log.info("transcribing on ws://%s:%d/asr with %s", ts.host, ts.port, ts.model_path)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO)
    args, ts = _parse(argv)
    try:
        asyncio.run(_serve(args, ts))
    except HotlineError as exc:
        print(f"hotline transcribe: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m hotline.cell --name cell1 --index 1`: one production cell, started by `hotline up`.

Reads the same configuration as every process (--config, HOTLINE_* variables, --set), connects to
PostgreSQL, and serves calls on sip.cell_base_port + index - 1 with RTP ports from its own block.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import asyncpg

from db import migrate, queues
from db.pool import create_pool
from hotline.caller.privacy import load_keys
from hotline.cell.callback import CallbackDialer
from hotline.cell.flowapp import FlowApp, OutagePlan, prompt_names
from hotline.cell.journal import DurableWriter, Journal
from hotline.cell.metrics import watch_legs
from hotline.cell.queueing import QueueWait
from hotline.cell.records import RecordedCalls
from hotline.cell.transcription import LiveTranscription
from hotline.clock import Clock, from_environment
from hotline.config import Settings, load_settings
from hotline.errors import HotlineError
from hotline.flow import FlowRegistry
from hotline.logs import setup_logging
from hotline.sip.cell import Cell, CellError
from hotline.sip.engine import EngineConfig, SipError

log = logging.getLogger(__name__)
RTP_PORTS_PER_CELL = 100


def cell_port(settings: Settings, index: int) -> int:
    return settings.sip.cell_base_port + index - 1


async def run(settings: Settings, name: str, index: int, clock: Clock) -> int:
    keys = load_keys(settings)
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate.require_current(conn)
            known_queues = await queues.names(conn)
        flows = FlowRegistry(
            prompt_dir=settings.prompts.source_dir,
            schedule_dir=settings.flows.dir / "schedules",
            known_queues=known_queues,
        )
        flows.load(settings.flows.files)
        flows.get(settings.flows.service_flow)  # refuse to start without the flow that answers 12348
        front = f"{settings.sip.listen_host}:{settings.sip.listen_port}"
        queue_wait = QueueWait(pool, name, front=front, clock=clock)
        await queue_wait.start()
        stack.push_async_callback(queue_wait.stop)
        app = FlowApp(
            flows,
            settings.flows.service_flow,
            keys,
            settings.ticket_prefix,
            settings.timezone,
            prompt_names(settings.prompts.sources),
            queue_wait,
            front,
            clock=clock,
            outage=OutagePlan(settings.sip.outage_fallback_number, settings.sip.outage_voicemail_s),
        )
        live = LiveTranscription(settings.transcribe, pool, clock=clock)
        await live.start()
        stack.push_async_callback(live.stop)
        writer = DurableWriter(
            pool,
            Journal(settings.journal_dir, name, int(settings.journal.max_mb * 1024 * 1024)),
            process=name,
            timeout_s=settings.journal.write_timeout_s,
            retry_s=settings.journal.retry_s,
        )
        await writer.start()
        stack.push_async_callback(writer.stop)
        handler = RecordedCalls(pool, keys, name, app, prompts=app.prompts, live=live, writer=writer)
        config = EngineConfig(
            name=name,
            host=settings.sip.cell_host,
            port=cell_port(settings, index),
            rtp_port=settings.sip.rtp_port_base + (index - 1) * RTP_PORTS_PER_CELL,
            rtp_port_range=RTP_PORTS_PER_CELL,
            pj_log_level=settings.sip.pj_log_level,
        )
        cell = Cell(
            config,
            handler,
            settings.prompts.built,
            Path(settings.sip.recordings_dir),
            drain_timeout=settings.sip.drain_timeout,
            clock=clock,
        )
        await cell.start()
        callbacks = CallbackDialer(
            pool,
            keys,
            name,
            cell.engine,
            cell.context,
            front,
            queue_wait,
            live,
            settings.sip.service_number,
            clock=clock,
        )
        await callbacks.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def reload() -> None:
            report = flows.reload(settings.flows.files)
            log.info("flows reloaded: %s", report.summary())

        loop.add_signal_handler(signal.SIGHUP, reload)
        legs_stop = asyncio.Event()
        legs = asyncio.create_task(
            watch_legs(name, lambda: cell.engine.legs_in_use, cell.engine.max_legs, legs_stop), name="legs"
        )
        await stop.wait()
        await callbacks.stop(settings.sip.drain_timeout)
        await cell.stop()
        legs_stop.set()
        await legs
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hotline.cell", description="Run one engine cell.")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", required=True)
    parser.add_argument("--index", type=int, required=True, help="1-based cell number: picks ports")
    args = parser.parse_args(argv)
    try:
        overrides = dict(item.split("=", 1) for item in args.set)
        settings = load_settings(args.config, overrides=overrides)
        setup_logging(settings.log_level)
        return asyncio.run(run(settings, args.name, args.index, from_environment()))
    except (HotlineError, CellError, SipError, asyncpg.PostgresError) as exc:
        print(f"cell {args.name}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

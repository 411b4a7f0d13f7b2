"""The supervisor: checks the schema, serves /healthz, runs children, stops them in order on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from agents import app as agents_app
from agents.registrar import FrontRegistrar
from db import migrate, queues
from db.pool import create_pool
from hotline.acd.dispatcher import Dispatcher
from hotline.caller.privacy import load_keys
from hotline.caller.regions import region_of
from hotline.cell.journal import journals_status
from hotline.clock import Clock, from_environment
from hotline.config import Settings
from hotline.errors import HotlineError
from hotline.supervisor import http, metrics
from hotline.supervisor.cells import CellChild, cells_needed
from hotline.supervisor.front import FrontChild
from hotline.supervisor.http import HEALTH_SOURCES
from hotline.supervisor.prometheus import PrometheusChild
from hotline.supervisor.transcriber import TranscriberChild, model_problem, off_health
from hotline.telemetry.state import Sources

log = logging.getLogger(__name__)


def make_app(settings: Settings, pool: Any, clock: Clock, registrar: Any = None) -> web.Application:
    """The supervisor's web app over ``pool``: /healthz, /metrics, and the console and API (agents.app)."""
    app = agents_app.create_root(pool, settings, clock, registrar)
    http.setup_health(app, clock)
    app.add_routes(http.routes())
    return app


async def _serve_http(
    stack: contextlib.AsyncExitStack, settings: Settings, pool: Any, clock: Clock, registrar: Any
) -> web.AppRunner:
    app = make_app(settings, pool, clock, registrar)
    return await http.listen(
        stack, app, settings.http.host, settings.http.port, "http", "set http.port or HOTLINE_HTTP_PORT"
    )


async def _start_engine(
    stack: contextlib.AsyncExitStack, settings: Settings, pool: Any, config_args: Sequence[str]
) -> tuple[list[CellChild], FrontChild, list[Any]]:
    """Start the cells (the first one tells how many calls a cell holds), then the front.

    Stop order, registered on the stack: the cells drain first while the front still relays their BYEs,
    then the front stops."""
    check_prompts(settings)
    flows = await check_flows(settings, pool)
    await asyncio.to_thread(region_of, "13900000000")  # build the number-range index once, not in every cell
    first = CellChild(settings, 1, config_args, pool)
    cells = [first]
    front: FrontChild | None = None

    async def stop_all() -> None:
        await asyncio.gather(*(c.stop() for c in cells), return_exceptions=True)
        if front is not None:
            await front.stop()

    stack.push_async_callback(stop_all)
    await first.start()
    count = cells_needed(settings, first.max_calls or 1)
    cells.extend(CellChild(settings, i, config_args, pool) for i in range(2, count + 1))
    await asyncio.gather(*(c.start() for c in cells[1:]))
    front = FrontChild(settings, [(c.host, c.port) for c in cells])
    await front.start()
    for cell in cells:  # a cell that dies from now on has its callers released by the front (BYE)
        cell.release = front.process.end_dialogs
    log.info(
        "engine: %d cell(s) of %s call(s), front on udp:%s:%d for %s",
        len(cells),
        first.max_calls,
        settings.sip.listen_host,
        settings.sip.listen_port,
        settings.sip.service_number,
    )
    return cells, front, flows


def _start_transcriber(
    stack: contextlib.AsyncExitStack, settings: Settings, config_args: Sequence[str]
) -> Callable[[], dict[str, Any]]:
    """Start the transcription service if its model is there; it stops after the cells, which stream to it.
    Returns its health source."""
    problem = model_problem(settings)
    if problem is not None:
        log.warning(
            "transcription is off: %s. Calls keep their recordings and are transcribed after hang-up once a "
            "transcription service runs (`hotline transcribe`)",
            problem,
        )
        return lambda: off_health(problem)
    transcriber = TranscriberChild(settings, config_args)
    stack.push_async_callback(transcriber.stop)
    transcriber.start()
    return transcriber.health


async def _front_answers(settings: Settings) -> dict[str, Any]:
    """The front answers a SIP OPTIONS on its listening address (readiness)."""
    from hotline.front.probe import sip_options

    code = await sip_options(settings.sip.listen_host, settings.sip.listen_port, wait=1.0)
    return {"ok": code is not None, "status": code}


async def _dispatch_set(front: FrontChild) -> dict[str, Any]:
    """At least one cell is in the front's dispatch set, reachable by its probing (readiness)."""
    targets = await front_targets(front)
    return {"ok": targets["up"] >= 1, **targets}


async def front_targets(front: FrontChild) -> dict[str, int]:
    """Kamailio's dispatcher destinations by state (a cell it does not probe as reachable is down)."""
    status = await front.process.dispatcher_status()
    up = sum(1 for cell in status if cell.active)
    return {"up": up, "down": len(status) - up}


async def _flows_for_metrics(settings: Settings, pool: Any) -> list[Any]:
    """Without the engine the flows only name the metrics' labels (schedules, survey answers)."""
    try:
        return await check_flows(settings, pool)
    except HotlineError as exc:
        log.warning("metrics: flows not loaded (%s); schedules and survey answers have no labels", exc)
        return []


async def check_flows(settings: Settings, pool: Any) -> list[Any]:
    """Refuse to start on a flow with problems (the message names file, line, node and field); the flows."""
    from hotline.flow import FlowRegistry

    async with pool.acquire() as conn:
        known = await queues.names(conn)
    flows = FlowRegistry(
        prompt_dir=settings.prompts.source_dir, schedule_dir=settings.flows.dir / "schedules", known_queues=known
    )
    flows.load(settings.flows.files)
    flows.get(settings.flows.service_flow)
    return list(flows.snapshot().values())


def check_prompts(settings: Settings) -> None:
    """Every prompt of the locale must be built (8 kHz WAV) before a cell may start."""
    from hotline.cell.flowapp import prompt_names
    from hotline.prompts import PromptError, check_wav

    try:
        for name in prompt_names(settings.prompts.sources):
            check_wav(settings.prompts.built / f"{name}.wav")
    except PromptError as exc:
        raise PromptError(f"{exc}; run `hotline prompts build`") from None


def _start_job(
    stack: contextlib.AsyncExitStack, name: str, run: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> None:
    """A background job of `hotline up` (the monthly report, retention): started now, told to stop and awaited
    when the stack unwinds."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop), name=name)

    async def stop_job() -> None:
        stop.set()
        await task

    stack.push_async_callback(stop_job)


async def run(
    settings: Settings, stop: asyncio.Event | None = None, config_args: Sequence[str] = (), engine: bool = True
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
            stack.callback(loop.remove_signal_handler, sig)
        load_keys(settings)  # fail early on a bad or unreadable secret
        clock = from_environment()  # before the children start: they inherit its offset
        pool = await create_pool(settings)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await migrate.require_current(conn)
        registrar = FrontRegistrar()  # pointed at Kamailio once the front runs
        runner = await _serve_http(stack, settings, pool, clock, registrar)
        sources = Sources()
        if settings.metrics.enabled:
            metrics.fresh_files(settings)
            await metrics.serve(stack, settings)
        if settings.prometheus.enabled:
            embedded = PrometheusChild(settings)
            stack.push_async_callback(embedded.stop)
            await embedded.start()
            runner.app[HEALTH_SOURCES]["prometheus"] = embedded.health
        pid_file = Path(settings.state_dir) / "hotline.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{os.getpid()}\n")
        stack.callback(pid_file.unlink, missing_ok=True)
        if engine:
            transcriber_health = _start_transcriber(stack, settings, config_args)
            cells, front, flows = await _start_engine(stack, settings, pool, config_args)
            registrar.front = front.process

            dispatcher = Dispatcher(
                pool, f"{socket.gethostname()}-{os.getpid()}", timezone=settings.timezone, clock=clock
            )
            dispatcher_stop = asyncio.Event()
            dispatcher_task = asyncio.create_task(dispatcher.run(dispatcher_stop), name="acd-dispatcher")

            async def stop_dispatcher() -> None:
                dispatcher_stop.set()
                await dispatcher_task

            stack.push_async_callback(stop_dispatcher)
            runner.app[HEALTH_SOURCES]["dispatcher"] = lambda: {
                "ok": not dispatcher_task.done(),
                "leading": dispatcher.leading,
                "term": dispatcher.term,
                "offers": dispatcher.stats.offers,
            }

            def reload() -> None:
                log.info("SIGHUP: cells reload their flows")
                for cell in cells:
                    cell.child.send_signal(signal.SIGHUP)

            loop.add_signal_handler(signal.SIGHUP, reload)
            stack.callback(loop.remove_signal_handler, signal.SIGHUP)
            health_sources = runner.app[HEALTH_SOURCES]
            health_sources["front"] = front.health
            runner.app[http.HEALTH_CHECKS]["front_sip"] = lambda: _front_answers(settings)
            runner.app[http.HEALTH_CHECKS]["dispatch_set"] = lambda: _dispatch_set(front)
            health_sources["transcriber"] = transcriber_health
            health_sources["journal"] = lambda: journals_status(settings.journal_dir)
            for cell in cells:
                health_sources[cell.name] = cell.health
            sources = Sources(
                cells={cell.name: cell.health for cell in cells},
                front=front.health,
                front_targets=lambda: front_targets(front),
                leading=lambda: dispatcher.leading,
            )
        else:
            flows = await _flows_for_metrics(settings, pool)
        if settings.metrics.enabled:
            async with pool.acquire() as conn:
                queue_names = await queues.names(conn)
            metrics.start_telemetry(stack, settings, pool, clock, flows, queue_names, sources)
        if settings.reports.enabled:  # from reports.day on into var/reports/ (hotline/report/scheduled.py)
            from hotline.report.scheduled import MonthlyReports

            _start_job(stack, "monthly-reports", MonthlyReports(settings, pool, clock).run)
        if settings.retention.enabled:  # daily (hotline/retention.py)
            from hotline.retention import DailyRetention

            _start_job(stack, "retention", DailyRetention(settings, pool, clock).run)
        runner.app[http.STARTED].set()
        log.info("hotline up: health on http://%s:%d/healthz", settings.http.host, settings.http.port)
        await stop.wait()
        log.info("hotline up: stopping")

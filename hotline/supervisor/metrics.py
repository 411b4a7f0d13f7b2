"""The node's /metrics endpoint (metrics.host:metrics.port, default 127.0.0.1:9348) and the telemetry loop.

Children write their metrics into files (prometheus-client's multiprocess mode, `child_env`); the page merges
them with the supervisor's own registry (hotline.metrics.node_exposition). docs/metrics.md says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from hotline.clock import Clock
from hotline.config import Settings
from hotline.flow.model import Flow, SetNode, SurveyNode
from hotline.kpi import KpiParams
from hotline.metrics import MULTIPROC_ENV, node_exposition, prepare_multiprocess_dir
from hotline.supervisor.http import listen
from hotline.telemetry.catalogue import Labels
from hotline.telemetry.state import Sources, Telemetry

log = logging.getLogger(__name__)


def multiproc_dir(settings: Settings) -> Path:
    return (Path(settings.state_dir) / "metrics").resolve()


def child_env(settings: Settings, kind: str) -> dict[str, str]:
    """What a child needs to write its metrics where the supervisor reads them."""
    if not settings.metrics.enabled:
        return {"HOTLINE_PROCESS": kind}
    return {MULTIPROC_ENV: str(multiproc_dir(settings)), "HOTLINE_PROCESS": kind}


def kpi_params(settings: Settings) -> KpiParams:
    k = settings.kpi
    return KpiParams(
        service_level_s=k.service_level_s,
        short_abandon_s=k.short_abandon_s,
        exclude_short_abandons=k.exclude_short_abandons,
    )


def labels_of(flows: Iterable[Flow], queues: Iterable[str]) -> Labels:
    """The label sets from configuration: queues, survey questions and answers, schedules."""
    labels = Labels()
    labels.queue.extend(queues)
    for flow in flows:
        for node in flow.file.nodes.values():
            if isinstance(node, SurveyNode):
                labels.add_survey({q.name: q.answers.values() for q in node.questions})
            elif isinstance(node, SetNode):
                for kind in ("legal_area", "service"):
                    value = node.attributes.get(kind)
                    if isinstance(value, str):
                        labels.add_tags(kind, [value])
                labels.add_tags("flag", node.flags)
        labels.schedule.extend(flow.schedules)
    return labels


async def serve(stack: contextlib.AsyncExitStack, settings: Settings) -> None:
    """Listen on the metrics port and serve the node's page (computed off the event loop)."""
    page = node_exposition(multiproc_dir(settings))

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(page)
        resp = web.Response(body=body)
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        resp.charset = "utf-8"
        return resp

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics)])
    hint = "set metrics.port or HOTLINE_METRICS_PORT, or metrics.enabled: false"
    await listen(stack, app, settings.metrics.host, settings.metrics.port, "metrics", hint)
    log.info("metrics on http://%s:%d/metrics", settings.metrics.host, settings.metrics.port)


def fresh_files(settings: Settings) -> None:
    """Before any child starts: an empty directory for their files."""
    if settings.metrics.enabled:
        prepare_multiprocess_dir(multiproc_dir(settings))


def start_telemetry(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    pool: Any,
    clock: Clock,
    flows: Iterable[Flow],
    queues: Iterable[str],
    sources: Sources,
) -> Telemetry:
    flows = list(flows)
    schedules = {name: s for flow in flows for name, s in flow.schedules.items()}
    telemetry = Telemetry(
        pool,
        clock,
        labels_of(flows, queues),
        kpi_params(settings),
        timezone=settings.timezone,
        schedules=schedules,
        targets=settings.kpi.targets,
        sources=sources,
        refresh_s=settings.metrics.refresh_s,
        kpi_refresh_s=settings.metrics.kpi_refresh_s,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(telemetry.run(stop), name="telemetry")

    async def stop_telemetry() -> None:
        stop.set()
        with contextlib.suppress(Exception):
            await task

    stack.push_async_callback(stop_telemetry)
    return telemetry

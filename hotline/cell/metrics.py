"""A cell's own metrics (docs/metrics.md): its call legs, and the flow nodes its callers leave.

The cell runs under `hotline up` with PROMETHEUS_MULTIPROC_DIR set, so these land in files the supervisor
serves; gauges are `livesum` (a dead cell's legs vanish), counters stay summed across restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import Counter, Gauge

from hotline.flow.service import CallState
from hotline.metrics import UNKNOWN, guarded

LEGS = Gauge("hotline_cell_legs", "Call legs in use", ["cell"], multiprocess_mode="livesum")
CAPACITY = Gauge("hotline_cell_legs_capacity", "Call legs the cell can hold", ["cell"], multiprocess_mode="livesum")
IVR_EXITS = Counter("hotline_ivr_exits_total", "Flow nodes left, by where the caller went", ["flow", "node", "exit"])

HANGUP = "hangup"  # the caller hung up in the node
END = "end"  # the flow ended in the node


def count_exits(state: CallState, seen: int, hung_up: bool = False) -> int:
    """Count the nodes left since the first `seen` entries of the call's path; returns the new length.

    Label values are the flow's own node ids (configuration), anything else `unknown`."""
    path = state.path
    with guarded("hotline_ivr_exits_total"):
        nodes = state.flow.file.nodes
        flow = state.flow.id

        def node(name: str) -> str:
            return name if name in nodes else UNKNOWN

        for i in range(max(seen, 1), len(path)):
            IVR_EXITS.labels(flow, node(path[i - 1]), node(path[i])).inc()
        if state.ended and path:
            IVR_EXITS.labels(flow, node(path[-1]), HANGUP if hung_up else END).inc()
    return len(path)


async def watch_legs(cell: str, in_use: Callable[[], int], capacity: int, stop: asyncio.Event) -> None:
    """Publish the legs in use every second until `stop`."""
    with guarded("hotline_cell_legs_capacity"):
        CAPACITY.labels(cell).set(capacity)
    while not stop.is_set():
        with guarded("hotline_cell_legs"):
            LEGS.labels(cell).set(in_use())
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass

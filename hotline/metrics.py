"""Metrics kernel: bounded label values, updates that never raise, and the node's one exposition.

docs/metrics.md is the catalogue. Every process registers its metrics with prometheus-client's default
registry. Children of `hotline up` run with PROMETHEUS_MULTIPROC_DIR set (prometheus-client then keeps their
values in files); the supervisor serves its own registry and those files merged as one page.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger(__name__)
# no `_created` series: Prometheus does not need them and they would double the page
disable_created_metrics()  # type: ignore[no-untyped-call]

UNKNOWN = "unknown"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

METRIC_ERRORS = Counter("hotline_metric_errors_total", "Metric updates that failed (logged, never raised)", ["metric"])
DB_CONNECTIONS = Counter(
    "hotline_db_connections_opened_total",
    "PostgreSQL connections opened by the process (beyond the pool's first: reconnects)",
    ["process"],
)
DB_ERRORS = Counter("hotline_db_errors_total", "Database errors caught on a path that goes on", ["process"])

PROCESS_KINDS = frozenset({"supervisor", "cell", "transcriber", "cli"})


class Bounded:
    """A label's allowed values; anything else (None, a typo, a removed queue) becomes `unknown`."""

    def __init__(self, values: Iterable[str], fallback: str = UNKNOWN) -> None:
        self.values = frozenset(values) | {fallback}
        self.fallback = fallback

    def __call__(self, value: object) -> str:
        return value if isinstance(value, str) and value in self.values else self.fallback

    def extend(self, values: Iterable[str]) -> None:
        """Add values from configuration (e.g. a queue created at run time)."""
        self.values = self.values | frozenset(values)

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def __len__(self) -> int:
        return len(self.values)


def process_kind() -> str:
    """The kind of this process (a label value): HOTLINE_PROCESS as set by the supervisor, else supervisor."""
    kind = os.environ.get("HOTLINE_PROCESS", "supervisor")
    return kind if kind in PROCESS_KINDS else UNKNOWN


@contextmanager
def guarded(metric: str) -> Iterator[None]:
    """Run a metric update; a failure is logged and counted, the caller goes on."""
    try:
        yield
    except Exception:
        log.exception("metric update %s failed", metric)
        try:
            METRIC_ERRORS.labels(metric).inc()
        except Exception:  # the error counter itself broken: the log line is all we can do
            pass


def safe(metric: str, update: Callable[[], Any]) -> None:
    """guarded() for a one-liner: safe("hotline_cell_legs", lambda: LEGS.labels(cell).set(n))."""
    with guarded(metric):
        update()


def count_db_error() -> None:
    safe("hotline_db_errors_total", lambda: DB_ERRORS.labels(process_kind()).inc())


def count_db_connection() -> None:
    safe("hotline_db_connections_opened_total", lambda: DB_CONNECTIONS.labels(process_kind()).inc())


# ---- the node's exposition (supervisor)


def prepare_multiprocess_dir(path: Path) -> Path:
    """An empty directory for the children's metric files (files of an earlier run would be summed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def child_exited(path: Path | None, pid: int | None) -> None:
    """A child died or stopped: its live gauges go away, its counters stay summed."""
    if path is not None and pid is not None:
        with guarded("multiprocess"):
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]


class _Merged(Collector):
    """This process's registry and the children's files as one set of families: samples of the same metric
    name from both are put into one family (a page may not name a family twice)."""

    def __init__(self, sources: Collection[Collector]) -> None:
        self._sources = sources

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for source in self._sources:
            for family in source.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key in seen:  # a zero-valued default of the supervisor beside a child's real value
                        continue
                    seen.add(key)
                    merged.samples.append(sample)
        return [f for f in families.values() if f.samples]


class _Files(Collector):
    def __init__(self, path: Path) -> None:
        self._registry = CollectorRegistry()
        MultiProcessCollector(self._registry, path=str(path))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


def node_exposition(multiproc_dir: Path | None) -> Callable[[], bytes]:
    """The text page of the whole node: the children's files first (their values win), then this process."""
    sources: list[Collector] = []
    if multiproc_dir is not None:
        sources.append(_Files(multiproc_dir))
    sources.append(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(sources))

    def page() -> bytes:
        return generate_latest(registry)

    return page

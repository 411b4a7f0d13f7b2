"""Retention: each data class is kept for its period (`retention.*_days`) and then deleted, by a daily job of
`hotline up` (and `hotline retention run`), which writes what it deleted to the audit log.

The classes: recordings (the WAV files and their rows; a recording with `retain_until` later is on hold),
transcripts, call records (a call with its events, survey answers, tags and queue history; work orders stay,
without their call; a call whose recording is on hold stays too) and the audit log itself. Deletion goes in
batches, so a first run over years of data neither holds long locks nor fills memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from db import audit
from db import retention as db
from hotline.clock import Clock
from hotline.config import Settings

log = logging.getLogger(__name__)
BATCH = 1000
ACTOR = "retention"


@dataclass
class Deleted:
    """What one run deleted, per class: rows (and files, for recordings)."""

    recordings: int = 0
    recording_files: int = 0
    transcripts: int = 0
    call_records: int = 0
    audit_log: int = 0
    missing_files: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"recordings {self.recordings} (files {self.recording_files}), transcripts {self.transcripts}, "
            f"call records {self.call_records}, audit log {self.audit_log}"
        )


def _remove(paths: list[str], deleted: Deleted) -> None:
    for path in paths:
        try:
            Path(path).unlink()
            deleted.recording_files += 1
        except FileNotFoundError:
            deleted.missing_files.append(path)


async def run_once(conn: Any, settings: Settings, now: dt.datetime) -> Deleted:
    """Delete what each class's period has expired as of `now`; audit each class that lost anything."""
    conf = settings.retention
    deleted = Deleted()

    def cutoff(days: int) -> dt.datetime:
        return now - dt.timedelta(days=days)

    while batch := await db.recordings(conn, cutoff(conf.recordings_days), BATCH):
        deleted.recordings += len(batch)
        await asyncio.to_thread(_remove, [path for _, path in batch], deleted)
    while count := await db.transcripts(conn, cutoff(conf.transcripts_days), BATCH):
        deleted.transcripts += count
    while True:
        ids, paths = await db.call_records(conn, cutoff(conf.call_records_days), BATCH)
        if not ids:
            break
        deleted.call_records += len(ids)
        deleted.recordings += len(paths)
        await asyncio.to_thread(_remove, paths, deleted)
    while count := await db.audit_log(conn, cutoff(conf.audit_days), BATCH):
        deleted.audit_log += count
    for what, count, days in (
        ("recordings", deleted.recordings, conf.recordings_days),
        ("transcripts", deleted.transcripts, conf.transcripts_days),
        ("call_records", deleted.call_records, conf.call_records_days),
        ("audit_log", deleted.audit_log, conf.audit_days),
    ):
        if count:
            extra: dict[str, Any] = {"files": deleted.recording_files} if what == "recordings" else {}
            if what == "recordings" and deleted.missing_files:
                extra["files_already_missing"] = len(deleted.missing_files)
            await audit.record(
                conn, ACTOR, "delete", what, None, count=count, older_than_days=days, before=cutoff(days), **extra
            )
    return deleted


class DailyRetention:
    """`hotline up`'s job: a run at start, then one each local day at `retention.hour` or later."""

    def __init__(self, settings: Settings, pool: Any, clock: Clock) -> None:
        self.settings, self.pool, self.clock = settings, pool, clock
        self._last: dt.date | None = None

    def due(self) -> bool:
        local = self.clock.now().astimezone(ZoneInfo(self.settings.timezone))
        if self._last is None:
            return True
        return local.date() > self._last and local.hour >= self.settings.retention.hour

    async def once(self) -> Deleted | None:
        if not self.due():
            return None
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            deleted = await run_once(conn, self.settings, now)
        self._last = now.astimezone(ZoneInfo(self.settings.timezone)).date()
        log.info("retention: deleted %s", deleted.summary())
        return deleted

    async def run(self, stop: asyncio.Event, every_s: float = 600) -> None:
        while not stop.is_set():
            try:
                await self.once()
            except Exception as exc:  # the service goes on; the next check tries again
                log.error("retention: %s: %s (retried in %.0f s)", type(exc).__name__, exc, every_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

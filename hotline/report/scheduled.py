"""The monthly report made by `hotline up` by itself: from `reports.day` of each month (default the 20th, before
the province's deadline of the 25th) the report of the month before is written into `reports.dir` (default
var/reports/) in each of `reports.formats`, once: a file already there is left alone, so a restart, or a check
every hour, makes nothing twice. Each file is written under a temporary name and renamed, so the console never
lists a half-written report. The console lists the files (agents/supervisor/report)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hotline.clock import Clock
from hotline.config import Settings
from hotline.report import service
from hotline.report.table import due_month

log = logging.getLogger("hotline.report")

#: The names of the files this writes (and the only names the console serves from the directory).
FILE_NAME = re.compile(r"^hotline-report-(\d{4}-\d{2})\.(xlsx|csv|html)$")


def reports_dir(settings: Settings) -> Path:
    return settings.reports.dir or Path(settings.state_dir) / "reports"


@dataclass(frozen=True)
class ReportFile:
    name: str
    month: str
    format: str
    size: int


def listed(directory: Path) -> list[ReportFile]:
    """The reports in `directory`, newest month first (the names FILE_NAME matches only)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = FILE_NAME.match(path.name)
        if m and path.is_file():
            found.append(ReportFile(path.name, m.group(1), m.group(2), path.stat().st_size))
    return sorted(found, key=lambda f: (f.month, f.format), reverse=True)


class MonthlyReports:
    def __init__(self, settings: Settings, pool: Any, clock: Clock) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.dir = reports_dir(settings)

    async def once(self) -> list[Path]:
        """Write the reports due today that are not there yet; the files written."""
        conf = self.settings.reports
        month = due_month(self.clock.today(ZoneInfo(self.settings.timezone)), conf.day)
        if month is None:
            return []
        made = []
        for fmt in conf.formats:
            path = self.dir / f"hotline-report-{month.text}.{fmt}"
            if await asyncio.to_thread(path.exists):
                continue
            async with self.pool.acquire() as conn:
                data = await service.render(conn, month, fmt, self.clock)
            await asyncio.to_thread(_write, path, data)
            log.info("monthly report %s written (%d bytes)", path, len(data))
            made.append(path)
        return made

    async def run(self, stop: asyncio.Event) -> None:
        """Check at once, then every `reports.check_every_s`, until `stop`; a failure is logged and retried."""
        while not stop.is_set():
            try:
                await self.once()
            except Exception as exc:  # the service goes on; the next check tries again
                log.error("monthly report: %s: %s (retried in %.0f s)", type(exc).__name__, exc, self._every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every)

    @property
    def _every(self) -> float:
        return self.settings.reports.check_every_s


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    part.write_bytes(data)
    part.replace(path)

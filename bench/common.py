"""What the benchmarks share: probes of this machine and its processes (/proc), a throw-away database, and the
``RESULT key=value ...`` line each benchmark ends with.

A benchmark puts the checkout first on sys.path, then imports this module as ``bench.common``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import asyncpg

TICK = os.sysconf("SC_CLK_TCK")  # clock ticks per second, the unit of /proc's CPU times
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://hotline:hotline@127.0.0.1:5432/postgres")


# ------------------------------------------------------------------------------------------------ the machine


@dataclass(frozen=True)
class Machine:
    model: str
    cores: int
    mhz: float  # mean of the cores' current clock
    mem_gb: float

    @property
    def ghz(self) -> float:
        return self.mhz / 1000.0

    def describe(self) -> str:
        return (
            f"machine: {self.model}, {self.cores} cores at {self.mhz:.0f} MHz, {self.mem_gb:.1f} GiB RAM, "
            f"load average {os.getloadavg()[0]:.2f}"
        )


def machine() -> Machine:
    """This machine, from /proc/cpuinfo and /proc/meminfo."""
    model, mhz = "?", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "cpu MHz":
                mhz.append(float(value))
    mem_gb = 0.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    return Machine(model, os.cpu_count() or 1, sum(mhz) / len(mhz) if mhz else 0.0, mem_gb)


def busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot, all CPUs (guest time is inside user time)."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:9]]
    total = sum(parts)
    return total - parts[3] - parts[4], total


# ------------------------------------------------------------------------------------------------ processes


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (default), RssAnon (private memory, without the shared libraries' pages) or RssFile in MB; 0 if
    the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        pass
    return 0.0


# ------------------------------------------------------------------------------------------------ database


async def create_database(prefix: str) -> tuple[str, str]:
    """A throw-away database ``<prefix>_<random>`` with every migration applied: (name, URL)."""
    from db import migrate

    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await migrate.migrate(conn)
    finally:
        await conn.close()
    return name, url


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


# ------------------------------------------------------------------------------------------------ the result


def result(**figures: object) -> str:
    """Print (and return) the line a benchmark ends with: ``RESULT key=value ...`` in the order given. A value
    is printed as it is (format floats before), its whitespace replaced by ``_`` so the line splits on spaces."""
    line = "RESULT " + " ".join(f"{key}={'_'.join(str(value).split()) or '-'}" for key, value in figures.items())
    print(line, flush=True)
    return line

"""Report benchmark: the monthly report (`hotline report --month`) over a month of 1,000,000 calls.

    .venv/bin/python bench/report.py [--calls 1000000] [--month 2026-11] [--timeout 1800]

Target (issue 15): at most 30 s and 500 MB of peak memory on the 2-core machine kind, with the SQL doing the
aggregation. The month is written into a throw-away database by db/demo.py (what `hotline demo-history` writes:
calls, events, survey answers, work orders; set-based SQL), then `hotline report --format xlsx` runs as a user runs
it, in its own process: its wall time and its peak resident memory (ru_maxrss of the child) are the figures,
beside PostgreSQL's CPU for it (the backends' utime + stime is not visible from here: the wall time includes it).
The database is dropped in a ``finally``, also on Ctrl-C. Everything is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_database, drop_database, result  # noqa: E402

TARGET_S = 30.0
TARGET_MB = 500.0
SECRET = "bench-report-" + "b" * 32


async def fill(url: str, calls: int, month_text: str) -> tuple[float, dict[str, int]]:
    import asyncpg

    from db import demo
    from hotline.caller.privacy import NumberKeys
    from hotline.cli.demo import CALLER_POOL, callers, plan_for
    from hotline.config import load_settings
    from hotline.report.table import parse_month

    settings = load_settings(None, {"HOTLINE_DATABASE_URL": url})
    keys = NumberKeys.from_master(SECRET.encode())
    month = parse_month(month_text)
    conn = await asyncpg.connect(url)
    try:
        plan = await plan_for(conn, settings, month, 1, 12348)
        plan = dataclasses.replace(plan, calls=calls)
        started = time.monotonic()
        made = await demo.write(conn, plan, callers(12348, CALLER_POOL, keys))
        return time.monotonic() - started, made
    finally:
        await conn.close()


def run_report(url: str, month: str, out: Path, timeout: float) -> tuple[float, float, int]:
    """Wall seconds, the child's peak RSS in MB, and its exit code."""
    env = {**os.environ, "HOTLINE_DATABASE_URL": url, "HOTLINE_PRIVACY_SECRET": SECRET}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "hotline", "report", "--month", month, "--format", "xlsx", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
    return wall, max(peak, before) / 1024.0, proc.returncode


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--month", default="2026-11")
    parser.add_argument("--timeout", type=float, default=1800.0, help="for the report's run (seconds)")
    args = parser.parse_args()
    name, url = await create_database("bench_report")
    out = Path(f"/tmp/{name}.xlsx")
    try:
        fill_s, made = await fill(url, args.calls, args.month)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(
            f"month {args.month}: {made['calls']} calls, {made['call_events']} events, {made['surveys']} survey "
            f"answers, {made['tickets']} work orders, written in {fill_s:.1f} s"
        )
        try:
            wall, peak_mb, code = await asyncio.to_thread(run_report, url, args.month, out, args.timeout)
        except subprocess.TimeoutExpired:
            wall, peak_mb, code = args.timeout, float("nan"), -1
        met_s = "met" if code == 0 and wall <= TARGET_S else "NOT met"
        met_mb = "met" if code == 0 and peak_mb <= TARGET_MB else "NOT met"
        size = await asyncio.to_thread(lambda: out.stat().st_size if out.exists() else 0)
        print(f"report (xlsx, {size} bytes): exit {code}")
        print(f"  wall time      {wall:8.1f} s    target <= {TARGET_S:.0f} s   ({met_s})")
        print(f"  peak memory    {peak_mb:8.1f} MB   target <= {TARGET_MB:.0f} MB  ({met_mb})")
        result(
            calls=made["calls"],
            fill_s=f"{fill_s:.1f}",
            report_s=f"{wall:.1f}",
            report_peak_mb=f"{peak_mb:.0f}",
            target_s=f"{TARGET_S:.0f}",
            target_mb=f"{TARGET_MB:.0f}",
            exit=code,
        )
        return 0 if code == 0 else 1
    finally:
        await asyncio.to_thread(out.unlink, missing_ok=True)
        await drop_database(name)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

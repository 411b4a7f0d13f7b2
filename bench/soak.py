"""Soak benchmark: the simulator's traffic mix through a real `hotline up` for a long time, with a cell killed and
PostgreSQL restarted along the way; do memory and file descriptors stay flat, and is every call accounted for?

    .venv/bin/python bench/soak.py [--minutes 30] [--cells 4] [--callers-per-minute 12] [--agents 4]

Everything runs on loopback against a throw-away PostgreSQL cluster (tests/support/pgcluster.py), never the
shared server. `hotline simulate` places the calls (its default profile: menu paths, give-ups, callbacks,
surveys) at `--callers-per-minute`; the default 6 is meant as about 70 % of the default 4 cells (8 calls) for the
profile's call lengths, and the average concurrency measured (call seconds over run seconds) is printed beside
it. At a third of the run a cell is killed (SIGKILL), at two thirds PostgreSQL is stopped for 20 s and started
again. Every 15 s the RSS and the open
file descriptors of the supervisor, the cells and Kamailio are read from /proc.

Figures, beside their targets (issue 16): RSS growth of every process after warm-up (the first fifth of the run)
< 5 %, open fds flat, 0 records left open, 0 simulated agents not logged out, and every call the simulator
placed is a `calls` row or a `refused_calls` row. Bounded: the run stops by itself after --minutes plus the
drain, and every child is stopped in a ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine, result, rss_mb  # noqa: E402
from tests.support.pgcluster import Cluster  # noqa: E402
from tests.support.ports import free_block, free_port  # noqa: E402

TARGET_RSS_GROWTH_PCT = 5.0
SAMPLE_S = 15.0
SECRET = "bench-soak-" + "s" * 32


def health(port: int) -> dict[str, Any]:
    import json

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as resp:
            data: dict[str, Any] = json.load(resp)
    except urllib.error.HTTPError as err:
        data = json.load(err)
    return data


def processes(up_pid: int) -> dict[str, int]:
    """name -> pid of the supervisor and its children (cells by their --name, Kamailio's main process)."""
    found = {"supervisor": up_pid}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid != up_pid:
            continue
        args = [c.decode(errors="replace") for c in cmd if c]
        if "hotline.cell" in args and "--name" in args:
            found[args[args.index("--name") + 1]] = int(entry.name)
        elif args and args[0].endswith("kamailio"):
            found["kamailio"] = int(entry.name)
    return found


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


async def scalar(url: str, sql: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> int:
    box = machine()
    print(f"{box.describe()}; PostgreSQL (throw-away cluster), Kamailio, cells and sipp all on this machine")
    tmp = Path(tempfile.mkdtemp(prefix="soak-", dir="/tmp"))
    cluster = Cluster()
    up: subprocess.Popen[bytes] | None = None
    sim: subprocess.Popen[str] | None = None
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        db = await cluster.create_migrated()
        http_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "PG"))}
        env.update(
            HOTLINE_DATABASE_URL=db,
            HOTLINE_PRIVACY_SECRET=SECRET,
            HOTLINE_HTTP_PORT=str(http_port),
            HOTLINE_METRICS_PORT=str(free_port()),
            HOTLINE_PROMETHEUS_ENABLED="false",
            HOTLINE_REPORTS_ENABLED="false",
            HOTLINE_SIP_LISTEN_PORT=str(free_block(1)),
            HOTLINE_SIP_CELL_BASE_PORT=str(free_block(args.cells + 1)),
            HOTLINE_SIP_CELLS=str(args.cells),
            HOTLINE_SIP_RTP_PORT_BASE=str(free_block(1, 20000, 28000)),
            HOTLINE_SIP_KAMAILIO_HTTP_PORT=str(free_port()),
            HOTLINE_SIP_RECORDINGS_DIR=str(tmp / "recordings"),
            HOTLINE_STATE_DIR=str(tmp / "state"),
            HOTLINE_PROMPTS_BUILD_DIR=str(tmp / "prompts"),
            HOTLINE_JOURNAL_RETRY_S="0.5",
        )
        hotline = [sys.executable, "-m", "hotline"]
        await asyncio.to_thread(
            subprocess.run, [*hotline, "prompts", "build"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        with (tmp / "up.log").open("wb") as log:
            # the benchmark's own children, waited for in the finally below
            up = subprocess.Popen([*hotline, "up"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                if health(http_port).get("status") == "ok":
                    break
            if up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hotline up did not become ready; see {tmp / 'up.log'}")
            await asyncio.sleep(0.5)
        minutes = args.minutes
        sim = subprocess.Popen(  # noqa: ASYNC220
            [
                *hotline,
                "simulate",
                "--duration",
                f"{int(minutes * 60)}s",
                "--callers-per-minute",
                str(args.callers_per_minute),
                "--agents",
                str(args.agents),
                "--seed",
                "12348",
                "--drain",
                "3m",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = time.monotonic()
        total_s = minutes * 60
        warm_s = total_s / 5
        kill_at, outage_at = total_s / 3, 2 * total_s / 3
        killed = restarted = False
        baseline: dict[str, tuple[float, int]] = {}
        last: dict[str, tuple[float, int]] = {}
        while sim.poll() is None and time.monotonic() - started < total_s + 240:
            elapsed = time.monotonic() - started
            procs = processes(up.pid)
            sample = {name: (rss_mb(pid), fds(pid)) for name, pid in procs.items()}
            if elapsed >= warm_s:
                for name, value in sample.items():
                    baseline.setdefault(name, value)  # a restarted cell gets its own baseline
                last = sample
            if not killed and elapsed >= kill_at:
                victim = next((n for n in procs if n.startswith("cell")), None)
                if victim is not None:
                    os.kill(procs[victim], signal.SIGKILL)
                    baseline.pop(victim, None)
                    print(f"{elapsed:6.0f} s: killed {victim}", flush=True)
                killed = True
            if not restarted and elapsed >= outage_at:
                await asyncio.to_thread(cluster.stop)
                print(f"{elapsed:6.0f} s: PostgreSQL stopped", flush=True)
                await asyncio.sleep(20)
                await asyncio.to_thread(cluster.start)
                print(f"{time.monotonic() - started:6.0f} s: PostgreSQL started", flush=True)
                restarted = True
            await asyncio.sleep(SAMPLE_S)
        out, _ = sim.communicate(timeout=300)
        placed = [int(m) for m in re.findall(r"已拨 (\d+)/", out)]
        placed_n = placed[-1] if placed else 0
        # the journals drain and the records close
        for _ in range(60):
            if await scalar(db, "SELECT count(*) FROM calls WHERE ended_at IS NULL") == 0:
                break
            await asyncio.sleep(1)
        open_records = await scalar(db, "SELECT count(*) FROM calls WHERE ended_at IS NULL")
        stuck = await scalar(db, "SELECT count(*) FROM agents WHERE simulated AND state <> 'logged_out'")
        recorded = await scalar(db, "SELECT count(*) FROM calls WHERE simulated AND direction = 'inbound'")
        refused = await scalar(db, "SELECT count(*) FROM refused_calls")
        unaccounted = max(placed_n - recorded - refused, 0)
        talk = await scalar(
            db,
            "SELECT coalesce(sum(extract(epoch FROM ended_at - started_at)), 0)::bigint FROM calls WHERE simulated",
        )
        growth = {
            name: 100.0 * (last[name][0] - rss) / rss for name, (rss, _) in baseline.items() if name in last and rss
        }
        fd_change = {name: last[name][1] - n for name, (_, n) in baseline.items() if name in last}
        worst = max(growth.items(), key=lambda kv: kv[1], default=("-", 0.0))
        print()
        print(f"summary after {minutes:g} min (measured | target):")
        for name in sorted(growth):
            print(f"  {name:10} RSS {baseline[name][0]:6.1f} -> {last[name][0]:6.1f} MB ({growth[name]:+.1f} %), fds "
                  f"{baseline[name][1]} -> {last[name][1]}")  # fmt: skip
        print(f"  worst RSS growth after warm-up: {worst[1]:+.1f} % ({worst[0]}) | < {TARGET_RSS_GROWTH_PCT} %")
        print(f"  open fds change (max): {max(fd_change.values(), default=0)} | 0 (flat)")
        print(f"  average concurrent calls: {talk / total_s:.1f} of {2 * args.cells} (call seconds / run seconds)")
        print(f"  records left open: {open_records} | 0;  agents stuck: {stuck} | 0")
        print(f"  placed {placed_n}: {recorded} recorded + {refused} refused, unaccounted {unaccounted} | 0")
        result(
            minutes=f"{minutes:g}",
            rss_growth_max_pct=f"{worst[1]:.1f}",
            fd_change_max=max(fd_change.values(), default=0),
            records_open=open_records,
            agents_stuck=stuck,
            placed=placed_n,
            unaccounted=unaccounted,
            cell_killed=int(killed),
            db_restarted=int(restarted),
        )  # fmt: skip
        ok = worst[1] < TARGET_RSS_GROWTH_PCT and open_records == 0 and stuck == 0 and unaccounted == 0
        return 0 if ok else 1
    finally:
        for proc in (sim, up):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is sim else signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        await asyncio.to_thread(cluster.remove)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=30.0, help="how long callers keep arriving (default 30)")
    p.add_argument("--cells", type=int, default=4, help="engine cells, 2 calls each (default 4)")
    p.add_argument("--callers-per-minute", type=float, default=6.0, help="simulated arrivals (default 6)")
    p.add_argument("--agents", type=int, default=4, help="simulated agents (default 4)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = p.parse_args(argv)
    if args.minutes < 2:
        p.error("--minutes must be at least 2 (warm-up, a cell killed and PostgreSQL restarted need the time)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

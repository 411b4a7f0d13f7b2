"""SIP capacity benchmark: pjsua2 cells behind the Kamailio front, driven by sipp with real RTP, on loopback.

    .venv/bin/python bench/capacity.py [--quick] [--max-concurrency N] [--hold S]

What it starts (all children of this script, all stopped in a ``finally``, also on Ctrl-C):

- a throw-away PostgreSQL database ``bench_<random>`` (Kamailio's auth_db needs the schema), dropped at the end;
- one Kamailio front (`hotline.front.process.KamailioProcess`) with the cells in dispatcher set 1;
- cells: ``python -m hotline.sip.cell --handler bench.handlers:handle``; the pool grows or shrinks before each
  step to ceil(concurrency / 2) + 2 cells (the registry pjsua2 holds 4 legs: 2 inbound calls per cell, each
  with room for its agent leg), and the dispatcher list is reloaded;
- one sipp UAS "agent" (hotline.sipp's ``uas_answer``, ``-rtp_echo``) that the bridged calls dial directly;
- per step one sipp UAC (hotline.sipp's ``caller_talk``) that streams A-law audio for the whole call (sipp
  ``rtp_stream``, looped), presses 1 2 # (SIP INFO dtmf-relay: RFC 4733 pcaps played beside rtp_stream
  did not reach collect_digits) and hangs up after the hold time.

Figures and how they are measured:

- failed calls: sipp's own counters (``-trace_stat``: SuccessfulCall / FailedCall), plus the cells' status
  lines (IVR: the digits "12" collected; bridged: the agent leg bridged);
- RTP loss: each cell reads pjmedia's RTCP receive statistics of every leg ``--hold - 2`` s after answer (RTP
  packets received, and lost = gaps in RTP sequence numbers). Caller leg: sipp -> cell. Agent leg: cell ->
  agent -> echoed back -> cell, so both directions. loss % = lost / (received + lost). "rx/exp" compares the
  caller packets received with 50 packets/s since answer (a stalled sender or receiver shows there);
- CPU per call: utime+stime of all cell processes (from /proc/PID/stat) over the window where every call of the
  step is up, divided by the window and by the calls, as % of one core, minus the idle cost of the cells;
- RSS per cell: VmRSS from /proc/PID/status, largest cell, sampled in the middle of each step;
- idle CPU per cell: the whole pool with no call for 10 s (5 s with --quick);
- setup rate: short calls (answer, record, ~1 s) at 10, 20, 30... calls/s for 10 s each; the highest rate with
  0 failed calls;
- calls per GHz·core: concurrent calls / (cores used by cells + Kamailio in the hold window × GHz from
  /proc/cpuinfo), next to Asterisk's ~100 G.711 pass-through calls per GHz·core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import TICK, busy_ticks, cpu_ticks, create_database, drop_database, machine, result, rss_mb  # noqa: E402
from hotline.front.kamailio import CellAddress, FrontParams, render_dispatcher_list  # noqa: E402
from hotline.front.process import KamailioProcess, KamailioRpcError  # noqa: E402
from hotline.sipp import command  # noqa: E402
from tests.support.ports import free_block, free_port  # noqa: E402

HOST = "127.0.0.1"
CALLER = {"ivr": "13900000001", "bridged": "13900000002", "short": "13900000003"}
RTP_PORTS_PER_CELL = 20  # 4 legs x (RTP + RTCP), with room for pjsua's port reuse
SPARE_CELLS = 2

# Targets from issue 3, and the Asterisk anchor.
TARGET_IVR = 150
TARGET_BRIDGED = 75
TARGET_CPS = 20
TARGET_IDLE_PCT = 0.5
TARGET_RSS_MB = 40
ANCHOR_PER_GHZ_CORE = 100
MAX_LOSS_PCT = 0.1


# ------------------------------------------------------------------------------------------------ helpers


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def make_audio(tmp: Path, prompt_seconds: float) -> tuple[Path, Path]:
    """The prompt (``prompt_seconds``, 8 kHz mono 16-bit, speech-like: band-limited noise with a syllable
    rhythm) and the caller's looped A-law stream (4 s of a warbling tone)."""
    prompts = tmp / "prompts"
    prompts.mkdir()
    prompt = prompts / "bench_prompt.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(prompt), "synth", f"{prompt_seconds:g}", "pinknoise",
         "band", "1000", "800", "tremolo", "4", "90", "gain", "-8"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    with wave.open(str(prompt)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    audio = tmp / "caller.al"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-t", "al", str(audio), "synth", "4", "sine", "300-900",
         "tremolo", "3", "60", "gain", "-10"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return prompts, audio


# ------------------------------------------------------------------------------------------------ children


@dataclass
class CellProc:
    name: str
    port: int
    rtp_port: int
    proc: subprocess.Popen[bytes]
    out: Path
    offset: int = 0  # status lines before this byte offset belong to earlier steps

    def new_lines(self) -> list[dict[str, Any]]:
        try:
            with self.out.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        lines = []
        for raw in data[:end].splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines


@dataclass
class StepResult:
    mode: str
    target: int  # concurrent calls (capacity steps) or calls/s (setup step)
    calls: int
    ok: int = 0
    failed: int = 0
    cells: int = 0
    app_ok: int = 0  # digits collected (IVR) / agent bridged (bridged) / answered (short)
    rtp_reports: int = 0
    rx_pkt: int = 0
    rx_loss: int = 0
    rx_expected: float = 0.0
    caller_pkt: int = 0
    jitter_max_ms: float = 0.0
    cells_cpu_cores: float = 0.0
    kam_cpu_cores: float = 0.0
    sipp_cpu_cores: float = 0.0
    machine_busy_pct: float = 0.0
    cell_rss_max_mb: float = 0.0
    achieved_cps: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def loss_pct(self) -> float:
        total = self.rx_pkt + self.rx_loss
        return 100.0 * self.rx_loss / total if total else 0.0

    @property
    def passed(self) -> bool:
        return (
            self.failed == 0
            and self.ok == self.calls
            and self.app_ok == self.calls
            and (self.mode == "short" or (self.rtp_reports == self.calls and self.loss_pct < MAX_LOSS_PCT))
        )


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
        self.used_ports: set[int] = set()
        self.cells: list[CellProc] = []
        self.retired: list[CellProc] = []
        self.sipps: list[subprocess.Popen[bytes]] = []
        self.agent: subprocess.Popen[bytes] | None = None
        self.kam: KamailioProcess | None = None
        self.db_name: str | None = None
        self.max_cells = math.ceil(args.max_concurrency / 2) + SPARE_CELLS
        self.sip_base = free_block(self.max_cells + 50, 30000, 39000, used=self.used_ports)
        self.rtp_base = free_block(self.max_cells * RTP_PORTS_PER_CELL, 40000, 52000, step=2, used=self.used_ports)
        self.cell_ids = 0
        self.idle_pct_per_cell = 0.0
        self.idle_rss_mb = 0.0

    # -------------------------------------------------------------------- database and front

    async def create_db(self) -> str:
        self.db_name, url = await create_database("bench")
        return url

    async def drop_db(self) -> None:
        if self.db_name is not None:
            await drop_database(self.db_name)
            self.db_name = None

    async def start_front(self, db_url: str) -> None:
        sip_port = free_block(1, 30000, 39000, used=self.used_ports)
        http_port = free_port(udp=False)
        params = FrontParams(
            db_url=db_url,
            runtime_dir=self.tmp / "front",
            cells=tuple(CellAddress(HOST, c.port) for c in self.cells),
            sip_host=HOST,
            sip_port=sip_port,
            http_host=HOST,
            http_port=http_port,
            trusted_networks=("127.0.0.0/8",),
            log_level=1,
            children=4,
        )
        self.kam = KamailioProcess(params)
        await self.kam.start()

    async def reload_dispatcher(self) -> None:
        assert self.kam is not None
        params = replace(self.kam.params, cells=tuple(CellAddress(HOST, c.port) for c in self.cells))
        self.kam.params.dispatcher_list.write_text(render_dispatcher_list(params), encoding="utf-8")
        deadline = time.monotonic() + 15
        while True:  # dispatcher refuses a reload within its reload_delta (5 s) of the previous one
            try:
                await self.kam.rpc("dispatcher.reload")
                break
            except KamailioRpcError as exc:
                if "ongoing reload" not in exc.message.lower() or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        want = {f"sip:{HOST}:{c.port}" for c in self.cells}
        deadline = time.monotonic() + 20
        while True:
            status = await self.kam.dispatcher_status()
            active = {s.uri for s in status if s.flags.startswith("A")}
            if want <= active and len(status) == len(want):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cells not active in the dispatcher after reload: {status}")
            await asyncio.sleep(0.5)

    # -------------------------------------------------------------------- cells

    def _spawn_cell(self) -> CellProc:
        index = self.cell_ids
        self.cell_ids += 1
        slot = len(self.cells)  # ports by slot: a retired cell's ports are reused by the next one in its slot
        name = f"bench{index}"
        port = self.sip_base + slot
        rtp_port = self.rtp_base + slot * RTP_PORTS_PER_CELL
        out = self.tmp / "cells" / f"{name}.out"
        out.parent.mkdir(exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["BENCH_AGENT_URI"] = f"sip:agent@{HOST}:{self.agent_port}"
        env["BENCH_STATS_AT"] = str(self.stats_at)
        cmd = [
            sys.executable, "-m", "hotline.sip.cell", "--name", name, "--host", HOST, "--port", str(port),
            "--prompts", str(self.prompts), "--recordings", str(self.tmp / "recordings"),
            "--rtp-port", str(rtp_port), "--rtp-port-range", str(RTP_PORTS_PER_CELL),
            "--handler", "bench.handlers:handle", "--drain-timeout", "3", "--log-level", "WARNING",
        ]  # fmt: skip
        with out.open("wb") as stdout, (self.tmp / "cells" / f"{name}.err").open("wb") as stderr:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
        return CellProc(name, port, rtp_port, proc, out)

    async def ensure_cells(self, count: int) -> None:
        count = min(count, self.max_cells)
        changed = False
        while len(self.cells) > count:
            cell = self.cells.pop()
            stop_proc(cell.proc, grace=8)
            self.retired.append(cell)
            changed = True
        fresh = []
        while len(self.cells) < count:
            cell = self._spawn_cell()
            self.cells.append(cell)
            fresh.append(cell)
            changed = True
        deadline = time.monotonic() + 60 + len(fresh) * 0.5
        for cell in fresh:
            while True:
                if cell.proc.poll() is not None:
                    err = (self.tmp / "cells" / f"{cell.name}.err").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"cell {cell.name} exited with {cell.proc.returncode}: {err}")
                if any(line.get("event") == "ready" for line in cell.new_lines()):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cell {cell.name} not ready in time")
                await asyncio.sleep(0.2)
        if changed and self.kam is not None:
            await self.reload_dispatcher()

    def cells_ticks(self) -> int:
        return sum(cpu_ticks(c.proc.pid) for c in self.cells)

    def kam_ticks(self) -> int:
        if self.kam is None or self.kam.pid is None:
            return 0
        return sum(cpu_ticks(p) for p in group_pids(self.kam.pid))

    def sipp_ticks(self) -> int:
        procs = [p for p in self.sipps if p.poll() is None]
        if self.agent is not None:
            procs.append(self.agent)
        return sum(cpu_ticks(p.pid) for p in procs)

    # -------------------------------------------------------------------- agent and callers

    def start_agent(self) -> None:
        self.agent_port = free_block(1, 30000, 39000, used=self.used_ports)
        media = free_block(4, 52000, 60000, used=self.used_ports)
        cmd = command("uas_answer", local_port=self.agent_port, media_ip=HOST, media_port=media, extra=["-rtp_echo"])
        self.agent = subprocess.Popen(
            cmd,
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=(self.tmp / "agent.err").open("wb"),
            start_new_session=True,
        )

    def caller_cmd(self, scenario: str, mode: str, calls: int, rate: float, hold_ms: int, tag: str) -> list[str]:
        assert self.kam is not None
        local = free_block(1, 30000, 39000, used=self.used_ports)
        media = free_block(4, 52000, 60000, used=self.used_ports)
        self.used_ports.discard(local)
        return command(
            scenario,
            f"{HOST}:{self.kam.params.sip_port}",
            service="12348",
            local_port=local,
            media_ip=HOST,
            media_port=media,
            calls=calls,
            limit=calls,
            rate=rate,
            pause_ms=hold_ms,
            keys={"caller": CALLER[mode]},
            timeout_s=int(calls / rate + hold_ms / 1000 + 60),
            timeout_error=True,
            error_file=self.tmp / f"{tag}.err",
            extra=["-recv_timeout", "15000", "-trace_stat", "-stf", str(self.tmp / f"{tag}.stat.csv"), "-fd", "1"],
        )

    # -------------------------------------------------------------------- steps

    async def idle(self, seconds: float) -> None:
        await asyncio.sleep(2)
        t0, c0 = time.monotonic(), self.cells_ticks()
        await asyncio.sleep(seconds)
        t1, c1 = time.monotonic(), self.cells_ticks()
        self.idle_pct_per_cell = 100.0 * (c1 - c0) / TICK / (t1 - t0) / len(self.cells)
        self.idle_rss_mb = max(rss_mb(c.proc.pid) for c in self.cells)
        self.idle_anon_mb = max(rss_mb(c.proc.pid, "RssAnon") for c in self.cells)
        self.idle_file_mb = max(rss_mb(c.proc.pid, "RssFile") for c in self.cells)

    async def step(self, mode: str, concurrency: int, hold: float) -> StepResult:
        cells = math.ceil(concurrency / 2) + SPARE_CELLS
        await self.ensure_cells(cells)
        for cell in self.cells:
            cell.new_lines()  # skip what came before this step
        rate = min(25.0, max(5.0, concurrency / 5))
        tag = f"{mode}-{concurrency}"
        # caller_talk: 1.5 + 0.3 + 0.3 s of DTMF, then -d; the handler reports RTP stats at hold - 2 s
        hold_ms = int((hold - 2.1) * 1000)
        cmd = self.caller_cmd("caller_talk", mode, concurrency, rate, hold_ms, tag)
        res = StepResult(mode, concurrency, concurrency, cells=len(self.cells))
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        self.sipps.append(proc)
        ramp = concurrency / rate
        # CPU window: all calls up (ramp + 1.5 s setup slack) until 1.5 s before the first hangup
        w_start, w_end = started + ramp + 1.5, started + hold - 1.5
        if w_end - w_start < 3:
            w_start, w_end = started + ramp, started + ramp + 3
            res.notes.append("short window")
        await asyncio.sleep(max(0.0, w_start - time.monotonic()))
        c0, k0, s0, m0, t0 = self.cells_ticks(), self.kam_ticks(), self.sipp_ticks(), busy_ticks(), time.monotonic()
        await asyncio.sleep(max(0.5, (w_end - w_start) / 2))
        res.cell_rss_max_mb = max(rss_mb(c.proc.pid) for c in self.cells)
        await asyncio.sleep(max(0.0, w_end - time.monotonic()))
        c1, k1, s1, m1, t1 = self.cells_ticks(), self.kam_ticks(), self.sipp_ticks(), busy_ticks(), time.monotonic()
        span = t1 - t0
        res.cells_cpu_cores = (c1 - c0) / TICK / span
        res.kam_cpu_cores = (k1 - k0) / TICK / span
        res.sipp_cpu_cores = (s1 - s0) / TICK / span
        res.machine_busy_pct = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
        limit = ramp + hold + 90
        while proc.poll() is None and time.monotonic() - started < limit:  # noqa: ASYNC110 (polls a subprocess)
            await asyncio.sleep(0.3)
        if proc.poll() is None:
            res.notes.append("sipp did not finish")
            stop_proc(proc, grace=2)
        await asyncio.sleep(1.0)  # the cells print call_ended after the caller's BYE
        self.read_sipp(res, tag)
        self.read_cells(res, mode)
        return res

    async def setup_rate_step(self, rate: int, seconds: float) -> StepResult:
        calls = int(rate * seconds)
        concurrency = math.ceil(rate * 2.5)  # ~1 s hold + setup + teardown
        await self.ensure_cells(math.ceil(concurrency / 2) + SPARE_CELLS)
        for cell in self.cells:
            cell.new_lines()
        tag = f"setup-{rate}"
        cmd = self.caller_cmd("caller_stream", "short", calls, rate, 1000, tag)
        cmd[cmd.index("-l") + 1] = str(max(concurrency * 2, 10))
        res = StepResult("short", rate, calls, cells=len(self.cells))
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        self.sipps.append(proc)
        while proc.poll() is None and time.monotonic() - started < seconds + 60:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        if proc.poll() is None:
            res.notes.append("sipp did not finish")
            stop_proc(proc, grace=2)
        await asyncio.sleep(1.0)
        self.read_sipp(res, tag)
        self.read_cells(res, "short")
        return res

    def read_sipp(self, res: StepResult, tag: str) -> None:
        path = self.tmp / f"{tag}.stat.csv"
        try:
            rows = list(csv.reader(path.open(), delimiter=";"))
        except FileNotFoundError:
            res.notes.append("no sipp stats")
            res.failed = res.calls
            return
        head, last = rows[0], rows[-1]
        col = {name: i for i, name in enumerate(head)}

        def get(name: str) -> float:
            try:
                return float(last[col[name]])
            except (KeyError, IndexError, ValueError):
                return 0.0

        res.ok = int(get("SuccessfulCall(C)"))
        res.failed = int(get("FailedCall(C)"))
        res.failed = max(res.failed, res.calls - res.ok)
        if res.mode == "short":
            # calls created over the span in which sipp created them: its cumulative OutgoingCall and
            # elapsed time at the row where the last call was created
            created = [r for r in rows[1:] if len(r) > col["OutgoingCall(C)"]]
            for r in created:
                if int(float(r[col["OutgoingCall(C)"]])) >= res.calls:
                    elapsed = r[col["ElapsedTime(C)"]]
                    secs = _hms(elapsed)
                    if secs > 0:
                        res.achieved_cps = res.calls / secs
                    break

    def read_cells(self, res: StepResult, mode: str) -> None:
        for cell in self.cells:
            for line in cell.new_lines():
                event = line.get("event")
                if event == "digits" and mode == "ivr" and line.get("digits") == "12":
                    res.app_ok += 1
                elif event == "bridged" and mode == "bridged":
                    res.app_ok += 1
                elif event == "call_incoming" and mode == "short":
                    res.app_ok += 1
                elif event == "bench_dial_failed":
                    res.notes.append(f"agent dial failed: {line.get('kind')} {line.get('status')}")
                elif event == "call_ended" and line.get("outcome") == "handler_error":
                    res.notes.append("handler_error")
                elif event == "bench_rtp":
                    res.rtp_reports += 1
                    for leg in ("caller", "agent"):
                        st = line.get(leg)
                        if not isinstance(st, dict) or "pkt" not in st:
                            if leg == "caller" or mode == "bridged":
                                res.notes.append(f"no {leg} stats")
                            continue
                        res.rx_pkt += st["pkt"]
                        res.rx_loss += st["loss"]
                        res.jitter_max_ms = max(res.jitter_max_ms, st["jitter_max_ms"])
                        if leg == "caller":
                            res.caller_pkt += st["pkt"]
                            res.rx_expected += 50.0 * float(line.get("since_answer", 0))
        res.notes = sorted(set(res.notes))

    # -------------------------------------------------------------------- teardown

    def kill_children(self) -> None:
        for proc in self.sipps:
            stop_proc(proc, grace=1)
        if self.agent is not None:
            stop_proc(self.agent, grace=1)
        for cell in self.cells + self.retired:
            with contextlib.suppress(ProcessLookupError):
                if cell.proc.poll() is None:
                    cell.proc.send_signal(signal.SIGTERM)
        for cell in self.cells + self.retired:
            stop_proc(cell.proc, grace=8)


def _hms(text: str) -> float:
    # sipp writes elapsed time as HH:MM:SS:mmm (sometimes with the µs part)
    parts = text.replace(".", ":").split(":")
    try:
        h, m, s = int(parts[0]), int(parts[1]), int(parts[2])
        ms = int(parts[3]) if len(parts) > 3 else 0
    except (IndexError, ValueError):
        return 0.0
    return h * 3600 + m * 60 + s + ms / 1000.0


def stop_proc(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL (to its process group: these children run in sessions of their own)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)


# ------------------------------------------------------------------------------------------------ report


def fmt_step(r: StepResult, ghz: float) -> str:
    cpu_call = 100.0 * r.cells_cpu_cores / r.target if r.mode != "short" and r.target else 0.0
    per_ghz = r.target / ((r.cells_cpu_cores + r.kam_cpu_cores) * ghz) if r.cells_cpu_cores else 0.0
    rx = 100.0 * r.caller_pkt / r.rx_expected if r.rx_expected else 0.0
    verdict = "PASS" if r.passed else "FAIL"
    return (
        f"{r.mode:8} {r.target:5} {r.cells:5} {r.ok:5} {r.failed:6} {r.app_ok:6} {r.loss_pct:7.3f} {rx:6.1f} "
        f"{r.jitter_max_ms:6.1f} {cpu_call:7.2f} {100 * r.cells_cpu_cores:7.1f} {100 * r.kam_cpu_cores:6.1f} "
        f"{100 * r.sipp_cpu_cores:6.1f} {r.machine_busy_pct:5.0f} {r.cell_rss_max_mb:6.1f} {per_ghz:7.1f} "
        f"{verdict:4} {'; '.join(r.notes)}"
    )


HEADER = (
    f"{'mode':8} {'conc':>5} {'cells':>5} {'ok':>5} {'failed':>6} {'app_ok':>6} {'loss%':>7} {'rx/exp':>6} "
    f"{'jit_ms':>6} {'cpu/call':>7} {'cells%':>7} {'kam%':>6} {'sipp%':>6} {'box%':>5} {'rssMB':>6} "
    f"{'c/GHzc':>7} {'ok?':4} notes"
)


async def run(args: argparse.Namespace) -> int:
    box = machine()
    cores, mhz, ghz = box.cores, box.mhz, box.ghz
    print(f"{box.describe()}; sipp, kamailio and cells all on this machine")
    bench = Bench(args)
    results: list[StepResult] = []
    setup: list[StepResult] = []
    try:
        bench.prompts, bench.audio = make_audio(bench.tmp, min(10.0, args.hold - 5.0))
        bench.stats_at = max(3.0, args.hold - 2.0)
        bench.start_agent()
        db_url = await bench.create_db()
        first = math.ceil(args.steps_ivr[0] / 2) + SPARE_CELLS
        await bench.ensure_cells(first)
        await bench.start_front(db_url)
        await bench.reload_dispatcher()
        # idle cost, measured on a pool as large as the biggest step will use, so it is the idle of real cells
        await bench.ensure_cells(min(bench.max_cells, max(first, 10)))
        await bench.idle(args.idle_seconds)
        n_idle = len(bench.cells)
        print(
            f"idle: {n_idle} cells, {bench.idle_pct_per_cell:.2f} % of a core per cell "
            f"(target <= {TARGET_IDLE_PCT}), VmRSS {bench.idle_rss_mb:.1f} MB (target <= {TARGET_RSS_MB}) = "
            f"RssAnon {bench.idle_anon_mb:.1f} MB + RssFile {bench.idle_file_mb:.1f} MB (shared libraries)"
        )
        print(HEADER, flush=True)
        deadline = time.monotonic() + args.budget
        # The setup-rate steps come last and get their own share of the budget: without it the concurrency ramps
        # of a full run used all of it and the setup rate was never measured (printed as 0).
        ramps_deadline = deadline - len(args.rates) * (args.setup_seconds + 20)
        for mode, steps in (("ivr", args.steps_ivr), ("bridged", args.steps_bridged)):
            for conc in steps:
                if conc > args.max_concurrency:
                    break
                if time.monotonic() + args.hold + conc / 20 + 30 > ramps_deadline:
                    print(f"{mode:8} {conc:5} skipped: time budget", flush=True)
                    break
                r = await bench.step(mode, conc, args.hold)
                results.append(r)
                print(fmt_step(r, ghz), flush=True)
                if not r.passed:
                    break
        for rate in args.rates:
            if time.monotonic() + args.setup_seconds + 20 > deadline + 60:
                print(f"setup {rate} cps skipped: time budget", flush=True)
                break
            r = await bench.setup_rate_step(rate, args.setup_seconds)
            setup.append(r)
            print(
                f"setup    {rate:3} cps x {args.setup_seconds:g} s: {r.calls} calls, ok {r.ok}, failed {r.failed}, "
                f"answered {r.app_ok}, achieved {r.achieved_cps:.1f} cps, cells {r.cells} "
                f"{'PASS' if r.passed else 'FAIL'} {'; '.join(r.notes)}",
                flush=True,
            )
            if not r.passed:
                break
    finally:
        bench.kill_children()
        if bench.kam is not None:
            await bench.kam.stop()
        with contextlib.suppress(Exception):
            await bench.drop_db()
        if not args.keep:
            shutil.rmtree(bench.tmp, ignore_errors=True)
        else:
            print(f"kept {bench.tmp}")

    def best(mode: str) -> StepResult | None:
        ok = [r for r in results if r.mode == mode and r.passed]
        return max(ok, key=lambda r: r.target) if ok else None

    ivr, bridged = best("ivr"), best("bridged")
    # not measured (no step ran) is not 0 calls/s (the first step failed)
    cps: int | str = max((r.target for r in setup if r.passed), default=0) if setup else "not_measured"
    top = bridged or ivr
    cpu_call_ivr = (
        100.0 * ivr.cells_cpu_cores / ivr.target - bench.idle_pct_per_cell * ivr.cells / ivr.target if ivr else 0
    )
    cpu_call_br = (
        100.0 * bridged.cells_cpu_cores / bridged.target - bench.idle_pct_per_cell * bridged.cells / bridged.target
        if bridged
        else 0
    )
    rss = max((r.cell_rss_max_mb for r in results), default=bench.idle_rss_mb)
    per_ghz = top.target / ((top.cells_cpu_cores + top.kam_cpu_cores) * ghz) if top and top.cells_cpu_cores else 0
    box_per_ghz = top.target / (cores * ghz) if top else 0
    print()
    print("summary (measured | target or anchor):")
    print(
        f"  IVR+recording concurrent, 0 failed, loss < {MAX_LOSS_PCT} %: {ivr.target if ivr else 0} | >= {TARGET_IVR}"
    )
    n_bridged = bridged.target if bridged else 0
    print(f"  bridged+recorded concurrent, 0 failed, loss < {MAX_LOSS_PCT} %: {n_bridged} | >= {TARGET_BRIDGED}")
    print(f"  setup rate with 0 failures: {cps} calls/s | >= {TARGET_CPS}")
    print(f"  CPU per call (cells, idle cost removed): IVR {cpu_call_ivr:.2f} %, bridged {cpu_call_br:.2f} % of a core")
    print(f"  cell RSS (largest, under load): {rss:.1f} MB | <= {TARGET_RSS_MB}")
    print(f"  idle cell CPU: {bench.idle_pct_per_cell:.2f} % of a core | <= {TARGET_IDLE_PCT}")
    print(
        f"  calls per GHz·core ({top.mode if top else '-'}, cores used by cells + Kamailio): {per_ghz:.1f}; "
        f"whole machine ({cores} x {ghz:.2f} GHz, incl. sipp): {box_per_ghz:.1f} | Asterisk ~{ANCHOR_PER_GHZ_CORE}"
    )  # fmt: skip
    result(
        ivr_max_concurrent=ivr.target if ivr else 0,
        bridged_max_concurrent=bridged.target if bridged else 0,
        setup_rate_cps=cps,
        cpu_per_call_pct=f"{cpu_call_br if bridged else cpu_call_ivr:.2f}",
        cpu_per_ivr_call_pct=f"{cpu_call_ivr:.2f}",
        cell_rss_mb=f"{rss:.1f}",
        idle_cell_cpu_pct=f"{bench.idle_pct_per_cell:.2f}",
        calls_per_ghz_core=f"{per_ghz:.1f}",
        box_calls_per_ghz_core=f"{box_per_ghz:.1f}",
        ivr_loss_pct=f"{ivr.loss_pct if ivr else 0:.3f}",
        bridged_loss_pct=f"{bridged.loss_pct if bridged else 0:.3f}",
        cpu_mhz=f"{mhz:.0f}",
        cores=cores,
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small smoke run (under 2 minutes)")
    p.add_argument("--max-concurrency", type=int, default=None, help="largest concurrent step (default 250)")
    p.add_argument("--hold", type=float, default=None, help="seconds each call lasts (default 20, quick 10)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, sipp stats, recordings)")
    args = p.parse_args(argv)
    if args.quick:
        args.hold = args.hold or 10.0
        args.max_concurrency = args.max_concurrency or 10
        args.steps_ivr = [4, 10]
        args.steps_bridged = [4, 10]
        args.rates = [10]
        args.setup_seconds = 5.0
        args.idle_seconds = 5.0
        args.budget = 100.0
    else:
        args.hold = args.hold or 20.0
        args.max_concurrency = args.max_concurrency or 250
        args.steps_ivr = [10, 40, 80, 120, 150, 200, 250]
        args.steps_bridged = [10, 40, 75, 100, 150, 200, 250]
        args.rates = [10, 20, 30, 40, 50]
        args.setup_seconds = 10.0
        args.idle_seconds = 10.0
        args.budget = 480.0
    if args.hold < 8:
        p.error("--hold must be at least 8 s (prompt stats are read at hold - 2 s)")
    args.steps_ivr = [s for s in args.steps_ivr if s <= args.max_concurrency] or [args.max_concurrency]
    args.steps_bridged = [s for s in args.steps_bridged if s <= args.max_concurrency] or [args.max_concurrency]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted; children stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

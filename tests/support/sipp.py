"""Running the scenarios of hotline.sipp in the tests: a UAS in the background, a UAC to completion (async,
for the front's tests; sync, for the cell's), and what they logged."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hotline.sipp import command
from tests.support.cell import HOST, rtp_base
from tests.support.ports import free_port


@dataclass
class SippResult:
    returncode: int
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def register_keys(user: str, contact: str, expect: int = 200) -> dict[str, str]:
    """The keys of scenario ``register``: ``user`` registers ``contact`` (host:port) and expects status
    ``expect``; its password goes in ``auth``."""
    return {"user": user, "contact": contact, "expect": str(expect)}


class SippUas:
    """A sipp UAS in the background (a cell or an agent phone). Counts the INVITEs it received."""

    def __init__(self, workdir: Path, name: str, port: int, scenario: str) -> None:
        self.workdir = workdir
        self.name = name
        self.port = port
        self.scenario = scenario
        self.log_file = workdir / f"{name}.log"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        cmd = command(
            self.scenario,
            local_port=self.port,
            error_file=self.workdir / f"{self.name}.err",
            extra=["-trace_logs", "-log_file", str(self.log_file)],
        )
        self._proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        await asyncio.sleep(0.3)
        if self._proc.returncode is not None:
            raise RuntimeError(f"sipp uas {self.name} exited at once with {self._proc.returncode}")

    def invites(self) -> set[str]:
        if not self.log_file.exists():
            return set()
        return {ln.split()[1] for ln in self.log_file.read_text().splitlines() if ln.startswith("INVITE ")}

    async def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run_uac(
    workdir: Path,
    name: str,
    scenario: str,
    target_port: int,
    service: str,
    calls: int = 1,
    rate: int = 10,
    pause_ms: int = 0,
    local_port: int = 0,
    timeout_s: int = 40,
    keys: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> SippResult:
    """Run a sipp UAC to completion against the front on 127.0.0.1:target_port."""
    error_file = workdir / f"{name}.err"
    cmd = command(
        scenario,
        f"{HOST}:{target_port}",
        service=service,
        local_port=local_port or None,
        calls=calls,
        rate=rate,
        limit=calls,
        pause_ms=pause_ms,
        keys=keys,
        auth=auth,
        timeout_s=timeout_s,
        timeout_error=True,
        error_file=error_file,
    )
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout_s + 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    return SippResult(proc.returncode or 0, (stderr.decode(errors="replace") + errors)[-4000:])


def run_sipp(
    scenario: str, port: int, workdir: Path, keys: Mapping[str, str] | None = None, timeout: float = 40.0
) -> subprocess.CompletedProcess[str]:
    """Run one call of ``scenario`` against a cell on 127.0.0.1:port, its logs (-trace_err, -trace_msg) in
    ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = command(
        scenario,
        f"{HOST}:{port}",
        local_port=free_port(tcp=False),
        media_port=rtp_base() + 100,
        calls=1,
        keys=keys,
        timeout_s=int(timeout) - 5,
        extra=["-trace_err", "-trace_msg"],
    )
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False)


def sipp_log(workdir: Path, suffix: str) -> str:
    return "\n".join(p.read_text(errors="replace") for p in workdir.glob(f"*{suffix}"))

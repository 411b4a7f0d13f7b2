"""Child processes of `hotline up`: start, forward their logs, restart on death with backoff, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError
from hotline.metrics import MULTIPROC_ENV, child_exited

log = logging.getLogger(__name__)

OnExit = Callable[["Child", int], Awaitable[None]]


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    stop_timeout: float = 10.0
    restart: bool = True
    ready: Callable[[], Awaitable[bool]] | None = None  # polled after start until True
    ready_timeout: float = 20.0
    on_exit: OnExit | None = None
    on_line: Callable[[str], None] | None = None  # each line the child prints, before it is logged


@dataclass
class Child:
    """One supervised process. Owned by the supervisor's event loop; not thread-safe."""

    spec: ChildSpec
    state: str = "new"  # new, starting, running, restarting, stopping, stopped, failed
    pid: int | None = None
    restarts: int = 0
    last_exit: int | None = None
    started_at: float | None = None
    _proc: asyncio.subprocess.Process | None = field(default=None, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stopping: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _settled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.state == "running",
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "uptime_s": round(time.monotonic() - self.started_at, 1) if self.started_at and self.pid else None,
        }

    async def start(self) -> None:
        """Start the watch loop and wait until the first run is ready (or has failed)."""
        self._task = asyncio.create_task(self._watch(), name=f"child:{self.name}")
        waiter = asyncio.create_task(self._settled.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=self.spec.ready_timeout + 5, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if self._task in done:
            self._task.result()
        if not self._ready.is_set():
            raise ChildFailed(f"{self.name} did not become ready within {self.spec.ready_timeout:.0f} s")

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = {**os.environ, **(self.spec.env or {})}
        return await asyncio.create_subprocess_exec(
            *self.spec.argv,
            env=env,
            cwd=self.spec.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )

    async def _forward(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        child_log = logging.getLogger(f"child.{self.name}")
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            if self.spec.on_line is not None:
                self.spec.on_line(line)
            child_log.info("%s", line)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> bool:
        if self.spec.ready is None:
            return True
        deadline = time.monotonic() + self.spec.ready_timeout
        while time.monotonic() < deadline and proc.returncode is None:
            with contextlib.suppress(Exception):
                if await self.spec.ready():
                    return True
            await asyncio.sleep(0.2)
        return False

    async def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping:
            self.state = "starting" if self.restarts == 0 else "restarting"
            proc = self._proc = await self._spawn()
            self.pid, self.started_at = proc.pid, time.monotonic()
            forward = asyncio.create_task(self._forward(proc))
            if await self._wait_ready(proc):
                self.state = "running"
                self._ready.set()
                log.info("%s running (pid %d)", self.name, proc.pid)
            elif proc.returncode is None:
                log.warning("%s not ready within %.0f s: killing it", self.name, self.spec.ready_timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            self._settled.set()
            code = await proc.wait()
            await forward
            dead_files = (self.spec.env or {}).get(MULTIPROC_ENV)
            child_exited(Path(dead_files) if dead_files else None, proc.pid)
            self.last_exit, self.pid = code, None
            ran = time.monotonic() - (self.started_at or 0)
            if self._stopping:
                break
            log.warning("%s exited with code %d after %.1f s", self.name, code, ran)
            if self.spec.on_exit is not None:
                try:
                    await self.spec.on_exit(self, code)
                except Exception:
                    log.exception("clean-up after %s exited failed", self.name)
            if not self.spec.restart:
                self.state = "failed"
                return
            backoff = 0.5 if ran > 30 else min(backoff * 2, 15.0)
            self.state = "restarting"
            self.restarts += 1
            await asyncio.sleep(backoff)
        self.state = "stopped"

    def send_signal(self, sig: int) -> None:
        """Send a signal to the running process (e.g. SIGHUP to reload); nothing if it is not running."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """Ask the child to stop; kill it if it has not exited within the spec's stop timeout."""
        self._stopping = True
        self.state = "stopping"
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), self.spec.stop_timeout)
            except TimeoutError:
                log.warning("%s did not stop within %.0f s: killing it", self.name, self.spec.stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.state = "stopped"


class ChildFailed(HotlineError):
    pass

"""A cell under test: ``python -m hotline.sip.cell`` as a child process, its JSON status lines collected by a
thread. Handlers for it are in tests.support.sip_handlers (``--handler tests.support.sip_handlers:NAME``)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import ROOT

HOST = "127.0.0.1"


def rtp_base() -> int:
    """A random base for a cell's RTP ports (it takes the next free ones from there)."""
    return random.randrange(30000, 60000, 200)


@dataclass
class CellProcess:
    """``python -m hotline.sip.cell`` as a child process; its JSON status lines are collected by a thread."""

    name: str
    port: int
    prompts: Path
    recordings: Path
    handler: str = "hotline.sip.demo:handle"
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None
    stderr_path: Path | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.name}@{HOST}:{self.port}"

    def start(self, wait_ready: bool = True) -> CellProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        env.update(self.extra_env)
        self.stderr_path = self.recordings.parent / f"{self.name}.stderr"
        self.recordings.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "hotline.sip.cell", "--name", self.name, "--host", HOST, "--port", str(self.port),
            "--prompts", str(self.prompts), "--recordings", str(self.recordings), "--rtp-port", str(rtp_base()),
            "--handler", self.handler, *self.extra_args,
        ]  # fmt: skip
        with self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait_ready:
            self.wait_event("ready", timeout=15)
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                if line.startswith("{"):
                    self.events.append(json.loads(line))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_event(self, event: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events:
                    if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc is not None and self.proc.poll() is not None and not self._more()):
                    raise AssertionError(
                        f"cell {self.name}: no {event!r} {match} in {timeout} s; got "
                        f"{[e.get('event') for e in self.events]}\nstderr:\n{self.stderr()}"
                    )
                self._cond.wait(min(left, 0.2))

    def _more(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def find(self, event: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("event") == event]

    def stderr(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


StartCell = Callable[..., CellProcess]  # the ``start_cell`` fixture of tests/sip

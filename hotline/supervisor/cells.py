"""The engine cells as children of the supervisor: how many, their ports, readiness and clean-up."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from db import calls
from hotline.config import Settings
from hotline.supervisor.children import Child, ChildSpec
from hotline.supervisor.metrics import child_env

log = logging.getLogger(__name__)


def salvage_recording(path: Path) -> tuple[int, int, float, int, str] | None:
    """The stereo WAV a dead cell could not write, from its two mono parts as they are on disk (headers
    finished here; both ran until the death, so the agent part started as much later as it is shorter).
    (channels, rate, seconds, size, sha256), or None when nothing was recorded."""
    import hashlib

    from hotline.sip.recording import finish_header, merge_stereo, wav_frames

    caller = path.with_name(path.stem + ".caller.part.wav")
    agent = path.with_name(path.stem + ".agent.part.wav")
    parts = [p for p in (caller, agent) if p.exists()]
    if not parts:
        return None
    for part in parts:
        finish_header(part)
    left = wav_frames(caller) if caller.exists() else 0
    right = wav_frames(agent) if agent.exists() else 0
    seconds = merge_stereo(caller if left else None, agent if right else None, max(left - right, 0), path)
    for part in parts:
        part.unlink(missing_ok=True)
    data = path.read_bytes()
    return 2, 8000, seconds, len(data), hashlib.sha256(data).hexdigest()


def cell_name(index: int) -> str:
    return f"cell{index}"


def cells_needed(settings: Settings, calls_per_cell: int) -> int:
    """Configured count, else enough cells of the detected size for the target concurrency."""
    if settings.sip.cells is not None:
        return settings.sip.cells
    return max(1, math.ceil(settings.sip.target_concurrency / max(calls_per_cell, 1)))


class CellChild:
    """One supervised cell process: ready when it prints its `ready` line; its open calls are closed as
    failed when it dies."""

    def __init__(self, settings: Settings, index: int, config_args: Sequence[str], pool: Any) -> None:
        self.release: Callable[[str], Awaitable[int]] | None = None  # ends the front's dialogs with a cell
        self.index = index
        self.name = cell_name(index)
        self.port = settings.sip.cell_base_port + index - 1
        self.host = settings.sip.cell_host
        self.max_calls: int | None = None
        self._pool = pool
        self._ready = asyncio.Event()
        self.child = Child(
            ChildSpec(
                name=self.name,
                argv=[sys.executable, "-m", "hotline.cell", *config_args, "--name", self.name, "--index", str(index)],
                env=child_env(settings, "cell"),
                ready=self._is_ready,
                ready_timeout=20,
                stop_timeout=settings.sip.drain_timeout + 15,
                on_exit=self._exited,
                on_line=self._line,
            )
        )

    def _line(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        if record.get("event") == "ready":
            self.max_calls = int(record.get("max_calls", 0)) or None
            self._ready.set()

    async def _is_ready(self) -> bool:
        if self._ready.is_set():
            self._ready.clear()  # the next start must announce itself again
            return True
        return False

    async def _exited(self, child: Child, code: int) -> None:
        """The cell died: its callers get a BYE from the front at once, each open record gets what was recorded
        so far (a partial recording) and is closed as failed; its IVR path is the one kept as the call went."""
        if self.release is not None:
            try:
                released = await self.release(f"{self.host}:{self.port}")
            except Exception as exc:  # the front may be down too; the records are closed all the same
                log.error("%s died: its callers could not be released by the front: %s", self.name, exc)
            else:
                if released:
                    log.warning("%s died: the front ended its %d call(s) (BYE to the callers)", self.name, released)
        async with self._pool.acquire() as conn:
            for call_id, path in await calls.open_recordings_of_cell(conn, self.name):
                facts = await asyncio.to_thread(salvage_recording, Path(path))
                if facts is not None:
                    await calls.add_recording(conn, call_id, str(path), *facts, partial=True)
            closed = await calls.fail_open_calls_of_cell(conn, self.name, f"cell exited with code {code}")
        if closed:
            log.warning("%s died: %d call record(s) closed as failed", self.name, closed)

    async def start(self) -> None:
        await self.child.start()

    async def stop(self) -> None:
        await self.child.stop()
        async with self._pool.acquire() as conn:
            closed = await calls.fail_open_calls_of_cell(conn, self.name, "cell stopped before its calls ended")
        if closed:
            log.warning("%s stopped with %d call(s) still open: closed as failed", self.name, closed)

    def health(self) -> dict[str, Any]:
        return {**self.child.health(), "sip": f"{self.host}:{self.port}", "max_calls": self.max_calls}

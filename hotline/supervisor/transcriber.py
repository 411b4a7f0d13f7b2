"""The transcription service (`python -m hotline.transcribe`) as a child of the supervisor, when a model is there.

Without a usable model at ``transcribe.model_path`` the service runs without it: one warning names the path,
calls keep their recordings, and the post-call backlog transcribes them once a transcription service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from hotline.config import Settings
from hotline.supervisor.children import Child, ChildFailed, ChildSpec
from hotline.supervisor.metrics import child_env
from hotline.transcribe.models import ModelError, check_model_path

log = logging.getLogger(__name__)

NAME = "transcriber"
READY_LINE = "transcribing on ws://"  # logged by hotline.transcribe once its websocket listens
READY_TIMEOUT = 180.0  # the large Chinese model takes a while to load in every worker


def model_problem(settings: Settings) -> str | None:
    """Why the configured model cannot be used, naming the path; None when it looks usable."""
    try:
        check_model_path(settings.transcribe.model_path)
    except ModelError as exc:
        return str(exc)
    return None


class TranscriberChild:
    """One supervised transcription service, restarted with backoff like the cells. Its start does not hold up
    the engine: calls that arrive while the model loads go to the backlog."""

    def __init__(self, settings: Settings, config_args: Sequence[str]) -> None:
        t = settings.transcribe
        self.url = f"ws://{t.host}:{t.port}/asr"
        self.model_path = t.model_path
        self._ready = asyncio.Event()
        self._starting: asyncio.Task[None] | None = None
        self.child = Child(
            ChildSpec(
                name=NAME,
                argv=[sys.executable, "-m", "hotline.transcribe", *config_args],
                env=child_env(settings, "transcriber"),
                ready=self._is_ready,
                ready_timeout=READY_TIMEOUT,
                stop_timeout=15,
                on_line=self._line,
            )
        )

    def _line(self, line: str) -> None:
        if READY_LINE in line:
            self._ready.set()

    async def _is_ready(self) -> bool:
        if self._ready.is_set():
            self._ready.clear()  # a restart must announce itself again
            return True
        return False

    def start(self) -> None:
        """Start the child in the background."""
        self._starting = asyncio.create_task(self._start(), name="transcriber-start")

    async def _start(self) -> None:
        try:
            await self.child.start()
        except ChildFailed as exc:
            log.error("%s; it keeps being restarted", exc)

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        await self.child.stop()

    def health(self) -> dict[str, Any]:
        return {**self.child.health(), "ws": self.url, "model": str(self.model_path)}


def off_health(problem: str) -> dict[str, Any]:
    """The health entry of a service running without transcription (not an error: recordings wait)."""
    return {"ok": True, "state": "off", "reason": problem}

"""A cell: one process, one pjsua2 endpoint on its own SIP port, an async handler per inbound call.

    python -m hotline.sip.cell --name cell1 --host 127.0.0.1 --port 5070 --prompts DIR --recordings DIR

Handler protocol: ``async def handle(call: CallLeg) -> None``, loaded from ``--handler module:function``
(default ``hotline.sip.demo:handle``). The handler may declare the prompt files it plays in an attribute
``prompts`` (see `uses_prompts`); the cell refuses to start when one of them is missing or is not an 8 kHz
mono 16-bit WAV. When the handler returns or fails, the cell writes the recording, hangs up the call and
the legs the handler dialled.

stdout carries one JSON object per line for each state change (``ready``, ``call_incoming``, ``call_ended``,
``draining``, ``stopped``, and what handlers report with ``call.note``). Caller numbers appear masked only.
SIGTERM (or SIGINT) drains: new INVITEs get 503 with Retry-After, running calls get ``--drain-timeout``
seconds to finish, then they are hung up and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import signal
import sys
import time
import wave
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from hotline.clock import SYSTEM, Clock, from_environment
from hotline.logs import setup_logging
from hotline.sip.call import CallContext, CallEnded, CallLeg
from hotline.sip.engine import EngineConfig, PjEngine, SipError
from hotline.sip.recording import RATE

log = logging.getLogger(__name__)

DEFAULT_HANDLER = "hotline.sip.demo:handle"


class Handler(Protocol):
    def __call__(self, call: CallLeg) -> Awaitable[None]: ...


class CellError(Exception):
    pass


def uses_prompts(*names: str) -> Callable[[Callable[[CallLeg], Awaitable[None]]], Any]:
    """Declare the prompt files (relative to the prompt directory) a handler plays, checked at start-up."""

    def mark(fn: Callable[[CallLeg], Awaitable[None]]) -> Any:
        fn.prompts = tuple(names)  # type: ignore[attr-defined]
        return fn

    return mark


def load_handler(spec: str) -> Handler:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CellError(f"--handler {spec!r}: expected module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CellError(f"--handler {spec!r}: cannot import {module_name}: {exc}") from None
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise CellError(f"--handler {spec!r}: {module_name} has no callable {attr}")
    return handler  # type: ignore[no-any-return]


def check_prompts(prompts_dir: Path, names: Iterable[str]) -> None:
    """Raise CellError naming the first declared prompt that is missing or not an 8 kHz mono 16-bit WAV."""
    for name in names:
        path = prompts_dir / name
        if not path.is_file():
            raise CellError(f"prompt file {path} is missing")
        try:
            with wave.open(str(path), "rb") as w:
                fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
        except (wave.Error, EOFError) as exc:
            raise CellError(f"prompt file {path} is not a WAV file ({exc}); expected 8 kHz mono 16-bit PCM") from None
        if fmt != (RATE, 1, 2):
            raise CellError(
                f"prompt file {path} is {fmt[0]} Hz, {fmt[1]} channel(s), {8 * fmt[2]}-bit; "
                "expected 8 kHz mono 16-bit PCM"
            )


def print_status(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class Cell:
    """Runs a PjEngine and one handler task per accepted inbound call. All methods on one asyncio loop."""

    def __init__(
        self,
        config: EngineConfig,
        handler: Handler,
        prompts: Path,
        recordings: Path,
        drain_timeout: float = 30.0,
        status: Callable[[dict[str, Any]], None] = print_status,
        clock: Clock = SYSTEM,
    ) -> None:
        self.config = config
        self.clock = clock
        self.handler = handler
        self.context = CallContext(config.name, Path(prompts), Path(recordings), clock)
        self.drain_timeout = drain_timeout
        self._status_out = status
        self.engine = PjEngine(config, CallLeg, on_incoming=self._incoming)
        self.tasks: set[asyncio.Task[None]] = set()

    def status(self, event: str, **fields: Any) -> None:
        self._status_out({"ts": round(self.clock.timestamp(), 3), "cell": self.config.name, "event": event, **fields})

    async def start(self) -> None:
        check_prompts(self.context.prompts, getattr(self.handler, "prompts", ()))
        self.context.recordings.mkdir(parents=True, exist_ok=True)
        await self.engine.start()
        self.status(
            "ready",
            sip=f"{self.config.host}:{self.config.port}",
            max_legs=self.engine.max_legs,
            max_calls=self.engine.max_legs // self.config.legs_per_call,
        )

    async def stop(self) -> None:
        """Stop accepting (503), give running calls ``drain_timeout`` seconds, hang up the rest, stop pjsua."""
        self.engine.accepting = False
        self.status("draining", calls=len(self.tasks))
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=self.drain_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)
        await self.engine.stop()
        self.status("stopped")

    def _incoming(self, call: CallLeg) -> None:
        call.context = self.context
        call.on_note = lambda event, fields: self.status(event, leg=call.leg_id, **fields)
        task = asyncio.create_task(self._serve(call), name=f"call-{call.leg_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, call: CallLeg) -> None:
        self.status("call_incoming", leg=call.leg_id, caller=call.caller_masked)
        outcome = "completed"
        try:
            await self.handler(call)
        except CallEnded:
            outcome = "caller_hung_up"
        except asyncio.CancelledError:
            outcome = "drained"
        except Exception as exc:
            outcome = "handler_error"
            log.exception("handler failed on leg %d: %s", call.leg_id, type(exc).__name__)
        recording = None
        try:
            recording = await call.stop_recording()
        except Exception as exc:
            log.error("could not write the recording of leg %d: %s", call.leg_id, exc)
        for leg in [*call.children, call]:
            with contextlib.suppress(SipError):
                await leg.hangup()
        end = call.end
        self.status(
            "call_ended",
            leg=call.leg_id,
            outcome=outcome,
            status_code=end.status_code if end else None,
            reason=end.reason if end else None,
            seconds=round(time.monotonic() - call.created, 2),
            recording=str(recording) if recording else None,
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m hotline.sip.cell", description="Run one SIP engine cell.")
    p.add_argument("--name", required=True, help="cell name, used in logs and as the SIP user of the cell")
    p.add_argument("--host", default="127.0.0.1", help="address to bind SIP and RTP to")
    p.add_argument("--port", type=int, default=5070, help="SIP UDP port")
    p.add_argument("--prompts", type=Path, required=True, help="directory of prompt WAVs")
    p.add_argument("--recordings", type=Path, required=True, help="directory for call recordings")
    p.add_argument("--rtp-port", type=int, default=20000, help="first RTP port")
    p.add_argument("--rtp-port-range", type=int, default=100, help="number of RTP ports to use from --rtp-port")
    p.add_argument("--handler", default=DEFAULT_HANDLER, help="module:function of the call handler")
    p.add_argument("--drain-timeout", type=float, default=30.0, help="seconds calls get to finish on SIGTERM")
    p.add_argument("--poll-ms", type=int, default=1000, help="longest block of the pj thread in libHandleEvents")
    p.add_argument("--media-thread", action="store_true", help="handle RTP on a pjmedia thread of its own")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    handler = load_handler(args.handler)
    config = EngineConfig(
        name=args.name,
        host=args.host,
        port=args.port,
        rtp_port=args.rtp_port,
        rtp_port_range=args.rtp_port_range,
        poll_ms=args.poll_ms,
        media_thread=args.media_thread,
    )
    cell = Cell(
        config, handler, args.prompts, args.recordings, drain_timeout=args.drain_timeout, clock=from_environment()
    )
    await cell.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await cell.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)
    try:
        return asyncio.run(amain(args))
    except (CellError, SipError) as exc:
        print(f"cell {args.name}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

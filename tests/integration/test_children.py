import asyncio
import os
import signal
import sys

import pytest

from hotline.supervisor.children import Child, ChildFailed, ChildSpec

SLEEPER = [sys.executable, "-c", "import time, sys; print('hello', flush=True); time.sleep(60)"]


async def _until(predicate, limit: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_a_child_that_dies_is_restarted_and_its_exit_handled() -> None:
    exits: list[int] = []

    async def on_exit(child: Child, code: int) -> None:
        exits.append(code)

    child = Child(ChildSpec("sleeper", SLEEPER, on_exit=on_exit, stop_timeout=2))
    await child.start()
    first_pid = child.pid
    assert child.health()["ok"] and first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    await _until(lambda: child.pid not in (None, first_pid) and child.state == "running")
    assert exits == [-signal.SIGKILL]
    assert child.restarts == 1
    await child.stop()
    assert child.state == "stopped" and exits == [-signal.SIGKILL]


async def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
    ]
    child = Child(ChildSpec("stubborn", stubborn, stop_timeout=0.5))
    await child.start()
    pid = child.pid
    await asyncio.sleep(0.3)
    await child.stop()
    assert child.state == "stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # type: ignore[arg-type]


async def test_a_child_that_never_gets_ready_fails_start() -> None:
    async def never() -> bool:
        return False

    child = Child(ChildSpec("lazy", SLEEPER, ready=never, ready_timeout=0.5, stop_timeout=1))
    with pytest.raises(ChildFailed, match="lazy did not become ready"):
        await child.start()
    await child.stop()

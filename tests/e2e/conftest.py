"""The whole service as an operator runs it: `hotline up` with Kamailio and cells on loopback ports."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.cli import env_for, hotline
from tests.support.ports import free_block, free_port
from tests.support.stack import WORKDAY_MORNING, Stack


@pytest.fixture
def stack_clock() -> str:
    """Where the stack's clock starts (``HOTLINE_CLOCK``); it runs on from there. A test parametrizes
    ``stack_clock`` to walk the night or holiday path: no test depends on the hour it happens to run at."""
    return WORKDAY_MORNING


@pytest.fixture
def stack_env() -> dict[str, str]:
    """More HOTLINE_* settings for `stack`; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def stack_files() -> dict[str, str]:
    """Files written over the copy of ivr_flows/ before the stack starts (path relative to it -> text)."""
    return {}


@pytest.fixture
def stack(
    db: str, tmp_path: Path, stack_clock: str, stack_env: dict[str, str], stack_files: dict[str, str]
) -> Iterator[Stack]:
    sip_port = free_block(1)
    cell_base = free_block(3)
    gateway_port = free_block(1, 41000, 45000)
    env = {
        "HOTLINE_SIP_OUTBOUND_GATEWAY": f"127.0.0.1:{gateway_port}",
        "HOTLINE_SIP_LISTEN_PORT": str(sip_port),
        "HOTLINE_SIP_CELL_BASE_PORT": str(cell_base),
        "HOTLINE_SIP_CELLS": "2",
        "HOTLINE_SIP_RTP_PORT_BASE": str(free_block(1, 20000, 28000)),
        "HOTLINE_SIP_KAMAILIO_HTTP_PORT": str(free_port()),
        "HOTLINE_SIP_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "HOTLINE_SIP_DRAIN_TIMEOUT": "5",
        "HOTLINE_STATE_DIR": str(tmp_path / "state"),
        "HOTLINE_PROMPTS_BUILD_DIR": str(tmp_path / "prompts"),
        "HOTLINE_CLOCK": stack_clock,
        # The ACD tests model phones that go away after their agent went available, so the stack lets agents go
        # available unregistered; tests/e2e/test_console_browser.py turns the check on (the console's default).
        "HOTLINE_CONSOLE_REQUIRE_REGISTRATION": "false",
        **stack_env,
    }
    flows = tmp_path / "flows"
    flows.mkdir()
    for src in (ROOT / "ivr_flows").glob("*.yaml"):
        shutil.copy(src, flows / src.name)
    shutil.copytree(ROOT / "ivr_flows" / "schedules", flows / "schedules")
    for name, text in stack_files.items():
        (flows / name).write_text(text, encoding="utf-8")
    env["HOTLINE_FLOWS_DIR"] = str(flows)
    http_port = free_port()
    env["HOTLINE_HTTP_PORT"] = str(http_port)
    built = hotline(db, "prompts", "build", **env)
    assert built.returncode == 0, built.stderr
    with open(tmp_path / "up.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "up"],
            cwd=ROOT,
            env=env_for(db, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    s = Stack(db, sip_port, http_port, proc, tmp_path, env, gateway_port)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"hotline up exited early: {s.log[-3000:]}")
        try:
            if s.health().get("status") == "ok":
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"hotline up did not become healthy: {s.log[-3000:]}")
        time.sleep(0.3)
    yield s
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"hotline up did not stop on SIGTERM: {s.log[-3000:]}") from None
    assert code == 0, s.log[-3000:]
    assert "Traceback" not in s.log, s.log[-3000:]

"""The whole service as an operator runs it: `hotline up` with Kamailio and cells on loopback ports."""

from __future__ import annotations

import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.front.sipp import register_scenario
from tests.integration.cli import ROOT, env_for, hotline

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_udp_block(count: int, low: int = 30000, high: int = 39000) -> int:
    for _ in range(200):
        base = random.randrange(low, high)
        if all(_udp_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free block of UDP ports")


@dataclass
class Stack:
    db: str
    sip_port: int
    http_port: int
    proc: subprocess.Popen[bytes]
    tmp: Path
    env: dict[str, str]
    gateway_port: int  # where the front sends calls the service places (callbacks); tests listen there

    @property
    def flows(self) -> Path:
        return self.tmp / "flows"

    @property
    def log(self) -> str:
        return (self.tmp / "up.log").read_text(errors="replace")

    def health(self) -> dict[str, object]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=3) as resp:
                data: dict[str, object] = json.load(resp)
        except urllib.error.HTTPError as err:
            data = json.load(err)
        return data

    def sipp(
        self, scenario: str, calls: int, *extra: str, number: str = "12348", timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        """Run sipp as callers through the front; returns when all calls are done."""
        local = free_udp_block(1, 41000, 45000)
        media = free_udp_block(2 * calls + 4, 45000, 50000)
        cmd = [
            "sipp",
            "-sf",
            str(SCENARIOS / scenario),
            "-s",
            number,
            f"127.0.0.1:{self.sip_port}",
            "-m",
            str(calls),
            "-l",
            str(calls),
            "-r",
            "20",
            "-p",
            str(local),
            "-mp",
            str(media),
            "-nostdin",
            "-timeout",
            str(int(timeout - 5)),
            "-timeout_error",
            "-trace_err",
            "-error_file",
            str(self.tmp / f"sipp-{local}.err"),
            *extra,
        ]
        return subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True, timeout=timeout)

    def sipp_register(self, user: str, password: str, phone_port: int) -> subprocess.CompletedProcess[str]:
        """Register an agent's phone (its Contact: 127.0.0.1:phone_port) with digest auth through the front."""
        scenario = self.tmp / f"register-{user}.xml"
        scenario.write_text(register_scenario(user, password, f"127.0.0.1:{phone_port}", 200))
        cmd = [
            "sipp",
            "-sf",
            str(scenario),
            f"127.0.0.1:{self.sip_port}",
            "-m",
            "1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "15",
            "-timeout_error",
        ]
        return subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True, timeout=30)

    def callers_in_background(self, calls: int, hold_ms: int) -> subprocess.Popen[bytes]:
        """Callers who talk and stay `hold_ms` while the test does something else; kill() when done."""
        media = free_udp_block(2 * calls + 4, 45000, 50000)
        cmd = [
            "sipp",
            "-sf",
            str(SCENARIOS / "uac_hold.xml"),
            "-s",
            "12348",
            f"127.0.0.1:{self.sip_port}",
            "-m",
            str(calls),
            "-l",
            str(calls),
            "-r",
            "20",
            "-d",
            str(hold_ms),
            "-p",
            "0",
            "-mp",
            str(media),
            "-nostdin",
            "-timeout",
            str(hold_ms // 1000 + 30),
        ]
        return subprocess.Popen(cmd, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def stack_env() -> dict[str, str]:
    """More HOTLINE_* settings for `stack`; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def stack(db: str, tmp_path: Path, stack_env: dict[str, str]) -> Iterator[Stack]:
    sip_port = free_udp_block(1)
    cell_base = free_udp_block(3)
    gateway_port = free_udp_block(1, 41000, 45000)
    env = {
        "HOTLINE_SIP_OUTBOUND_GATEWAY": f"127.0.0.1:{gateway_port}",
        "HOTLINE_SIP_LISTEN_PORT": str(sip_port),
        "HOTLINE_SIP_CELL_BASE_PORT": str(cell_base),
        "HOTLINE_SIP_CELLS": "2",
        "HOTLINE_SIP_RTP_PORT_BASE": str(free_udp_block(1, 20000, 28000)),
        "HOTLINE_SIP_KAMAILIO_HTTP_PORT": str(free_port()),
        "HOTLINE_SIP_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "HOTLINE_SIP_DRAIN_TIMEOUT": "5",
        "HOTLINE_STATE_DIR": str(tmp_path / "state"),
        "HOTLINE_PROMPTS_BUILD_DIR": str(tmp_path / "prompts"),
        **stack_env,
    }
    flows = tmp_path / "flows"
    flows.mkdir()
    for src in (ROOT / "ivr_flows").glob("*.yaml"):
        shutil.copy(src, flows / src.name)
    shutil.copytree(ROOT / "ivr_flows" / "schedules", flows / "schedules")
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

"""Run the real `hotline` command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import ROOT as ROOT
from tests.support.ports import free_port

SECRET = "integration-test-secret-0123456789"


def env_for(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "PG", "PROMETHEUS_"))}
    # Tests run many services at once: each gets its own metrics port and no embedded Prometheus unless it asks
    # (tests/e2e/test_monitoring.py starts its own), and makes no monthly report by itself (on the real date,
    # from the 20th on, into the checkout's var/reports/; tests/integration/test_report.py tests the schedule).
    env.update(
        HOTLINE_METRICS_PORT=str(free_port()), HOTLINE_PROMETHEUS_ENABLED="false", HOTLINE_REPORTS_ENABLED="false"
    )
    env.update(HOTLINE_DATABASE_URL=db_url, HOTLINE_PRIVACY_SECRET=SECRET, **extra)
    return env


def hotline(
    db_url: str, *args: str, timeout: float = 60, input_text: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline", *args],
        input=input_text,
        cwd=ROOT,
        env=env_for(db_url, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(db_url: str, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hotline", *args],
        cwd=ROOT,
        env=env_for(db_url, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 15) -> tuple[int, str]:
    """Wait for a process started with `popen` (killing it after `timeout`); return its code and stderr."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err

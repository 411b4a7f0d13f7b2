"""No module reads the wall clock except hotline/clock.py: everything else takes a Clock (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hotline", "db", "agents")
CLOCK_MODULE = ROOT / "hotline" / "clock.py"

# attribute chains that read the wall clock, whatever the module was imported as
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
    ("time", "strftime"),
}
WALL_CLOCK_NAMES = {"utcnow", "time_ns", "localtime", "gmtime", "ctime"}  # `from time import ...`


def _tail(node: ast.expr) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute):
        value = node.value
        owner = value.attr if isinstance(value, ast.Attribute) else value.id if isinstance(value, ast.Name) else None
        if owner is not None:
            return owner, node.attr
    return None


def wall_clock_reads(source: str, filename: str) -> list[str]:
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _tail(node.func) in WALL_CLOCK:
            found.append(f"{filename}:{node.lineno}: {ast.unparse(node.func)}()")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if alias.name in WALL_CLOCK_NAMES | {"time"}:
                    found.append(f"{filename}:{node.lineno}: from time import {alias.name}")
    return found


def test_no_module_reads_the_wall_clock_outside_the_clock_module() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != CLOCK_MODULE:
                found += wall_clock_reads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not found, "read the time from a hotline.clock.Clock instead:\n" + "\n".join(found)


def test_the_scan_finds_every_spelling() -> None:
    source = """
import datetime as dt, time
from datetime import datetime, date
from time import time as now
a = dt.datetime.now(dt.UTC)
b = datetime.utcnow()
c = date.today()
d = time.time()
e = dt.date.today()
"""
    found = wall_clock_reads(source, "x.py")
    assert sorted(f.split(": ", 1)[1] for f in found) == sorted(
        [
            "from time import time",
            "dt.datetime.now()",
            "datetime.utcnow()",
            "date.today()",
            "time.time()",
            "dt.date.today()",
        ]
    )

"""The import-linter contract (.importlinter) covers every module, holds, and fails when a layer is crossed."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return parser


def _layered() -> list[str]:
    layers = _config()["importlinter:contract:layers"]["layers"]
    return [name.strip() for line in layers.splitlines() for name in line.replace("|", ":").split(":") if name.strip()]


def _modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_has_a_layer() -> None:
    roots = _config()["importlinter"]["root_packages"].split()
    layered = _layered()
    unplaced = [
        m
        for root in roots
        for m in _modules(root)
        if m not in roots
        and not any(m == layer or m.startswith(layer + ".") for layer in layered)
        and m
        not in {
            "hotline.__main__",
            "hotline.acd",
            "hotline.report",
            "hotline.sim",
        }  # the entry point and package docstrings
    ]
    assert not unplaced, f"modules in no layer of {CONFIG.name}: {unplaced}"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / ".importlinter"), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contract_holds_and_fails_when_pure_logic_imports_the_database(tmp_path: Path) -> None:
    roots = _config()["importlinter"]["root_packages"].split()
    for root in roots:
        shutil.copytree(ROOT / root, tmp_path / root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    crossing = tmp_path / "hotline" / "flow" / "crossing.py"
    crossing.write_text("from db import calls  # pure logic may not touch the database\n", encoding="utf-8")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "hotline.flow.crossing -> db.calls" in broken.stdout, broken.stdout

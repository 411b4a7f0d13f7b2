"""The tests' layout: shared helpers live in tests/support and nowhere else.

- a module under tests/ is a test module (``test_*.py``), a ``conftest.py``, an ``__init__.py``, or lives in
  tests/support; a helper two test modules need goes to tests/support;
- no module under tests/ imports a test module, a conftest or any test package but ``tests.support`` (pytest
  provides the fixtures of conftest.py; a fixture two folders share is defined in tests/support and imported by
  both conftests);
- one free-port helper, tests/support/ports.py: nothing else under tests/ or bench/ binds port 0 to learn a free
  port, or defines a ``free_*port*``, ``*port*_free`` or ``udp_free`` function.

The scan is syntactic (ast); the checks are proved on snippets below.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
SUPPORT = TESTS / "support"

# Test modules of a parallel change that still import moved helpers (through the re-exports in tests/conftest.py
# and tests/integration/cli.py, and test_analysis's names): drop each entry once it imports tests.support.
PENDING = {
    "tests/integration/cli.py",
    "tests/integration/test_agent_api.py",
    "tests/integration/test_cli.py",
    "tests/integration/test_ticket_api.py",
}

_PORT_HELPER = re.compile(r"free_?\w*port|port\w*_free|free_\w*block|(?:udp|tcp)_free")


def _modules(*folders: Path) -> Iterator[tuple[str, str]]:
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def _in_support(relpath: str) -> bool:
    return relpath.startswith("tests/support/")


def misplaced(relpath: str) -> list[str]:
    """A module under tests/ that is neither a test, a conftest, a package marker nor in tests/support."""
    name = relpath.rsplit("/", 1)[-1]
    if _in_support(relpath) or name in ("conftest.py", "__init__.py") or name.startswith("test_"):
        return []
    return [f"{relpath}: a helper module outside tests/support"]


def bad_imports(relpath: str, source: str) -> list[str]:
    """Imports of test code other than tests.support (absolute, relative, or by a bare module name)."""
    found = []
    for node in ast.walk(ast.parse(source, relpath)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level and not _in_support(relpath):
                found.append(f"{relpath}:{node.lineno}: a relative import (import tests.support.* instead)")
                continue
            modules = [node.module or ""]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            test_code = top == "tests" or top == "conftest" or top.startswith("test_")
            if test_code and not (module == "tests.support" or module.startswith("tests.support.")):
                found.append(f"{relpath}:{node.lineno}: imports {module} (only tests.support.* may be imported)")
    return found


def port_helpers(relpath: str, source: str) -> list[str]:
    """Code outside tests/support that finds free ports itself: binds port 0, or defines a free-port function."""
    if _in_support(relpath):
        return []
    found = []
    for node in ast.walk(ast.parse(source, relpath)):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and not node.name.startswith("test_")
            and _PORT_HELPER.search(node.name)
        ):
            found.append(f"{relpath}:{node.lineno}: defines {node.name} (use tests.support.ports)")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "bind"
            and node.args
            and isinstance(address := node.args[0], ast.Tuple)
            and len(address.elts) == 2
            and isinstance(port := address.elts[1], ast.Constant)
            and port.value == 0
        ):
            found.append(f"{relpath}:{node.lineno}: binds port 0 to find a free port (use tests.support.ports)")
    return found


def test_helpers_live_in_tests_support() -> None:
    found = [f for relpath, _ in _modules(TESTS) if relpath not in PENDING for f in misplaced(relpath)]
    assert found == [], "\n".join(found)


def test_tests_import_no_test_module_but_tests_support() -> None:
    found = [f for relpath, source in _modules(TESTS) if relpath not in PENDING for f in bad_imports(relpath, source)]
    assert found == [], "\n".join(found)


def test_one_free_port_helper() -> None:
    found = [f for relpath, source in _modules(TESTS, ROOT / "bench") for f in port_helpers(relpath, source)]
    assert found == [], "\n".join(found)
    assert port_helpers("tests/support/ports.py", (SUPPORT / "ports.py").read_text()) == []


def test_pending_entries_still_need_their_exemption() -> None:
    """An entry of PENDING that no longer breaks a rule is to be removed (or the file is gone)."""
    stale = []
    for relpath in sorted(PENDING):
        path = ROOT / relpath
        if not path.exists() or not (misplaced(relpath) or bad_imports(relpath, path.read_text(encoding="utf-8"))):
            stale.append(relpath)
    assert stale == [], f"remove from PENDING: {stale}"


@pytest.mark.parametrize(
    ("relpath", "source", "broken"),
    [
        ("tests/e2e/test_a.py", "from tests.e2e.test_stack import rows\n", True),
        ("tests/e2e/test_a.py", "from tests.e2e.conftest import Stack\n", True),
        ("tests/e2e/test_a.py", "import tests.integration.cli\n", True),
        ("tests/sip/test_a.py", "from conftest import StartCell\n", True),
        ("tests/sip/test_a.py", "from test_b import helper\n", True),
        ("tests/sip/test_a.py", "from .conftest import x\n", True),
        ("tests/unit/test_a.py", "def f():\n    from tests.front.conftest import AGENTS\n", True),
        ("tests/e2e/test_a.py", "from tests.support.stack import select\nimport tests.support\n", False),
        ("tests/e2e/test_a.py", "from hotline.flow import load_schedule\nimport testing_tools\n", False),
        ("tests/support/a.py", "from .ports import free_port\n", False),
    ],
)
def test_bad_imports_are_found(relpath: str, source: str, broken: bool) -> None:
    assert bool(bad_imports(relpath, source)) is broken


@pytest.mark.parametrize(
    ("relpath", "source", "broken"),
    [
        ("tests/front/test_a.py", "def free_udp_port(): ...\n", True),
        ("tests/front/test_a.py", "def udp_free(p): ...\n", True),
        ("tests/front/test_a.py", "def test_a_free_port_is_found(): ...\n", False),
        ("bench/a.py", "def tcp_port_free(p): ...\n", True),
        ("tests/e2e/conftest.py", "def free_udp_block(n): ...\n", True),
        ("tests/front/test_a.py", "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\n", True),
        ("tests/front/test_a.py", "s.bind((HOST, 0))\n", True),
        ("tests/front/test_a.py", "squatter.bind(('127.0.0.1', port))\n", False),
        ("tests/support/ports.py", "def free_port(): s.bind((HOST, 0))\n", False),
    ],
)
def test_port_helpers_are_found(relpath: str, source: str, broken: bool) -> None:
    assert bool(port_helpers(relpath, source)) is broken


def test_misplaced_helpers_are_found() -> None:
    assert misplaced("tests/front/sipp.py") and misplaced("tests/sip/sipkit.py")
    assert not misplaced("tests/front/test_cells.py") and not misplaced("tests/sip/conftest.py")
    assert not misplaced("tests/support/sipp.py") and not misplaced("tests/e2e/__init__.py")

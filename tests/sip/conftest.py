"""Fixtures for cell processes against real SIP peers on 127.0.0.1 (and the front's, for test_through_front)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.audio import make_prompts
from tests.support.cell import CellProcess, StartCell
from tests.support.front import front_db, start_front, workdir
from tests.support.ports import free_port
from tests.support.sip import RtpPeer

__all__ = ["front_db", "prompts", "rtp", "start_cell", "start_front", "workdir"]


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    return make_prompts(tmp_path / "prompts")


@pytest.fixture
def start_cell(tmp_path: Path, prompts: Path) -> Iterator[StartCell]:
    cells: list[CellProcess] = []

    def start(name: str = "cell1", handler: str = "hotline.sip.demo:handle", **kw: object) -> CellProcess:
        """A cell running ``handler`` ("module:function", or the name of one in tests.support.sip_handlers)."""
        if ":" not in handler:
            handler = f"tests.support.sip_handlers:{handler}"
        cell = CellProcess(name, free_port(), prompts, tmp_path / f"rec-{name}", handler, **kw)  # type: ignore[arg-type]
        cells.append(cell)
        return cell.start()

    yield start
    for cell in cells:
        cell.stop()


@pytest.fixture
def rtp() -> Iterator[RtpPeer]:
    peer = RtpPeer()
    yield peer
    peer.close()

"""Fixtures for cell processes against real SIP peers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sipkit import CellProcess, RtpPeer, free_udp_port, make_prompts

StartCell = Callable[..., CellProcess]


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    return make_prompts(tmp_path / "prompts")


@pytest.fixture
def start_cell(tmp_path: Path, prompts: Path) -> Iterator[StartCell]:
    cells: list[CellProcess] = []

    def start(name: str = "cell1", handler: str = "hotline.sip.demo:handle", **kw: object) -> CellProcess:
        cell = CellProcess(name, free_udp_port(), prompts, tmp_path / f"rec-{name}", handler, **kw)  # type: ignore[arg-type]
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

"""SIPVicious, the scanner attackers use first, against a real front: svmap finds no SIP device, svwar no
extension, svcrack no password even with the right one in its dictionary (it announces itself as
friendly-scanner, and the front answers scanners nothing at all). Each run is bounded in time."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from hotline.front.probe import sip_options
from tests.support.front import AGENTS, StartFront

pytestmark = [pytest.mark.sip, pytest.mark.timeout(120)]

BIN = Path(sys.executable).parent


async def sipvicious(tool: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(BIN / f"sipvicious_{tool}"),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def test_svmap_svwar_and_svcrack_find_nothing(start_front: StartFront, workdir: Path) -> None:
    front = await start_front()
    port = str(front.params.sip_port)
    names = workdir / "extensions.txt"
    names.write_text("\n".join([*AGENTS, "100", "1000", "admin", "12348"]) + "\n")
    passwords = workdir / "passwords.txt"
    passwords.write_text("\n".join(["123456", "password", AGENTS["lawyer01"], "lawyer01"]) + "\n")

    mapped = await sipvicious("svmap", "-p", port, "127.0.0.1")
    warred = await sipvicious("svwar", "-p", port, "-d", str(names), "--maximumtime", "5", "127.0.0.1")
    cracked = await sipvicious(
        "svcrack", "-p", port, "-u", "lawyer01", "-d", str(passwords), "--maximumtime", "5", "127.0.0.1"
    )

    assert "found nothing" in mapped[1] and "127.0.0.1:" + port not in mapped[1], mapped[1]
    assert "found nothing" in warred[1] and "lawyer01" not in warred[1].replace(str(names), ""), warred[1]
    assert "found nothing" in cracked[1] and AGENTS["lawyer01"] not in cracked[1].replace(str(passwords), ""), cracked[
        1
    ]
    assert await front.contacts("lawyer01") == []
    assert await sip_options("127.0.0.1", front.params.sip_port) == 200

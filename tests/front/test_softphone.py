"""A real softphone (baresip) registers through the front and takes a call that a cell places to its agent."""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.front import StartFront
from tests.support.ports import free_port
from tests.support.sipp import run_uac

pytestmark = [
    pytest.mark.sip,
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip is not installed"),
]

MODULES = Path("/usr/lib/baresip/modules")


@contextlib.asynccontextmanager
async def baresip(workdir: Path, front_port: int, user: str, password: str) -> AsyncIterator[Path]:
    """baresip with one account on the front, auto-answer, a WAV file as microphone and no sound card.

    baresip 1.0's `ausine` only produces 48 kHz and refuses an 8 kHz G.711 call, so the source is `aufile`;
    there is no audio player at all (none is needed for signalling).
    """
    confdir = workdir / "baresip"
    confdir.mkdir()
    tone = workdir / "tone.wav"
    with wave.open(str(tone), "wb") as w:  # 8 kHz like G.711, so baresip needs no resampler
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        # aufile ends the call at the end of the file: 5 s of 440 Hz outlasts the test call.
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(5 * 8000))
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    (confdir / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{free_port()}",
                f"module_path {MODULES}",
                "module g711.so",
                "module aufile.so",
                "module_app account.so",
                f"audio_source aufile,{tone}",
                "",
            ]
        )
    )
    (confdir / "accounts").write_text(
        f"<sip:{user}@127.0.0.1:{front_port}>;auth_pass={password};answermode=auto;regint=300\n"
    )
    log = workdir / "baresip.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            "baresip",
            "-f",
            str(confdir),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield log
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_baresip_registers_and_answers_a_call_from_a_cell(start_front: StartFront, workdir: Path) -> None:
    cell_port = free_port()
    front = await start_front((f"127.0.0.1:{cell_port}",))

    async with baresip(workdir, front.params.sip_port, "lawyer01", "secret") as log:
        contacts: list[str] = []
        for _ in range(40):
            contacts = await front.contacts("lawyer01")
            if contacts:
                break
            await asyncio.sleep(0.25)
        assert len(contacts) == 1 and contacts[0].startswith("sip:lawyer01"), log.read_text()

        call = await run_uac(
            workdir,
            "cell",
            "caller_silent",
            front.params.sip_port,
            "lawyer01",
            pause_ms=1000,
            local_port=cell_port,
            keys={"caller": "cell"},
        )

        assert call.ok, call.errors + log.read_text()

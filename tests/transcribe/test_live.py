"""Live websocket transcription through the real Vosk decoder (Korean model) and a real PostgreSQL."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hotline.transcribe.events import Final
from tests.support.audio import speak
from tests.support.transcribe import Service, new_call

PHRASE = "안녕하세요 감사합니다"


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    d = tmp_path_factory.mktemp("live")
    return {rate: speak(PHRASE, d / f"phrase{rate}.wav", rate, lead_silence=1.0) for rate in (16000, 8000)}


async def stream_wav(service: Service, path: Path, **config: Any) -> list[dict[str, Any]]:
    with wave.open(str(path)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    out: list[dict[str, Any]] = []
    async with service.session.ws_connect(service.url) as ws:
        await ws.send_json({"config": {"sample_rate": rate, **config}})
        step = rate  # half a second of 16-bit audio
        for i in range(0, len(pcm), step):
            await ws.send_bytes(pcm[i : i + step])
            out.append(await ws.receive_json())
        await ws.send_str(json.dumps({"eof": 1}))
        out.append(await ws.receive_json())
    return out


def finals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in results if "result" in r]


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_streamed_speech_gives_partials_then_timed_words_stored_for_the_channel(
    service: Service, pg: asyncpg.Pool, audio: dict[int, Path], rate: int
) -> None:
    call_id = await new_call(pg)
    async with service.transcriber.events.subscribe() as events:
        results = await stream_wav(service, audio[rate], call_id=str(call_id), channel="agent")
        published = [events.get_nowait() for _ in range(events.qsize())]

    partials = [r["partial"] for r in results if r.get("partial")]
    assert partials, "no partial text while the speech was streamed"
    words = [w for f in finals(results) for w in f["result"]]
    text = " ".join(f["text"] for f in finals(results)).strip()
    # espeak's Korean is far from natural speech, so the small model rarely gets the words right; what a user
    # notices is that speech yields text, placed where it was said: after the leading second of silence.
    assert text
    assert words[0]["start"] >= 0.7
    assert all(w["start"] <= w["end"] for w in words)
    with wave.open(str(audio[rate])) as w:
        duration = w.getnframes() / w.getframerate()
    assert words[-1]["end"] <= duration + 0.1

    rows = await pg.fetch("SELECT * FROM transcripts WHERE call_id = $1 ORDER BY start_ms", call_id)
    assert [r["channel"] for r in rows] == ["agent"] * len(rows)
    assert {r["source"] for r in rows} == {"live"}
    assert " ".join(r["text"] for r in rows) == text
    assert rows[0]["start_ms"] == round(words[0]["start"] * 1000)
    assert 0 < rows[0]["confidence"] <= 1
    stored_words = json.loads(rows[0]["words"])
    assert stored_words[0]["word"] == words[0]["word"]
    assert any(type(e).__name__ == "Partial" and e.channel == "agent" for e in published)


async def test_stream_that_starts_later_in_the_call_is_stored_on_the_call_timeline(
    service: Service, pg: asyncpg.Pool, audio: dict[int, Path]
) -> None:
    """An agent leg bridged 30 s into the call: its words are stored 30 s later than the stream says."""
    call_id = await new_call(pg)
    async with service.transcriber.events.subscribe() as events:
        results = await stream_wav(service, audio[8000], call_id=str(call_id), channel="agent", offset_ms=30000)
        published = [events.get_nowait() for _ in range(events.qsize())]
    words = [w for f in finals(results) for w in f["result"]]
    assert words and words[0]["start"] < 3  # the websocket answers with times from the stream's start
    rows = await pg.fetch("SELECT start_ms, words FROM transcripts WHERE call_id = $1 ORDER BY start_ms", call_id)
    assert rows[0]["start_ms"] == 30000 + round(words[0]["start"] * 1000)
    assert json.loads(rows[0]["words"])[0]["start_ms"] == rows[0]["start_ms"]
    final_events = [e for e in published if isinstance(e, Final)]
    assert final_events and final_events[0].start_ms == rows[0]["start_ms"]


async def test_stream_beyond_the_live_limit_is_refused_and_its_call_goes_to_the_backlog(
    service: Service, pg: asyncpg.Pool
) -> None:
    call_id = await new_call(pg)
    limit = service.transcriber.live_limit
    open_ws = [await service.session.ws_connect(service.url) for _ in range(limit)]
    for ws in open_ws:
        await ws.send_json({"config": {"sample_rate": 8000}})
        await ws.send_bytes(b"\0\0" * 800)
        assert "partial" in await ws.receive_json()
    async with service.session.ws_connect(service.url) as ws:
        await ws.send_json({"config": {"sample_rate": 8000, "call_id": str(call_id), "channel": "caller"}})
        refusal = await ws.receive_json()
    assert refusal["code"] == "capacity"
    assert "capacity" in refusal["error"]
    for ws in open_ws:
        await ws.close()
    state = await pg.fetchval("SELECT live_failed FROM transcription_state WHERE call_id = $1", call_id)
    assert state is not None and state.startswith("refused")


@pytest.mark.parametrize(
    ("first", "code", "mentions"),
    [
        (b"\0\0" * 100, "no_config", "config"),
        ("hello", "bad_config", "not JSON"),
        ('{"sample_rate": 8000}', "bad_config", '{"config"'),
        ('{"config": {"sample_rate": 100}}', "bad_config", "sample_rate 100"),
        ('{"config": {"sample_rate": "8k"}}', "bad_config", "sample_rate '8k'"),
        ('{"config": {"sample_rate": 8000, "channel": "both"}}', "bad_config", "channel 'both'"),
        ('{"config": {"sample_rate": 8000, "call_id": "nope"}}', "bad_config", "call_id 'nope'"),
        ('{"config": {"sample_rate": 8000, "offset_ms": -5}}', "bad_config", "offset_ms -5"),
    ],
)
async def test_malformed_client_input_gets_a_json_error_naming_it(
    service: Service, first: bytes | str, code: str, mentions: str
) -> None:
    async with service.session.ws_connect(service.url) as ws:
        if isinstance(first, bytes):
            await ws.send_bytes(first)
        else:
            await ws.send_str(first)
        reply = await ws.receive_json()
    assert reply["code"] == code
    assert mentions in reply["error"]
    assert service.transcriber.live == 0


async def test_text_frame_mid_stream_gets_an_error_and_the_stream_goes_on(service: Service) -> None:
    async with service.session.ws_connect(service.url) as ws:
        await ws.send_json({"config": {"sample_rate": 8000}})
        await ws.send_str("not audio")
        reply = await ws.receive_json()
        assert reply["code"] == "bad_frame"
        await ws.send_bytes(b"\0\0" * 800)
        assert "partial" in await ws.receive_json()
        await ws.send_str('{"eof": 1}')
        assert (await ws.receive_json())["text"] == ""
    assert service.transcriber.live == 0

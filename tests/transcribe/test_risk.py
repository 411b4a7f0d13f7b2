"""Risk flags on a caller's live words: the detector on Chinese text, and the service end to end with the real
Korean decoder streamed in real time (the model only speaks Korean, so the test taxonomy's 人身安全风险 rule is
a Korean word the model reliably hears in the test audio)."""

from __future__ import annotations

import asyncio
import json
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from hotline.tag import load_taxonomy
from hotline.transcribe.events import Risk
from hotline.transcribe.risk import RiskDetector, normalize
from tests.support.audio import speak
from tests.support.transcribe import Service, new_call

# ------------------------------------------------------------------ the detector, no IO


@pytest.fixture(scope="module")
def detector_taxonomy() -> Any:
    return load_taxonomy(None)  # the packaged taxonomy, as in production


def test_vosk_spacing_between_chinese_words_is_removed_but_kept_between_korean_words() -> None:
    assert normalize("我 老公 说 要 杀 了 我") == "我老公说要杀了我"
    assert normalize("  오디오  다 ") == "오디오 다"
    assert normalize("我 在 Room 3 等") == "我在 Room 3 等"


def test_threat_in_vosk_text_raises_the_flag_once_per_call_with_the_rule_that_matched(
    detector_taxonomy: Any,
) -> None:
    detector = RiskDetector(detector_taxonomy)
    call = UUID(int=1)
    hit = detector.check(call, "s1", "他 说 要 杀 了 我", final=False)
    assert hit is not None
    assert hit.flag == "人身安全风险"
    assert "杀" in hit.rule and hit.score >= 3
    assert detector.check(call, "s1", "他 说 要 杀 了 我 全家", final=True) is None  # reported already
    assert detector.check(UUID(int=2), "s2", "他 说 要 杀 了 我", final=True) is not None  # another call


def test_threat_split_over_two_final_results_is_seen(detector_taxonomy: Any) -> None:
    detector = RiskDetector(detector_taxonomy)
    assert detector.check("call", "s1", "他 手里 拿着", final=True) is None
    hit = detector.check("call", "s1", "刀 站 在 门口", final=True)
    assert hit is not None and "刀" in hit.rule


def test_legal_question_and_negated_threat_raise_nothing(detector_taxonomy: Any) -> None:
    detector = RiskDetector(detector_taxonomy)
    assert detector.check("c1", "s1", "我 想 咨询 一下 离婚 以后 房子 怎么 分", final=True) is None
    assert detector.check("c2", "s2", "他 没有 威胁 我 就是 工资 一直 不 给", final=True) is None
    detector.close("s1")
    assert detector.check("c1", "s1", "刀 在 哪里 买", final=True) is None  # the closed stream's context is gone


# ------------------------------------------------------------------ the service, real decoder, real time

PHRASE = "대한민국"
RISK_WORD = "유미코"  # what the Korean model hears in espeak-ng's PHRASE, run after run
CHUNK_S = 0.1  # what a cell sends per message


def taxonomy_file(directory: Path, word: str) -> Path:
    path = directory / f"taxonomy-{word}.yaml"
    path.write_text(
        "version: 1\n"
        "flags:\n"
        "  labels:\n"
        "    人身安全风险:\n"
        "      min_score: 3\n"
        f"      patterns: {{{json.dumps(word, ensure_ascii=False)}: 3}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("risk")
    return speak(PHRASE, d / "phrase.wav", 8000, lead_silence=1.0)


@pytest.fixture
def rule_word() -> str:
    return RISK_WORD


@pytest.fixture
def risk(tmp_path: Path, rule_word: str) -> RiskDetector:
    detector = RiskDetector(load_taxonomy(taxonomy_file(tmp_path, rule_word)))
    detector.warm_up()  # as the service does at start-up
    return detector


@dataclass
class Heard:
    risks: list[tuple[float, Risk]] = field(default_factory=list)
    notices: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
async def heard(service: Service, db: str) -> AsyncIterator[Heard]:
    """Risk events from the service's bus and NOTIFYs on hotline_risk, each with its monotonic arrival time."""
    out = Heard()
    listener = await asyncpg.connect(db)
    await listener.add_listener(
        "hotline_risk", lambda _c, _p, _ch, payload: out.notices.append((time.monotonic(), json.loads(payload)))
    )

    async def watch() -> None:
        async with service.transcriber.events.subscribe() as events:
            while True:
                event = await events.get()
                if isinstance(event, Risk):
                    out.risks.append((time.monotonic(), event))

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)
    yield out
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await listener.close()


async def stream_in_real_time(
    service: Service, path: Path, trailing_s: float, **config: Any
) -> tuple[float, list[dict[str, Any]]]:
    """Send ``path`` (then ``trailing_s`` of silence) in 100 ms messages, each when its audio has been spoken;
    returns the monotonic time the audio started and every final result."""
    with wave.open(str(path)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    pcm += b"\0\0" * int(rate * trailing_s)
    step = int(rate * CHUNK_S) * 2
    finals: list[dict[str, Any]] = []
    async with service.session.ws_connect(service.url) as ws:
        await ws.send_json({"config": {"sample_rate": rate, **config}})

        async def receive() -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                assert "error" not in data, data
                if "result" in data:
                    finals.append(data)

        receiver = asyncio.create_task(receive())
        started = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), step), start=1):
            await asyncio.sleep(max(0.0, started + n * CHUNK_S - time.monotonic()))
            await ws.send_bytes(pcm[i : i + step])
        await ws.send_str('{"eof": 1}')
        await asyncio.wait_for(receiver, 10)
    return started, finals


async def test_risk_word_of_the_caller_raises_an_event_a_notify_and_a_tag_within_a_second(
    service: Service, pg: asyncpg.Pool, heard: Heard, speech: Path
) -> None:
    call_id = await new_call(pg)
    started, finals = await stream_in_real_time(
        service, speech, trailing_s=1.5, call_id=str(call_id), channel="caller", offset_ms=2000
    )

    words = [w for f in finals for w in f["result"]]
    said = [w for w in words if w["word"] == RISK_WORD]
    assert said, f"the model did not hear {RISK_WORD!r} this time: {[w['word'] for w in words]}"
    word_end = started + said[0]["end"]

    assert len(heard.risks) == 1, heard.risks
    arrived, event = heard.risks[0]
    assert arrived - word_end <= 1.0, f"the risk event came {arrived - word_end:.2f} s after the word ended"
    assert (event.call_id, event.channel, event.flag, event.rule) == (call_id, "caller", "人身安全风险", RISK_WORD)
    assert event.call_ms >= 2000 + round(said[0]["start"] * 1000)  # on the call's timeline, not the stream's

    assert len(heard.notices) == 1, heard.notices
    notified, payload = heard.notices[0]
    assert notified - word_end <= 1.0, f"the NOTIFY came {notified - word_end:.2f} s after the word ended"
    assert payload == event.to_json()
    assert set(payload) == {"call_id", "channel", "at", "flag", "rule", "call_ms"}  # nothing said, no number

    tags = await pg.fetch("SELECT kind, value, source, rule, score FROM tags WHERE call_id = $1", call_id)
    assert [(t["kind"], t["value"], t["source"], t["rule"]) for t in tags] == [
        ("flag", "人身安全风险", "live", RISK_WORD)
    ]
    assert tags[0]["score"] >= 3


@pytest.mark.parametrize(
    ("rule_word", "channel"),
    [("살인", "caller"), (RISK_WORD, "agent")],
    ids=["no-rule-matches", "agent-channel-is-not-watched"],
)
async def test_no_risk_event_without_a_match_on_the_caller_channel(
    service: Service, pg: asyncpg.Pool, heard: Heard, speech: Path, rule_word: str, channel: str
) -> None:
    call_id = await new_call(pg)
    _, finals = await stream_in_real_time(service, speech, trailing_s=0.5, call_id=str(call_id), channel=channel)
    assert any(f["result"] for f in finals)  # speech was heard...
    await asyncio.sleep(0.2)
    assert heard.risks == [] and heard.notices == []  # ...and raised nothing
    assert await pg.fetchval("SELECT count(*) FROM tags WHERE call_id = $1", call_id) == 0

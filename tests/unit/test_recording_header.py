"""A recording whose writer never closed its file keeps its samples: the header is finished from its length."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from hotline.sip.recording import finish_header, merge_stereo, wav_closed


def _mono(path: Path, samples: bytes) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples)


@pytest.mark.parametrize("header", ["zeros", "stale_sizes"])
def test_an_unclosed_recording_gets_its_header_and_merges_with_every_sample(tmp_path: Path, header: str) -> None:
    caller, agent = tmp_path / "caller.wav", tmp_path / "agent.wav"
    _mono(caller, bytes(range(200)) * 80)  # 8,000 samples
    _mono(agent, b"\x10\x00" * 4000)
    data = caller.read_bytes()
    if header == "zeros":  # the writer had not written its header yet
        caller.write_bytes(b"\x00" * 44 + data[44:])
    else:  # the header still says what was written when the file was opened
        caller.write_bytes(data[:4] + (36).to_bytes(4, "little") + data[8:40] + (0).to_bytes(4, "little") + data[44:])
    assert not wav_closed(caller)
    finish_header(caller)
    assert wav_closed(caller)
    seconds = merge_stereo(caller, agent, 800, tmp_path / "call.wav")
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 8000)
        frames = w.readframes(8000)
    assert frames[:4] == bytes([0, 1, 0, 0])  # caller's first sample left, agent silent before its offset
    assert seconds == pytest.approx(1.0)

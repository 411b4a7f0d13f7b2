import subprocess
import wave
from pathlib import Path

import pytest

from hotline import prompts


def _wav_info(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path), "rb") as w:
        return w.getframerate(), w.getnchannels(), w.getnframes()


def test_build_renders_text_with_espeak_then_keeps_unchanged(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "welcome.txt").write_text("您好，这里是12348热线。", encoding="utf-8")
    (src / "goodbye.txt").write_text("再见。", encoding="utf-8")
    first = prompts.build(src, out)
    assert sorted(first.rendered) == ["goodbye", "welcome"]
    rate, channels, frames = _wav_info(out / "welcome.wav")
    assert (rate, channels) == (8000, 1) and frames > 8000 * 0.5
    assert prompts.check_wav(out / "welcome.wav") > 0.5

    second = prompts.build(src, out)
    assert second.rendered == [] and sorted(second.unchanged) == ["goodbye", "welcome"]

    (src / "goodbye.txt").write_text("感谢您的来电，再见。", encoding="utf-8")
    third = prompts.build(src, out)
    assert third.rendered == ["goodbye"]

    (src / "goodbye.txt").unlink()
    prompts.build(src, out)
    assert not (out / "goodbye.wav").exists()


def test_operator_recording_wins_and_is_converted_to_8k(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "welcome.txt").write_text("您好。", encoding="utf-8")
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(src / "welcome.wav"), "synth", "1.5", "sine", "440"],
        check=True,
    )
    report = prompts.build(src, out)
    assert report.converted == ["welcome"] and report.rendered == []
    rate, channels, frames = _wav_info(out / "welcome.wav")
    assert (rate, channels) == (8000, 1) and abs(frames - 12000) < 200


def test_bad_prompt_files_are_refused_with_their_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    with pytest.raises(prompts.PromptError, match=r"nope\.wav is missing"):
        prompts.check_wav(missing)
    text = tmp_path / "fake.wav"
    text.write_text("not audio")
    with pytest.raises(prompts.PromptError, match=r"fake\.wav is not a PCM WAV"):
        prompts.check_wav(text)
    hi = tmp_path / "hi.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-b", "16", str(hi), "synth", "0.2", "sine", "440"], check=True)
    with pytest.raises(prompts.PromptError, match="16000 Hz: expected 8000"):
        prompts.check_wav(hi)


def test_shipped_prompts_all_build(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "ivr_flows" / "prompts" / "zh-CN"
    report = prompts.build(root, tmp_path)
    assert "welcome" in report.rendered
    for wav in tmp_path.glob("*.wav"):
        assert prompts.check_wav(wav) > 0.3

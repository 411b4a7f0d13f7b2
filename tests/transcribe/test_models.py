"""Model paths are checked at start-up, and the resampler keeps its phase across chunks."""

from __future__ import annotations

import subprocess
import sys
import time
import wave
from array import array
from pathlib import Path

import pytest

from hotline.transcribe.audio import Resampler
from hotline.transcribe.models import ModelError, ModelPool, check_model_path
from tests.support import ROOT
from tests.support.audio import speak
from tests.support.transcribe import korean_model_path


def test_missing_model_path_is_a_startup_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "vosk-model-small-cn-0.22"
    with pytest.raises(ModelError, match=str(missing)):
        ModelPool(missing, workers=1)


def test_directory_that_is_not_a_model_is_a_startup_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=rf"{tmp_path}.*am/final\.mdl"):
        check_model_path(tmp_path)


def test_korean_model_wants_16_khz() -> None:
    assert check_model_path(korean_model_path()) == 16000


def test_upsampling_8k_to_16k_doubles_the_samples_whatever_the_chunking() -> None:
    src = array("h", [(i * 37) % 2000 - 1000 for i in range(8000)]).tobytes()
    whole = Resampler(8000, 16000).feed(src)
    rs = Resampler(8000, 16000)
    pieces = b"".join(rs.feed(src[i : i + 322]) for i in range(0, len(src), 322))
    assert pieces == whole
    out = array("h")
    out.frombytes(whole)
    assert abs(len(out) - 16000) <= 2
    ins = array("h")
    ins.frombytes(src)
    assert out[0::2][:100] == ins[:100]  # original samples kept, midpoints interpolated


async def test_recognizers_reused_across_streams_time_words_from_each_stream_start(
    models: ModelPool, tmp_path: Path
) -> None:
    with wave.open(str(speak("대한민국", tmp_path / "phrase.wav", 8000, lead_silence=1.0))) as w:
        pcm = w.readframes(w.getnframes())
    runs: list[list[tuple[str, float, float]]] = []
    for n in range(3):  # each stream gets a recognizer that decoded the streams before it
        await models.open(f"reuse{n}", 8000)
        results = [r for i in range(0, len(pcm), 1600) for r in await models.feed(f"reuse{n}", pcm[i : i + 1600])]
        results.append(await models.close(f"reuse{n}"))
        runs.append([(w["word"], w["start"], w["end"]) for r in results for w in r.get("result", [])])
    assert runs[0], "no words heard"
    assert 0.8 <= runs[0][0][1] <= 1.3  # the speech starts after a second of silence
    for run in runs[1:]:
        assert [w for w, _, _ in run] == [w for w, _, _ in runs[0]]
        assert all(abs(a[1] - b[1]) < 0.05 and abs(a[2] - b[2]) < 0.05 for a, b in zip(run, runs[0], strict=True))


def test_decoder_workers_exit_when_the_service_process_is_killed(tmp_path: Path) -> None:
    """Else they would keep the model's memory, and the pipe a supervisor waits on before restarting."""
    script = tmp_path / "service.py"
    script.write_text(
        "import os, sys\n"
        "from pathlib import Path\n"
        "from hotline.transcribe.models import ModelPool\n"
        "if __name__ == '__main__':\n"
        f"    pool = ModelPool(Path({str(korean_model_path())!r}), workers=1)\n"
        "    print(pool._workers[0].executor.submit(os.getpid).result(), flush=True)\n"
        "    sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as service:
        assert service.stdout is not None
        worker = int(service.stdout.readline())
        service.kill()
    deadline = time.monotonic() + 5
    while _alive(worker):
        assert time.monotonic() < deadline, f"decoder worker {worker} outlived its service"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie waits for whoever adopted it: it has exited

"""Prompt audio: texts per locale in the repo, rendered to WAV at the cells' rate.

Sources live in ``ivr_flows/prompts/<locale>/``: ``NAME.txt`` holds the text, and an operator's studio
recording ``NAME.wav`` placed beside it wins over the rendered voice. ``build`` writes every prompt, converted
to 8 kHz mono 16-bit PCM (G.711's rate, so cells never resample), into the build directory and keeps a
manifest of source checksums, so an edited text or a new recording is rendered again and nothing else is.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import HotlineError

SAMPLE_RATE = 8000
VOICES = {"zh-CN": "cmn"}
MANIFEST = ".manifest.json"


class PromptError(HotlineError):
    pass


@dataclass(frozen=True)
class BuildReport:
    rendered: list[str]
    converted: list[str]
    unchanged: list[str]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(source_dir: Path) -> dict[str, Path]:
    """Each prompt name with the file it is built from: the recording if there is one, else the text."""
    found: dict[str, Path] = {}
    for path in sorted(source_dir.glob("*.txt")):
        found[path.stem] = path
    for path in sorted(source_dir.glob("*.wav")):
        found[path.stem] = path
    return found


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise PromptError(f"{cmd[0]} is not installed (make run installs espeak-ng and sox)") from None
    if done.returncode != 0:
        raise PromptError(f"{' '.join(cmd[:2])} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _to_cell_format(source: Path | None, target: Path, audio: bytes | None = None) -> None:
    tmp = target.with_suffix(".tmp.wav")
    src = [str(source)] if source is not None else ["-t", "wav", "-"]
    _run(
        [
            "sox",
            "-V1",
            *src,
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            str(tmp),
            "gain",
            "-n",
            "-3",
        ],
        stdin=audio,
    )
    tmp.replace(target)


def build(source_dir: Path, build_dir: Path, locale: str = "zh-CN") -> BuildReport:
    """Render what is missing or changed; remove built prompts whose source is gone."""
    if not source_dir.is_dir():
        raise PromptError(f"prompt directory {source_dir} does not exist")
    voice = VOICES.get(locale)
    build_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = build_dir / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    except (OSError, ValueError):
        manifest = {}
    report = BuildReport([], [], [])
    sources = _sources(source_dir)
    for name, src in sources.items():
        target = build_dir / f"{name}.wav"
        digest = f"{src.suffix}:{_sha(src)}"
        if manifest.get(name) == digest and target.exists():
            report.unchanged.append(name)
            continue
        if src.suffix == ".wav":
            check_wav(src, require_rate=None)
            _to_cell_format(src, target)
            report.converted.append(name)
        else:
            if voice is None:
                raise PromptError(f"no espeak-ng voice for locale {locale!r}: record {src.with_suffix('.wav')}")
            try:
                text = src.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError:
                raise PromptError(f"prompt text {src} is not UTF-8 text") from None
            if not text:
                raise PromptError(f"prompt text {src} is empty")
            audio = _run(["espeak-ng", "-v", voice, "-s", "170", "--stdout", text])
            _to_cell_format(None, target, audio)
            report.rendered.append(name)
        manifest[name] = digest
    for stale in set(manifest) - set(sources):
        (build_dir / f"{stale}.wav").unlink(missing_ok=True)
        del manifest[stale]
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(manifest_path)
    return report


def check_wav(path: Path, require_rate: int | None = SAMPLE_RATE) -> float:
    """Refuse a prompt that is missing or not a playable PCM WAV; return its duration in seconds."""
    if not path.is_file():
        raise PromptError(f"prompt file {path} is missing")
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, frames = w.getframerate(), w.getsampwidth(), w.getnframes()
    except (wave.Error, EOFError) as exc:
        raise PromptError(f"prompt file {path} is not a PCM WAV file: {exc}") from None
    if width != 2:
        raise PromptError(f"prompt file {path} has {8 * width}-bit samples: expected 16-bit PCM")
    if require_rate is not None and rate != require_rate:
        raise PromptError(f"prompt file {path} is {rate} Hz: expected {require_rate} Hz (run `hotline prompts build`)")
    if frames == 0:
        raise PromptError(f"prompt file {path} holds no audio")
    return frames / rate

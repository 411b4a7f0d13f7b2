"""Audio for the SIP tests: G.711 mu-law, tones, their analysis (Goertzel, RMS), WAV files, and prompts and
speech made with sox and espeak-ng."""

from __future__ import annotations

import math
import subprocess
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path


def _ulaw_to_linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if (u & 0x80) else (t - 0x84)


ULAW_DECODE = [_ulaw_to_linear(i) for i in range(256)]


def linear_to_ulaw(sample: int) -> int:
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if sample & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    else:
        exponent = 0
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone_pcm(freq: float, samples: int, start: int = 0, amplitude: float = 8000.0) -> list[int]:
    return [int(amplitude * math.sin(2 * math.pi * freq * (start + i) / 8000)) for i in range(samples)]


def goertzel(samples: list[int] | array[int], freq: float, rate: int = 8000) -> float:
    """Power of ``freq`` in ``samples``, normalised by the number of samples."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1)


def rms(samples: list[int] | array[int]) -> float:
    if not samples:
        return 0.0
    return math.sqrt(sum(x * x for x in samples) / len(samples))


def dominant(samples: list[int] | array[int], freqs: list[float]) -> float:
    return max(freqs, key=lambda f: goertzel(samples, f))


# ------------------------------------------------------------------ prompts


def make_tone_wav(path: Path, freq: float, seconds: float) -> Path:
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            str(seconds),
            "sine",
            str(freq),
            "vol",
            "0.5",
        ],
        check=True,
    )
    return path


def make_prompts(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    make_tone_wav(directory / "welcome.wav", 440, 1.5)
    make_tone_wav(directory / "agent_tone.wav", 1000, 2.0)
    return directory


def wav_channels(path: Path) -> tuple[int, int, list[array[int]]]:
    """(rate, channels, samples per channel) of a 16-bit WAV."""

    with wave.open(str(path), "rb") as w:
        rate, nch = w.getframerate(), w.getnchannels()
        data = array("h", w.readframes(w.getnframes()))
    return rate, nch, [data[i::nch] for i in range(nch)]


def windows(samples: array[int], size: int = 1600) -> Iterator[array[int]]:
    for i in range(0, len(samples) - size + 1, size):
        yield samples[i : i + size]


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

"""Stereo call recordings built from two mono WAVs.

pjsua2's recorder is mono, so a call is recorded by two native recorders on the conference bridge: one hears
the caller leg (from answer, so the IVR part is on it), one hears the agent leg (from the bridge). When the
call ends the two files are interleaved into one stereo WAV, caller left, agent right, the agent shifted by the
time between the two recorders' start. This costs nothing per 20 ms frame in Python (the recorders are C code
on the clock thread) and one linear pass at the end: about 1 ms per minute of call on this machine kind.
An ``AudioMediaPort`` tap would instead run Python for every frame of every leg for the whole call.
"""

from __future__ import annotations

import os
import struct
import wave
from array import array
from pathlib import Path

RATE = 8000
CHUNK = RATE * 10  # samples per pass: bounded memory for long calls


def wav_closed(path: Path) -> bool:
    """True once the writer has finished the file: the RIFF size in the header matches the file size.
    pjmedia releases a recorder's port (and closes its file) on the next conference clock tick, not when
    the recorder object is destroyed."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return True
    return len(head) == 8 and head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") == size - 8


def finish_header(path: Path) -> None:
    """Write the 44-byte header of an 8 kHz mono 16-bit PCM WAV whose writer never closed it (pjmedia writes the
    sizes, or the whole header, only at close), with the sizes the file's length gives."""
    size = path.stat().st_size
    if size < 44:
        return
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", size - 8, b"WAVE", b"fmt ", 16, 1, 1, RATE, RATE * 2, 2, 16, b"data", size - 44
    )
    with path.open("r+b") as f:
        f.write(header)


def wav_frames(path: Path | None) -> int:
    """Samples in a mono WAV (0 for a missing or empty file)."""
    if path is None or not path.exists() or path.stat().st_size <= 44:
        return 0
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def _read(w: wave.Wave_read | None, start: int, count: int, total: int) -> array[int]:
    """``count`` samples from sample ``start`` of ``w``, zero where the file has none."""
    out = array("h", bytes(2 * count))
    if w is None or count <= 0:
        return out
    lo, hi = max(start, 0), min(start + count, total)
    if hi <= lo:
        return out
    w.setpos(lo)
    data = array("h", w.readframes(hi - lo))
    offset = lo - start
    out[offset : offset + len(data)] = data
    return out


def merge_stereo(caller: Path | None, agent: Path | None, agent_offset: int, out: Path) -> float:
    """Write ``out`` (8 kHz stereo 16-bit): ``caller`` left, ``agent`` right starting ``agent_offset`` samples
    later. Either input may be missing. Returns the duration in seconds."""
    n_left, n_right = wav_frames(caller), wav_frames(agent)
    agent_offset = max(agent_offset, 0)
    total = max(n_left, agent_offset + n_right if n_right else 0)
    left = wave.open(str(caller), "rb") if n_left else None
    right = wave.open(str(agent), "rb") if n_right else None
    tmp = out.with_name(out.name + ".part")
    try:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            for start in range(0, total, CHUNK):
                count = min(CHUNK, total - start)
                both = array("h", bytes(4 * count))
                both[0::2] = _read(left, start, count, n_left)
                both[1::2] = _read(right, start - agent_offset, count, n_right)
                w.writeframes(both.tobytes())
    finally:
        for f in (left, right):
            if f is not None:
                f.close()
    os.replace(tmp, out)
    return total / RATE

"""PCM helpers with no IO: a streaming resampler and a stereo splitter for 16-bit little-endian audio.

Call audio is 8 kHz; Vosk models want their own rate (16 kHz for the small models). Upsampling by linear
interpolation is cheap in pure Python (one multiply-add per output sample) and, for telephone speech that holds
nothing above 3.4 kHz, the images it leaves above the input Nyquist are weak and fall in a band the model's
features barely weigh. It is not a general-purpose resampler: downsampling by it aliases.
"""

from __future__ import annotations

import sys
from array import array


def _samples(pcm: bytes) -> array[int]:
    a = array("h")
    a.frombytes(pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a


def _bytes(a: array[int]) -> bytes:
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


class Resampler:
    """Linear-interpolation resampler that keeps its phase across chunks, so a stream may arrive in any split.

    Owned by one stream; not thread-safe. Input chunks must hold whole samples (an even number of bytes).
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} and {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._step = in_rate / out_rate
        self._pos = 0.0  # position of the next output sample, in input samples, relative to self._prev
        self._prev: int | None = None

    def feed(self, pcm: bytes) -> bytes:
        if self.in_rate == self.out_rate:
            return pcm
        src = _samples(pcm)
        if not src:
            return b""
        if self._prev is not None:
            src.insert(0, self._prev)
        else:
            self._pos = 0.0
        out = array("h")
        pos, step, last = self._pos, self._step, len(src) - 1
        while pos < last:
            i = int(pos)
            frac = pos - i
            a = src[i]
            out.append(int(a + (src[i + 1] - a) * frac))
            pos += step
        self._prev = src[last]
        self._pos = pos - last
        return _bytes(out)


def split_stereo(pcm: bytes) -> tuple[bytes, bytes]:
    """Interleaved 16-bit stereo to (left, right) mono."""
    a = array("h")
    a.frombytes(pcm[: len(pcm) - len(pcm) % 4])
    return a[0::2].tobytes(), a[1::2].tobytes()

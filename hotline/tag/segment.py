"""Chinese word segmentation with jieba, quiet and loaded once per process.

jieba's dictionary (about 350,000 words) takes about a second to load from its cache, so it is loaded lazily,
once, under a lock; each taxonomy then gets its own tokenizer that shares a copy of that dictionary plus the
taxonomy's words, so two taxonomies in one process never change each other's segmentation.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterable
from typing import Any

_lock = threading.Lock()
_base: Any = None
_by_words: dict[tuple[str, ...], Tokenizer] = {}


def _jieba() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jieba  # type: ignore[import-untyped]
    jieba.setLogLevel(logging.WARNING)  # silences "Building prefix dict ..." on stderr
    return jieba


def _base_tokenizer() -> Any:
    global _base
    if _base is None:
        jieba = _jieba()
        base = jieba.Tokenizer()
        base.initialize()
        _base = base
    return _base


class Tokenizer:
    """Segments text; custom words are kept whole. Thread-safe after construction."""

    def __init__(self, words: Iterable[str]) -> None:
        jieba = _jieba()
        base = _base_tokenizer()
        tok = jieba.Tokenizer()
        tok.FREQ = dict(base.FREQ)
        tok.total = base.total
        tok.initialized = True
        for word in words:
            tok.add_word(word)
        self._tok = tok

    def edges(self, text: str) -> frozenset[int]:
        """Character offsets where a token starts or ends."""
        out = {0, len(text)}
        for _word, start, end in self._tok.tokenize(text, HMM=False):
            out.add(int(start))
            out.add(int(end))
        return frozenset(out)

    def cut(self, text: str) -> list[str]:
        return [str(w) for w in self._tok.lcut(text, HMM=False)]


def tokenizer_for(words: tuple[str, ...]) -> Tokenizer:
    """The shared tokenizer for this word list (built on first use)."""
    with _lock:
        tok = _by_words.get(words)
        if tok is None:
            tok = Tokenizer(words)
            _by_words[words] = tok
        return tok

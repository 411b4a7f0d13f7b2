"""Spotting a risk flag (人身安全风险 by default) in a caller's live words, with no IO: the service reports it.

The tagger (`hotline.tag`) runs on each final result of a caller stream, joined to the final before it (a
threat is often split over two utterances), and on each partial result whose text changed. A call is reported
once, at the first text that raises the flag.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from hotline.tag import Taxonomy, tag

RISK_FLAG = "人身安全风险"

# Chinese Vosk models put a space between words ("我 老公 说 要 杀 我"); the taxonomy's words and patterns are
# written for running text. Spaces between other scripts (Korean, Latin) separate words and stay.
_HAN_SPACE = re.compile(r"(?<=[\u3400-\u9fff\uf900-\ufaff])\s+(?=[\u3400-\u9fff\uf900-\ufaff])")


def normalize(text: str) -> str:
    return _HAN_SPACE.sub("", " ".join(text.split()))


@dataclass(frozen=True)
class RiskHit:
    flag: str
    rule: str  # the taxonomy rule (word or pattern) that matched first
    score: float


@dataclass
class RiskDetector:
    """Per stream, the last final text and the last text tagged; per call, whether it was reported.

    Owned by one event loop. ``remember`` bounds the calls kept as reported (oldest forgotten first)."""

    taxonomy: Taxonomy
    flag: str = RISK_FLAG
    remember: int = 10_000
    _previous: dict[str, str] = field(default_factory=dict)
    _tagged: dict[str, str] = field(default_factory=dict)
    _reported: OrderedDict[Hashable, None] = field(default_factory=OrderedDict)

    def check(self, call: Hashable, stream: str, text: str, final: bool) -> RiskHit | None:
        """Tag the stream's newest text; a hit the first time ``call`` gets the flag, else None."""
        current = normalize(text)
        previous = self._previous.get(stream, "")
        if final:
            self._previous[stream] = current
        if not current or call in self._reported:
            return None
        candidate = normalize(f"{previous} {current}") if previous else current
        if self._tagged.get(stream) == candidate:
            return None
        self._tagged[stream] = candidate
        tags = tag(candidate, self.taxonomy)
        if self.flag not in tags.flags:
            return None
        rule = next(
            (
                m.rule
                for m in tags.matches
                if m.axis == "flags" and m.label == self.flag and not m.negated and m.weight > 0
            ),
            "",
        )
        self._reported[call] = None
        while len(self._reported) > self.remember:
            self._reported.popitem(last=False)
        return RiskHit(self.flag, rule, tags.scores.get("flags", {}).get(self.flag, 0.0))

    def warm_up(self) -> None:
        """Load the segmenter for this taxonomy (about a second, blocking): call it in a thread at start-up, so
        the first caller's words are not held up by it."""
        tag("预热", self.taxonomy)

    def close(self, stream: str) -> None:
        self._previous.pop(stream, None)
        self._tagged.pop(stream, None)

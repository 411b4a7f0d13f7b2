"""Automatic quality check (自动质检) of one call's transcript: pure, no IO.

Score: 100 minus the points lost by failed items, never below 0. An item that passes loses nothing; a failed
greeting, closing, long-silence or talk-ratio item loses its ``points``; forbidden words lose the sum of the
penalties of the distinct words said, at most ``max_points``. Disabled items are left out of the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hotline.qa.rules import QaRules, normalise


@dataclass(frozen=True)
class Segment:
    """One transcript segment; both channels' times are milliseconds on the same timeline (the recording's)."""

    channel: str  # "caller" or "agent"
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class QaItem:
    name: str  # greeting, closing, forbidden_words, long_silence, talk_ratio
    label: str
    passed: bool
    points: int  # what the item is worth (for forbidden words: its cap)
    lost: int
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "passed": self.passed,
            "points": self.points,
            "lost": self.lost,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class QaResult:
    score: int
    items: tuple[QaItem, ...]
    rules_version: int
    rules_checksum: str

    @property
    def failed(self) -> list[str]:
        return [i.name for i in self.items if not i.passed]


def _clock(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def _secs(ms: float) -> str:
    return f"{ms / 1000:.1f}"


@dataclass(frozen=True)
class _Seg:
    channel: str
    start_ms: int
    end_ms: int
    text: str  # normalised


def _first_phrase(text: str, phrases: Sequence[str]) -> str | None:
    for phrase in phrases:
        if normalise(phrase) in text:
            return phrase
    return None


def _greeting(rules: QaRules, agent: list[_Seg], ref: int | None) -> QaItem:
    rule = rules.greeting
    examples = "、".join(rule.phrases[:3])
    if ref is None or not agent:
        return QaItem("greeting", rule.label, False, rule.points, rule.points, "坐席没有说话")
    end = ref + round(rule.within_seconds * 1000)
    said = "".join(s.text for s in agent if s.start_ms <= end and s.end_ms >= ref)
    found = _first_phrase(said, rule.phrases)
    if found is None:
        detail = f"接通后 {rule.within_seconds:g} 秒内没有问候语（{examples}…）"
        return QaItem("greeting", rule.label, False, rule.points, rule.points, detail)
    return QaItem("greeting", rule.label, True, rule.points, 0, f"问候：{found}")


def _closing(rules: QaRules, agent: list[_Seg]) -> QaItem:
    rule = rules.closing
    examples = "、".join(rule.phrases[:3])
    if not agent:
        return QaItem("closing", rule.label, False, rule.points, rule.points, "坐席没有说话")
    last = max(s.end_ms for s in agent)
    start = last - round(rule.last_seconds * 1000)
    said = "".join(s.text for s in agent if s.end_ms >= start)
    found = _first_phrase(said, rule.phrases)
    if found is None:
        detail = f"坐席最后 {rule.last_seconds:g} 秒没有结束语（{examples}…）"
        return QaItem("closing", rule.label, False, rule.points, rule.points, detail)
    return QaItem("closing", rule.label, True, rule.points, 0, f"结束语：{found}")


def _occurrences(text: str, word: str, exceptions: list[str]) -> int:
    """Occurrences of ``word`` in ``text`` that are not inside an occurrence of an exception phrase."""
    covered: list[tuple[int, int]] = []
    for phrase in exceptions:
        pos = text.find(phrase)
        while pos != -1:
            covered.append((pos, pos + len(phrase)))
            pos = text.find(phrase, pos + 1)
    count = 0
    pos = text.find(word)
    while pos != -1:
        end = pos + len(word)
        if not any(s <= pos and end <= e for s, e in covered):
            count += 1
        pos = text.find(word, pos + 1)
    return count


def _forbidden(rules: QaRules, agent: list[_Seg]) -> QaItem:
    rule = rules.forbidden_words
    exceptions = [normalise(e) for e in rule.exceptions]
    found: list[tuple[str, int, int, int]] = []  # word, penalty, count, first ms
    keys = [normalise(w) for w in rule.words]
    for word, penalty in rule.words.items():
        key = normalise(word)
        # a longer forbidden word hides a shorter one it contains: 你自己去查 is not also 自己去查
        covering = exceptions + [k for k in keys if len(k) > len(key) and key in k]
        count, first = 0, -1
        for seg in agent:
            n = _occurrences(seg.text, key, covering)
            if n and first < 0:
                first = seg.start_ms
            count += n
        if count:
            found.append((word, penalty, count, first))
    if not found:
        return QaItem("forbidden_words", rule.label, True, rule.max_points, 0, "没有禁语")
    found.sort(key=lambda f: f[3])
    lost = min(rule.max_points, sum(f[1] for f in found))
    detail = "；".join(f"“{w}”×{n}（首次 {_clock(at)}，扣 {p} 分）" for w, p, n, at in found)
    return QaItem("forbidden_words", rule.label, False, rule.max_points, lost, detail)


def _silence(rules: QaRules, segs: list[_Seg], ref: int | None) -> QaItem:
    rule = rules.long_silence
    limit = round(rule.max_gap_seconds * 1000)
    if not segs:
        return QaItem("long_silence", rule.label, True, rule.points, 0, "没有语音")
    cursor = ref if ref is not None else segs[0].start_ms
    gaps: list[tuple[int, int]] = []  # length, where it started
    for seg in segs:
        if seg.end_ms <= cursor:
            continue
        if seg.start_ms - cursor > limit:
            gaps.append((seg.start_ms - cursor, cursor))
        cursor = max(cursor, seg.end_ms)
    if not gaps:
        return QaItem("long_silence", rule.label, True, rule.points, 0, f"没有超过 {rule.max_gap_seconds:g} 秒的静默")
    longest, at = max(gaps)
    detail = f"{len(gaps)} 次超过 {rule.max_gap_seconds:g} 秒的静默，最长 {_secs(longest)} 秒（{_clock(at)} 起）"
    return QaItem("long_silence", rule.label, False, rule.points, rule.points, detail)


def _ratio(rules: QaRules, segs: list[_Seg]) -> QaItem:
    rule = rules.talk_ratio
    agent_ms = sum(s.end_ms - s.start_ms for s in segs if s.channel == "agent")
    total = sum(s.end_ms - s.start_ms for s in segs)
    bounds = f"{rule.min:.0%}–{rule.max:.0%}"
    if total <= 0:
        return QaItem("talk_ratio", rule.label, True, rule.points, 0, "没有可计算的说话时长")
    ratio = agent_ms / total
    passed = rule.min <= ratio <= rule.max
    detail = f"坐席说话占 {ratio:.0%}（应在 {bounds}）"
    return QaItem("talk_ratio", rule.label, passed, rule.points, 0 if passed else rule.points, detail)


def evaluate(segments: Sequence[Segment], rules: QaRules, *, agent_connected_ms: int | None = None) -> QaResult:
    """Check one call's transcript against the rules. Deterministic; the segments may come in any order.

    ``agent_connected_ms`` is when the agent was connected, on the segments' timeline: segments that end before
    it (the caller in the IVR and the queue) are ignored, and the greeting window and the silence check start
    there. Without it, every segment counts and both start at the agent's first words.
    """
    segs = sorted(
        (_Seg(s.channel, s.start_ms, max(s.end_ms, s.start_ms), normalise(s.text)) for s in segments),
        key=lambda s: (s.start_ms, s.end_ms, s.channel),
    )
    if agent_connected_ms is not None:
        segs = [s for s in segs if s.end_ms > agent_connected_ms]
    agent = [s for s in segs if s.channel == "agent"]
    ref = agent_connected_ms if agent_connected_ms is not None else (agent[0].start_ms if agent else None)
    checks: list[tuple[bool, Callable[[], QaItem]]] = [
        (rules.greeting.enabled, lambda: _greeting(rules, agent, ref)),
        (rules.closing.enabled, lambda: _closing(rules, agent)),
        (rules.forbidden_words.enabled, lambda: _forbidden(rules, agent)),
        (rules.long_silence.enabled, lambda: _silence(rules, segs, ref)),
        (rules.talk_ratio.enabled, lambda: _ratio(rules, segs)),
    ]
    items = tuple(check() for enabled, check in checks if enabled)
    score = max(0, 100 - sum(i.lost for i in items))
    return QaResult(score, items, rules.version, rules.checksum)

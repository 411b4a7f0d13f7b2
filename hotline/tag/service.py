"""Rule-based tagging of a caller's words: legal area, service requested, flags.

The text is first normalised (``normalize``): spaces between Chinese characters go, as speech recognisers put
one between every word, and ASCII punctuation becomes Chinese punctuation so that patterns see one kind of
clause break. Each label then adds up the weights of its rules that match (a rule counts once however often it
matches, and only if its own ``requires`` also match); the label with the highest priority, then the highest
score, then the earliest place in the taxonomy wins an axis, if its score reaches the label's ``min_score``;
otherwise the axis default applies. Every flag whose score reaches its ``min_score`` is set. Words match on
jieba token edges, are shadowed by a longer word of the same axis that covers them (``劳动合同`` hides ``合同``),
and are ignored when negated (``不是工伤``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hotline.tag.segment import Tokenizer, tokenizer_for
from hotline.tag.taxonomy import FLAGS, KEYWORD_GROUP, Axis, Label, Negation, Rule, Taxonomy, default_taxonomy


@dataclass(frozen=True)
class Match:
    """One rule that matched: what it saw and where, for explaining a tag to an agent."""

    axis: str
    label: str
    rule: str
    kind: str
    weight: float
    start: int
    text: str
    negated: bool


@dataclass(frozen=True)
class Tags:
    """The tags of one statement; ``matches`` give offsets into ``text``, the normalised statement."""

    legal_area: str
    service: str
    flags: list[str]
    scores: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)
    matches: list[Match] = field(default_factory=list, compare=False)
    text: str = field(default="", compare=False)

    def to_json(self) -> dict[str, object]:
        """The wire form: the three fields of the ``hotline tag`` output line."""
        return {"legal_area": self.legal_area, "service": self.service, "flags": list(self.flags)}


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e"
_SPACE_IN_CJK = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")
_ASCII_STOP = re.compile(r"(?<![0-9])\.|\.(?![0-9])")
_WIDTH = str.maketrans(
    {
        **{chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)},  # full-width digits
        **{chr(c): chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)},  # full-width capitals
        **{chr(c): chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)},  # full-width small letters
        ",": "，",
        "?": "？",
        "!": "！",
        ";": "；",
        ":": "：",
    }
)


def normalize(text: str) -> str:
    """The text the rules see: ``我 想 离婚`` -> ``我想离婚``, ``１２３４８`` -> ``12348``, ``, ? !`` -> ``，？！``.

    A full stop becomes ``。`` unless it sits between digits (``1.5万`` stays). Deterministic and idempotent.
    """
    text = text.translate(_WIDTH)
    text = _ASCII_STOP.sub("。", text)
    return _SPACE_IN_CJK.sub("", text.strip())


def is_negated(text: str, start: int, negation: Negation, negators: tuple[str, ...] | None = None) -> bool:
    """True when a negator sits just before ``start`` in the same clause, e.g. 不是|工伤, 没有|打我, 没|被|打.

    Only ``gap_chars`` (是, 被, 有 ...) may stand between the negator and the keyword, at most ``max_gap`` of
    them; a negator that is part of a question form such as 是不是 or 有没有 does not negate. ``negators``
    replaces the taxonomy's list (an axis may have its own, longest first).
    """
    candidates = negation.negators if negators is None else negators
    clause_start = start
    while clause_start > 0 and text[clause_start - 1] not in negation.clause_breaks:
        clause_start -= 1
    for gap in range(negation.max_gap + 1):
        neg_end = start - gap
        if neg_end < clause_start:
            break
        if gap and text[neg_end] not in negation.gap_chars:
            break
        for negator in candidates:
            neg_start = neg_end - len(negator)
            if neg_start < clause_start or text[neg_start:neg_end] != negator:
                continue
            if not _in_question_form(text, neg_start, neg_end, negation.not_negators):
                return True
    return False


def _in_question_form(text: str, neg_start: int, neg_end: int, forms: tuple[str, ...]) -> bool:
    for form in forms:
        lo = max(0, neg_end - len(form))
        hi = min(len(text), neg_start + len(form))
        pos = text.find(form, lo, hi)
        while pos != -1 and pos <= neg_start:
            if pos + len(form) >= neg_end:
                return True
            pos = text.find(form, pos + 1, hi)
    return False


@dataclass
class _Hit:
    label: Label
    rule: Rule
    start: int
    end: int
    negated: bool


def _context_ok(text: str, rule: Rule) -> bool:
    return all(r.search(text) for r in rule.requires)


def _word_hits(text: str, edges: frozenset[int], axis: Axis, negation: Negation) -> list[_Hit]:
    hits: list[_Hit] = []
    for label in axis.labels:
        for rule in label.rules:
            if rule.kind != "word" or rule.source not in text:
                continue
            pos = text.find(rule.source)
            while pos != -1:
                end = pos + len(rule.source)
                if pos in edges or end in edges:
                    negated = rule.negatable and is_negated(text, pos, negation, axis.negators)
                    hits.append(_Hit(label, rule, pos, end, negated))
                pos = text.find(rule.source, pos + 1)
    spans = {(h.start, h.end) for h in hits}
    kept = [h for h in hits if not any(s <= h.start and h.end <= e and (s, e) != (h.start, h.end) for s, e in spans)]
    return [h for h in kept if not h.rule.requires or _context_ok(text, h.rule)]


def _pattern_hits(text: str, axis: Axis, negation: Negation) -> list[_Hit]:
    hits: list[_Hit] = []
    for label in axis.labels:
        for rule in label.rules:
            if rule.regex is None:
                continue
            context: bool | None = None
            for m in rule.regex.finditer(text):
                if context is None:
                    context = _context_ok(text, rule)
                if not context:
                    break
                key = KEYWORD_GROUP if KEYWORD_GROUP in rule.regex.groupindex and m.start(KEYWORD_GROUP) >= 0 else 0
                negated = rule.negatable and is_negated(text, m.start(key), negation, axis.negators)
                hits.append(_Hit(label, rule, m.start(), m.end(), negated))
    return hits


def _score_axis(text: str, edges: frozenset[int], axis: Axis, tax: Taxonomy) -> tuple[dict[str, float], list[Match]]:
    hits = _word_hits(text, edges, axis, tax.negation) + _pattern_hits(text, axis, tax.negation)
    hits.sort(key=lambda h: (h.start, h.end))
    scores = {label.name: 0.0 for label in axis.labels}
    counted: set[tuple[str, str, str]] = set()
    matches: list[Match] = []
    for h in hits:
        key = (h.label.name, h.rule.kind, h.rule.source)
        if not h.negated and key not in counted:
            counted.add(key)
            scores[h.label.name] += h.rule.weight
        matches.append(
            Match(
                axis.name,
                h.label.name,
                h.rule.source,
                h.rule.kind,
                h.rule.weight,
                h.start,
                text[h.start : h.end],
                h.negated,
            )
        )
    for label in axis.labels:
        if label.requires and not all(r.search(text) for r in label.requires):
            scores[label.name] = 0.0
    return scores, matches


def _winner(axis: Axis, scores: dict[str, float]) -> str:
    best: tuple[int, float, int] | None = None
    name = axis.default or ""
    for order, label in enumerate(axis.labels):
        score = scores[label.name]
        if score < label.min_score:
            continue
        key = (label.priority, score, -order)
        if best is None or key > best:
            best, name = key, label.name
    return name


def tag(text: str, taxonomy: Taxonomy | None = None) -> Tags:
    """Tag one caller statement. Deterministic: the same text and taxonomy always give the same tags.

    The first call in a process loads jieba's dictionary (about a second); later calls take well under a
    millisecond for a typical statement.
    """
    tax = taxonomy if taxonomy is not None else default_taxonomy()
    text = normalize(text)
    if not text:
        return Tags("其他", "法律咨询", [], {}, [], text)
    tokenizer: Tokenizer = tokenizer_for(tax.words)
    edges = tokenizer.edges(text)
    all_scores: dict[str, dict[str, float]] = {}
    all_matches: list[Match] = []
    for name in ("legal_area", "service", "flags"):
        scores, matches = _score_axis(text, edges, tax.axis(name), tax)
        all_scores[name] = scores
        all_matches.extend(matches)
    flag_axis = tax.axis("flags")
    flags = [label.name for label in flag_axis.labels if all_scores["flags"][label.name] >= label.min_score]
    flags.sort(key=FLAGS.index)
    return Tags(
        legal_area=_winner(tax.axis("legal_area"), all_scores["legal_area"]),
        service=_winner(tax.axis("service"), all_scores["service"]),
        flags=flags,
        scores=all_scores,
        matches=all_matches,
        text=text,
    )

"""The tagging taxonomy: labels, weighted words and patterns, negation, read from a YAML file and validated.

The label sets are fixed by the 12348 work-order form (see ``LEGAL_AREAS``, ``SERVICES``, ``FLAGS``); a file
may leave a label without rules but may not invent one. Everything else (words, patterns, macros, weights,
thresholds, negators) is the administrators' to edit. The file format is described in ``hotline/tag/README.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hotline.errors import HotlineError
from hotline.yamlfile import read_yaml

LEGAL_AREAS: tuple[str, ...] = (
    "婚姻家庭",
    "劳动争议",
    "合同纠纷",
    "借贷债务",
    "交通事故",
    "房产土地",
    "侵权损害",
    "消费维权",
    "刑事",
    "行政",
    "诉讼仲裁程序",
    "公司商事",
    "其他",
)
SERVICES: tuple[str, ...] = (
    "法律咨询",
    "法律援助",
    "人民调解",
    "公证",
    "司法鉴定",
    "仲裁",
    "投诉",
    "建议表扬",
    "转办其他部门",
)
FLAGS: tuple[str, ...] = (
    "人身安全风险",
    "家庭暴力",
    "群体性纠纷",
    "农民工欠薪",
    "建档立卡",
    "低保特困",
    "老年人",
    "残疾人",
    "未成年人",
    "涉外边民",
    "少数民族语言",
)
AXES: dict[str, tuple[str, ...]] = {"legal_area": LEGAL_AREAS, "service": SERVICES, "flags": FLAGS}
DEFAULTS: dict[str, str] = {"legal_area": "其他", "service": "法律咨询"}

DEFAULT_PATH = Path(__file__).with_name("taxonomy.yaml")
MAX_WEIGHT = 100.0
KEYWORD_GROUP = "kw"
MACRO_NAME = re.compile(r"[a-z][a-z0-9_]*")
MACRO_REF = re.compile(r"\{([a-z][a-z0-9_]*)\}")  # {name}; regex counts such as {0,3} never start with a letter


class TaxonomyError(HotlineError):
    """A taxonomy file that cannot be used; the message names the file, the label and the field."""


@dataclass(frozen=True)
class Rule:
    """One word or pattern of a label. A word matches on jieba token edges; a pattern is a regex on the text."""

    kind: str  # "word" or "pattern"
    source: str
    weight: float
    negatable: bool
    regex: re.Pattern[str] | None = None
    requires: tuple[re.Pattern[str], ...] = ()  # the rule counts only if each of these matches the text


@dataclass(frozen=True)
class Label:
    name: str
    rules: tuple[Rule, ...]
    requires: tuple[re.Pattern[str], ...]
    min_score: float
    priority: int


@dataclass(frozen=True)
class Axis:
    name: str
    labels: tuple[Label, ...]
    default: str | None
    negators: tuple[str, ...] | None = None  # this axis's own negators (longest first); None: the global ones


@dataclass(frozen=True)
class Negation:
    negators: tuple[str, ...]  # longest first
    not_negators: tuple[str, ...]
    max_gap: int
    gap_chars: frozenset[str]
    clause_breaks: frozenset[str]


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy. Immutable; safe to share between threads."""

    path: str
    negation: Negation
    axes: dict[str, Axis]
    words: tuple[str, ...]  # every custom word jieba must keep whole
    macros: dict[str, str] = field(default_factory=dict)  # name -> expanded regex fragment

    def axis(self, name: str) -> Axis:
        return self.axes[name]


class _Ctx:
    def __init__(self, path: str) -> None:
        self.path = path

        self.macros: dict[str, str] = {}

    def fail(self, where: str, what: str) -> TaxonomyError:
        return TaxonomyError(f"{self.path}: {where}: {what}")

    def expand(self, source: str, where: str) -> str:
        """``source`` with every ``{name}`` replaced by that macro's regex, in a non-capturing group."""

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.macros:
                known = ", ".join(sorted(self.macros)) or "none defined"
                raise self.fail(where, f"unknown macro {{{name}}} in {source!r}; known macros: {known}")
            return f"(?:{self.macros[name]})"

        return MACRO_REF.sub(one, source)


def _mapping(ctx: _Ctx, value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.fail(where, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ctx.fail(where, f"expected text keys, got {key!r}")
    return value


def _strings(ctx: _Ctx, value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ctx.fail(where, "expected a list of non-empty strings")
    return list(value)


def _number(ctx: _Ctx, value: Any, where: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.fail(where, f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_WEIGHT or (number == 0 and not allow_zero):
        raise ctx.fail(where, f"expected a non-zero number between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}, got {value!r}")
    return number


def _compile(ctx: _Ctx, source: str, where: str) -> re.Pattern[str]:
    expanded = ctx.expand(source, where)
    try:
        return re.compile(expanded)
    except re.error as exc:
        shown = repr(source) if expanded == source else f"{source!r} (expanded: {expanded!r})"
        raise ctx.fail(where, f"bad regex {shown}: {exc}") from None


def _regexes(ctx: _Ctx, value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    sources = [value] if isinstance(value, str) and value else _strings(ctx, value, where)
    return tuple(_compile(ctx, src, f"{where}[{i}]") for i, src in enumerate(sources))


def _rules(ctx: _Ctx, label: dict[str, Any], where: str) -> list[Rule]:
    rules: list[Rule] = []
    for kind, key in (("word", "words"), ("pattern", "patterns")):
        entries = _mapping(ctx, label.get(key), f"{where}.{key}")
        for source, spec in entries.items():
            at = f"{where}.{key}[{source!r}]"
            if not source:
                raise ctx.fail(at, "expected a non-empty word or pattern")
            negatable = True
            requires: tuple[re.Pattern[str], ...] = ()
            if isinstance(spec, dict):
                unknown = set(spec) - {"weight", "negatable", "requires"}
                if unknown:
                    raise ctx.fail(at, f"unknown keys {sorted(unknown)}; expected weight, negatable, requires")
                if not isinstance(spec.get("negatable", True), bool):
                    raise ctx.fail(f"{at}.negatable", "expected true or false")
                negatable = bool(spec.get("negatable", True))
                weight = _number(ctx, spec.get("weight"), f"{at}.weight")
                requires = _regexes(ctx, spec.get("requires"), f"{at}.requires")
            else:
                weight = _number(ctx, spec, f"{at} weight")
            regex = _compile(ctx, source, at) if kind == "pattern" else None
            rules.append(Rule(kind, source, weight, negatable, regex, requires))
    return rules


_LABEL_KEYS = {"words", "patterns", "requires", "min_score", "priority"}


def _axis(ctx: _Ctx, name: str, raw: Any) -> Axis:
    body = _mapping(ctx, raw, name)
    unknown = set(body) - {"min_score", "labels", "negators"}
    if unknown:
        raise ctx.fail(name, f"unknown keys {sorted(unknown)}; expected min_score, negators, labels")
    negators = None
    if "negators" in body:
        negators = tuple(sorted(set(_strings(ctx, body["negators"], f"{name}.negators")), key=len, reverse=True))
    axis_min = _number(ctx, body.get("min_score", 1), f"{name}.min_score")
    if axis_min <= 0:
        raise ctx.fail(f"{name}.min_score", f"expected a positive number, got {axis_min:g}")
    raw_labels = _mapping(ctx, body.get("labels"), f"{name}.labels")
    allowed = AXES[name]
    labels: list[Label] = []
    for label_name, label_raw in raw_labels.items():
        where = f"{name}.labels.{label_name}"
        if label_name not in allowed:
            raise ctx.fail(where, f"unknown label {label_name!r}; expected one of {', '.join(allowed)}")
        label = _mapping(ctx, label_raw, where)
        unknown = set(label) - _LABEL_KEYS
        if unknown:
            raise ctx.fail(where, f"unknown keys {sorted(unknown)}; expected {', '.join(sorted(_LABEL_KEYS))}")
        requires = _regexes(ctx, label.get("requires"), f"{where}.requires")
        priority = label.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ctx.fail(f"{where}.priority", f"expected an integer, got {priority!r}")
        min_score = _number(ctx, label.get("min_score", axis_min), f"{where}.min_score")
        if min_score <= 0:
            raise ctx.fail(f"{where}.min_score", f"expected a positive number, got {min_score:g}")
        labels.append(Label(label_name, tuple(_rules(ctx, label, where)), requires, min_score, priority))
    return Axis(name, tuple(labels), DEFAULTS.get(name), negators)


def _negation(ctx: _Ctx, raw: Any) -> Negation:
    body = _mapping(ctx, raw, "negation")
    unknown = set(body) - {"negators", "not_negators", "max_gap", "gap_chars", "clause_breaks"}
    if unknown:
        raise ctx.fail("negation", f"unknown keys {sorted(unknown)}")
    max_gap = body.get("max_gap", 2)
    if isinstance(max_gap, bool) or not isinstance(max_gap, int) or not 0 <= max_gap <= 10:
        raise ctx.fail("negation.max_gap", f"expected an integer from 0 to 10, got {max_gap!r}")
    for key in ("gap_chars", "clause_breaks"):
        if not isinstance(body.get(key, ""), str):
            raise ctx.fail(f"negation.{key}", "expected a string of characters")
    negators = _strings(ctx, body.get("negators"), "negation.negators")
    return Negation(
        negators=tuple(sorted(set(negators), key=len, reverse=True)),
        not_negators=tuple(_strings(ctx, body.get("not_negators"), "negation.not_negators")),
        max_gap=max_gap,
        gap_chars=frozenset(body.get("gap_chars", "")),
        clause_breaks=frozenset(body.get("clause_breaks", "，。！？；,.!?;\n")),
    )


def _macros(ctx: _Ctx, raw: Any) -> None:
    """Read ``macros`` in file order; a macro may use the macros defined above it."""
    for name, source in _mapping(ctx, raw, "macros").items():
        where = f"macros.{name}"
        if not MACRO_NAME.fullmatch(name):
            raise ctx.fail(where, "expected a name of lower-case letters, digits and _, starting with a letter")
        if not isinstance(source, str) or not source:
            raise ctx.fail(where, f"expected a non-empty regex, got {source!r}")
        expanded = ctx.expand(source, where)
        try:
            re.compile(expanded)
        except re.error as exc:
            raise ctx.fail(where, f"bad regex {source!r}: {exc}") from None
        ctx.macros[name] = expanded


def parse_taxonomy(data: Any, path: str = "<taxonomy>") -> Taxonomy:
    """Validate already-parsed YAML; ``path`` is only used in error messages."""
    ctx = _Ctx(path)
    top = _mapping(ctx, data, "top level")
    unknown = set(top) - {"version", "negation", "segmentation", "macros", "legal_area", "service", "flags"}
    if unknown:
        raise ctx.fail(
            "top level",
            f"unknown keys {sorted(unknown)}; expected version, negation, segmentation, macros, legal_area, service, "
            "flags",
        )
    if top.get("version", 1) != 1:
        raise ctx.fail("version", f"expected 1, got {top.get('version')!r}")
    segmentation = _mapping(ctx, top.get("segmentation"), "segmentation")
    extra_words = _strings(ctx, segmentation.get("words"), "segmentation.words")
    _macros(ctx, top.get("macros"))
    axes = {name: _axis(ctx, name, top.get(name)) for name in AXES}
    words = dict.fromkeys(extra_words)
    for axis in axes.values():
        for label in axis.labels:
            for rule in label.rules:
                if rule.kind == "word":
                    words[rule.source] = None
    return Taxonomy(path, _negation(ctx, top.get("negation")), axes, tuple(words), dict(ctx.macros))


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (the packaged ``taxonomy.yaml`` when ``path`` is None)."""
    file = Path(path) if path is not None else DEFAULT_PATH
    return parse_taxonomy(read_yaml(file, "the taxonomy", TaxonomyError), str(file))


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    return load_taxonomy(None)

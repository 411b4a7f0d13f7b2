"""Quality-check (质检) rules: a YAML file that administrators edit, validated with pydantic.

The file holds five items (greeting, closing, forbidden_words, long_silence, talk_ratio), each with the points it
is worth; the format is described in ``hotline/analysis/README.md``. A file that cannot be used is refused with a
``QaRulesError`` naming the file, the item and field, and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from hotline.errors import HotlineError
from hotline.yamlfile import read_yaml

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.yaml")


def _number_as_text(value: Any) -> Any:
    # YAML reads an unquoted 12348 as a number; in a phrase list it is meant as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), BeforeValidator(_number_as_text)]
Points = Annotated[int, Field(ge=0, le=100)]


def normalise(text: str) -> str:
    """What matching sees: NFKC (full-width digits become 12348) with every space removed (Vosk puts spaces
    between Chinese words)."""
    return "".join(unicodedata.normalize("NFKC", text).split())


class QaRulesError(HotlineError):
    """A rules file that cannot be used; the message names the file, the item and field, and what was expected."""


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    label: str  # shown to supervisors in reports


class Greeting(_Item):
    """The agent greets within ``within_seconds`` of being connected (or of their first words)."""

    label: str = "开头问候"
    points: Points
    within_seconds: float = Field(gt=0, le=600)
    phrases: list[Phrase] = Field(min_length=1)


class Closing(_Item):
    """The agent says a closing phrase within the last ``last_seconds`` of their speech."""

    label: str = "结束语"
    points: Points
    last_seconds: float = Field(gt=0, le=600)
    phrases: list[Phrase] = Field(min_length=1)


class ForbiddenWords(_Item):
    """Each word the agent says costs its penalty once per call; the item never costs more than ``max_points``.
    An occurrence inside one of the ``exceptions`` phrases, or inside a longer forbidden word, does not count."""

    label: str = "禁语"
    max_points: Points
    words: dict[Phrase, Annotated[int, Field(ge=1, le=100)]] = Field(min_length=1)
    exceptions: list[Phrase] = []


class LongSilence(_Item):
    """No gap between any segments of either channel longer than ``max_gap_seconds`` while the agent is on."""

    label: str = "长时间静默"
    points: Points
    max_gap_seconds: float = Field(gt=0, le=3600)


class TalkRatio(_Item):
    """Agent speech time over the speech time of both channels lies within [min, max]."""

    label: str = "说话占比"
    points: Points
    min: float = Field(ge=0, le=1)
    max: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> TalkRatio:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must not be greater than max ({self.max:g})")
        return self


ITEM_NAMES: tuple[str, ...] = ("greeting", "closing", "forbidden_words", "long_silence", "talk_ratio")


class QaRules(BaseModel):
    """A validated rules file. Immutable; ``checksum`` identifies its content in stored results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    greeting: Greeting
    closing: Closing
    forbidden_words: ForbiddenWords
    long_silence: LongSilence
    talk_ratio: TalkRatio

    @property
    def checksum(self) -> str:
        """SHA-256 (first 16 hex digits) of the rules' content: comments and layout do not change it."""
        canonical = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def label(self, name: str) -> str:
        item: _Item = getattr(self, name)
        return item.label


_EXPECTED = {
    "missing": "this is required",
    "extra_forbidden": "unknown key",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def _describe(err: Any, known: dict[str, tuple[str, ...]]) -> str:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "top level"
    kind = str(err["type"])
    if kind == "extra_forbidden":
        parent = ".".join(loc[:-1])
        expected = known.get(parent)
        what = f"unknown {'item' if not parent else 'key'} {loc[-1]!r}"
        return f"{where}: {what}" + (f"; expected one of {', '.join(expected)}" if expected else "")
    if kind == "missing":
        return f"{where}: missing; this {'item' if len(loc) == 1 else 'key'} is required"
    ctx = err.get("ctx") or {}
    bounds = {
        "greater_than": "a number greater than {gt}",
        "greater_than_equal": "a number of at least {ge}",
        "less_than": "a number less than {lt}",
        "less_than_equal": "a number of at most {le}",
        "too_short": "at least {min_length} entry",
        "string_too_short": "non-empty text",
        "literal_error": "{expected}",
    }
    if kind in bounds:
        shown_ctx = {k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
        message = "expected " + bounds[kind].format(**shown_ctx)
    else:
        message = _EXPECTED.get(kind) or str(err["msg"]).replace("Input should be", "expected")
        message = message.replace("Value error, ", "")
    got = err.get("input")
    shown = "" if isinstance(got, dict) else f", got {got!r}"
    return f"{where}: {message}{shown}"


def _known_keys() -> dict[str, tuple[str, ...]]:
    known: dict[str, tuple[str, ...]] = {"": tuple(QaRules.model_fields)}
    for name in ITEM_NAMES:
        annotation = QaRules.model_fields[name].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseModel)
        known[name] = tuple(annotation.model_fields)
    return known


def parse_rules(data: Any, path: str = "<rules>") -> QaRules:
    """Validate already-parsed YAML; ``path`` is only used in error messages."""
    if not isinstance(data, dict):
        raise QaRulesError(f"{path}: top level: expected a mapping of items ({', '.join(ITEM_NAMES)})")
    try:
        rules = QaRules.model_validate(data)
    except ValidationError as exc:
        known = _known_keys()
        problems = [_describe(err, known) for err in exc.errors()]
        raise QaRulesError(f"{path}: " + "; ".join(problems)) from None
    forbidden = rules.forbidden_words
    clashes = [w for w in forbidden.words if any(normalise(w) == normalise(e) for e in forbidden.exceptions)]
    if clashes:
        raise QaRulesError(
            f"{path}: forbidden_words.exceptions: {clashes[0]!r} is also a forbidden word; "
            "expected exceptions to be longer phrases that contain one"
        )
    return rules


def load_rules(path: Path | str | None = None) -> QaRules:
    """Read and validate a rules file (the packaged ``rules.yaml`` when ``path`` is None)."""
    file = Path(path) if path is not None else DEFAULT_RULES_PATH
    return parse_rules(read_yaml(file, "the quality-check rules", QaRulesError), str(file))

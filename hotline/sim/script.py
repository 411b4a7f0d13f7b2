"""The traffic simulator's script: from a profile and a seed, the callers who will dial in (when, from which
number, which menu digits, how patient, whether they want a callback, how they answer the survey) and the agents'
habits (talk, wrap-up, pauses, how they close the work order). Pure: the same profile and seed give the same
script; hotline/sim/run.py plays it through the real front.

The menu paths are digit strings of the flow (ivr_flows/yunnan_12348.yaml: "1 1 3" is 普通话, 法律咨询, 合同与借贷);
the profile gives each a weight, so another flow needs another profile, not other code.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline.caller.phone import parse_caller
from hotline.caller.prefectures import PREFECTURES
from hotline.flow.model import EnqueueNode, Flow, LanguageNode, SetNode
from hotline.tag.taxonomy import LEGAL_AREAS


class Range(BaseModel):
    """A duration drawn uniformly between two bounds, in seconds."""

    model_config = ConfigDict(extra="forbid")
    min: float = Field(ge=0)
    max: float = Field(ge=0)

    def draw(self, rng: random.Random) -> float:
        low, high = sorted((self.min, self.max))
        return round(rng.uniform(low, high), 1)


class Profile(BaseModel):
    """The proportions of a simulated day (a YAML file; every key has a default)."""

    model_config = ConfigDict(extra="forbid")
    #: menu digits -> weight (digits separated by spaces: one menu answer each)
    paths: dict[str, float] = {
        "1 1 1": 12,  # 婚姻家庭
        "1 1 2": 14,  # 劳动争议 (its own menu follows; the flow's timeout takes the default)
        "1 1 3": 12,  # 合同与借贷
        "1 1 4": 6,
        "1 1 5": 6,
        "1 1 6": 4,
        "1 1 7": 6,
        "1 2": 15,  # 法律援助
        "1 3": 10,  # 人民调解
        "1 5": 5,  # 投诉建议
        "1 0": 4,  # 人工
    }
    #: prefecture short name (昆明...) or `outside` -> weight
    origins: dict[str, float] = {p.short: 1.0 for p in PREFECTURES} | {"昆明": 6.0, "outside": 1.0}
    mobile_share: float = Field(default=0.7, ge=0, le=1)
    abandon_share: float = Field(default=0.12, ge=0, le=1)  # callers with a short patience
    patience: Range = Range(min=20, max=90)  # of those who give up
    callback_share: float = Field(default=0.05, ge=0, le=1)
    survey_share: float = Field(default=0.8, ge=0, le=1)
    talk: Range = Range(min=30, max=180)
    wrap_up: Range = Range(min=5, max=30)
    pause_share: float = Field(default=0.1, ge=0, le=1)  # after a call, an agent pauses
    pause: Range = Range(min=30, max=120)
    #: survey question -> key -> weight (the keys of the flow's survey node)
    survey_answers: dict[str, dict[str, float]] = {
        "satisfaction": {"1": 80, "2": 15, "3": 5},
        "first_choice": {"1": 75, "2": 25},
        "channel": {"1": 20, "2": 15, "3": 30, "4": 20, "5": 10, "6": 5},
    }
    referral_share: float = Field(default=0.1, ge=0, le=1)  # work orders closed as 已转介

    @field_validator("survey_answers")
    @classmethod
    def _answers(cls, answers: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for question, keys in answers.items():
            if not keys or any(len(k) != 1 or k not in "0123456789" for k in keys):
                raise ValueError(f"survey question {question!r}: expected single keys 0-9 with weights")
            if any(w < 0 for w in keys.values()) or not any(keys.values()):
                raise ValueError(f"survey question {question!r}: weights must be >= 0, one above 0")
        return answers

    @field_validator("paths")
    @classmethod
    def _digits(cls, paths: dict[str, float]) -> dict[str, float]:
        for digits, weight in paths.items():
            keys = digits.split()
            if not keys or any(k not in "0123456789*#" or len(k) != 1 for k in keys):
                raise ValueError(f"path {digits!r}: expected keys 0-9, * or # separated by spaces")
            if weight < 0:
                raise ValueError(f"path {digits!r}: the weight must be >= 0, not {weight}")
        if not any(paths.values()):
            raise ValueError("no path has a weight above 0")
        return paths

    @field_validator("origins")
    @classmethod
    def _origins(cls, origins: dict[str, float]) -> dict[str, float]:
        known = {p.short for p in PREFECTURES} | {"outside"}
        unknown = sorted(set(origins) - known)
        if unknown:
            raise ValueError(f"unknown origins {unknown}: expected the prefectures' short names or `outside`")
        if not any(origins.values()):
            raise ValueError("no origin has a weight above 0")
        return origins


@dataclass(frozen=True)
class Caller:
    n: int  # the call's number in the run (its signed Call-ID)
    at: float  # seconds after the start
    number: str  # national form, e.g. 13908712345 or 087165123456
    digits: tuple[str, ...]
    patience: float | None  # hangs up after this long in the queue; None: waits
    callback: bool  # asks for a callback in the queue
    survey: tuple[str, ...]  # the keys pressed for the survey's questions, in order; () hangs up after the agent

    @property
    def masked(self) -> str:
        """The number as the console shows it (unique within a run: the simulator finds its caller by it)."""
        return parse_caller(self.number).masked


@dataclass(frozen=True)
class Shift:
    """One call's worth of an agent's habits, drawn when the call comes."""

    talk: float
    wrap_up: float
    pause: float | None  # pauses this long after the work order; None: back to available
    legal_area: str  # when the work order has none yet
    referred: bool


_BY_SHORT = {p.short: p for p in PREFECTURES}
# Mobile prefixes geocoded to the prefecture (checked against phonenumbers by the tests, not assumed).
OUTSIDE_AREAS = ("010", "020", "021", "028")


def draw_number(rng: random.Random, origin: str, mobile: bool) -> str:
    """A national number placed in `origin` (a prefecture's short name, or `outside`), mobile or landline."""
    area = rng.choice(OUTSIDE_AREAS) if origin == "outside" else _BY_SHORT[origin].area_code
    if mobile:
        # 139 + the area code's 4 digits (0871 -> 0871): the HLR blocks of China Mobile in the capital cities
        return f"139{area[1:].rjust(4, '0')}{rng.randrange(10000):04d}"
    return f"{area}{rng.randrange(2, 10)}{rng.randrange(10**6, 10**7):07d}"


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys, values = zip(*weights.items(), strict=True)
    return str(rng.choices(keys, values)[0])


def callers(profile: Profile, seed: int, duration_s: float, per_minute: float) -> list[Caller]:
    """The callers of a run: Poisson arrivals at ``per_minute`` over ``duration_s``, drawn from ``seed``. No two
    share a masked number (the console's view of a caller is how the simulator knows whom an agent answered)."""
    if per_minute <= 0 or duration_s <= 0:
        raise ValueError("the duration and the callers per minute must be above 0")
    rng = random.Random(seed)
    seen: set[str] = set()
    paths, weights = zip(*profile.paths.items(), strict=True)
    origins, origin_weights = zip(*profile.origins.items(), strict=True)
    out: list[Caller] = []
    at = rng.expovariate(per_minute / 60)
    while at < duration_s:
        origin = rng.choices(origins, origin_weights)[0]
        mobile = rng.random() < profile.mobile_share
        number = draw_number(rng, origin, mobile)
        while (masked := parse_caller(number).masked) in seen:
            number = draw_number(rng, origin, mobile)
        seen.add(masked)
        gives_up = rng.random() < profile.abandon_share
        surveyed = rng.random() < profile.survey_share
        out.append(
            Caller(
                n=len(out) + 1,
                at=round(at, 1),
                number=number,
                digits=tuple(rng.choices(paths, weights)[0].split()),
                patience=profile.patience.draw(rng) if gives_up else None,
                callback=not gives_up and rng.random() < profile.callback_share,
                survey=tuple(_pick(rng, keys) for keys in profile.survey_answers.values()) if surveyed else (),
            )
        )
        at += rng.expovariate(per_minute / 60)
    return out


def shifts(profile: Profile, seed: int, agent: int) -> Iterator[Shift]:
    """Agent number `agent`'s calls of a run, one draw each, from its own stream of `seed` (so one agent's
    calls do not change another's)."""
    rng = random.Random(f"{seed}:agent:{agent}")
    while True:
        yield Shift(
            talk=profile.talk.draw(rng),
            wrap_up=profile.wrap_up.draw(rng),
            pause=profile.pause.draw(rng) if rng.random() < profile.pause_share else None,
            legal_area=rng.choice(LEGAL_AREAS),
            referred=rng.random() < profile.referral_share,
        )


def skills_asked(flow: Flow) -> tuple[str, ...]:
    """Every skill (``kind:value``) the flow's queues can ask of an agent: for each kind an enqueue node takes from
    the call's attributes (``skills_from``), the values the flow's set and language nodes give that attribute. The
    simulated agents have them all, so that no simulated caller waits for a skill nobody has."""
    nodes = flow.file.nodes.values()
    kinds = {kind for node in nodes if isinstance(node, EnqueueNode) for kind in node.skills_from}
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, SetNode):
            found.update(f"{k}:{v}" for k, v in node.attributes.items() if k in kinds and v is not None)
        elif isinstance(node, LanguageNode) and node.attribute in kinds:
            choices = [*node.choices.values(), node.default]
            found.update(f"{node.attribute}:{c.language}" for c in choices if c.language is not None)
    return tuple(sorted(found))

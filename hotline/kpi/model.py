"""KPI definitions (id, name, version, unit, formula), their parameters, and the value object every KPI returns.

The formulas are explained in docs/kpi.md; a definition's `version` goes up whenever what it counts changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hotline.errors import HotlineError


class Unit(StrEnum):
    RATIO = "ratio"  # a fraction in [0, 1], shown as percent
    SECONDS = "s"


@dataclass(frozen=True)
class Definition:
    id: str  # stable identifier, e.g. "answer_rate"
    name: str  # the name the province uses, e.g. "接通率"
    version: int
    unit: Unit
    formula: str  # with {T} (service-level threshold) and {short} (the short-abandon rule) where they apply

    @property
    def label(self) -> str:
        """`接通率 v1`: what is shown next to a value."""
        return f"{self.name} v{self.version}"


ANSWER_RATE = Definition(
    "answer_rate", "接通率", 1, Unit.RATIO, "answered (CONNECT, or a connected callback) / offered queue visits{short}"
)
SERVICE_LEVEL = Definition(
    "service_level", "服务水平", 1, Unit.RATIO, "visits answered live within {T} / offered queue visits{short}"
)
ASA = Definition("asa", "平均应答速度", 1, Unit.SECONDS, "sum of waits ENTERQUEUE to CONNECT / visits answered live")
ABANDON_RATE = Definition(
    "abandon_rate", "放弃率", 1, Unit.RATIO, "visits abandoned (ABANDON) / offered queue visits{short}"
)
TALK_TIME = Definition(
    "talk_time", "平均通话时长", 1, Unit.SECONDS, "sum of talk times CONNECT to COMPLETE*/TRANSFER / conversations"
)
SATISFACTION = Definition("satisfaction", "满意率", 1, Unit.RATIO, "(满意 + 基本满意) / rated calls")
RATING_RATE = Definition(
    "rating_rate", "参评率", 1, Unit.RATIO, "rated calls / inbound calls bridged to an agent (survey eligible)"
)
FIRST_CHOICE = Definition("first_choice", "首选率", 1, Unit.RATIO, "answered 是 / answered the first-choice question")
AWARENESS = Definition(
    "awareness", "知晓率", 1, Unit.RATIO, "learned of 12348 through publicity channels / answered the channel question"
)
RESPONSE_RATE = Definition(
    "response_rate",
    "回应率",
    1,
    Unit.RATIO,
    "needs answered by an agent, a connected callback or a handled work order / needs{short}",
)
LEGAL_AID_RATE = Definition(
    "legal_aid_rate",
    "受援率",
    1,
    Unit.RATIO,
    "registered-poor callers needing legal aid referred to 法律援助 / registered-poor callers needing legal aid",
)
DEFINITIONS: tuple[Definition, ...] = (
    ANSWER_RATE,
    SERVICE_LEVEL,
    ASA,
    ABANDON_RATE,
    TALK_TIME,
    SATISFACTION,
    RATING_RATE,
    FIRST_CHOICE,
    AWARENESS,
    RESPONSE_RATE,
    LEGAL_AID_RATE,
)


class KpiParamsError(HotlineError):
    pass


@dataclass(frozen=True, kw_only=True)
class KpiParams:
    """Everything a KPI formula leaves open; the defaults are docs/kpi.md's."""

    service_level_s: float | None = 15.0  # None: each queue's own service_level_seconds
    short_abandon_s: float = 5.0  # an abandon after waiting less than this is a short abandon
    exclude_short_abandons: bool = True
    satisfaction_question: str = "satisfaction"
    satisfied_labels: frozenset[str] = frozenset({"满意", "基本满意"})
    first_choice_question: str = "first_choice"
    first_choice_labels: frozenset[str] = frozenset({"是"})
    awareness_question: str = "channel"
    awareness_labels: frozenset[str] = frozenset({"电视广播", "报刊海报等宣传材料", "网络和微信", "政府部门或村居社区"})
    poor_registry_kinds: frozenset[str] = frozenset({"建档立卡", "低保", "特困"})
    poor_flags: frozenset[str] = frozenset({"registered_poor"})
    aid_services: frozenset[str] = frozenset({"法律援助"})
    aid_flags: frozenset[str] = frozenset({"legal_aid_hint"})
    aid_referral: str = "法律援助"
    response_statuses: frozenset[str] = frozenset({"answered", "referred"})

    def __post_init__(self) -> None:
        if self.service_level_s is not None and not self.service_level_s > 0:
            raise KpiParamsError(f"service_level_s must be positive seconds or None; got {self.service_level_s!r}")
        if not self.short_abandon_s >= 0:
            raise KpiParamsError(f"short_abandon_s must be 0 or more seconds; got {self.short_abandon_s!r}")

    def render(self, definition: Definition) -> str:
        """The definition's formula with these parameters filled in."""
        threshold = (
            "each queue's service_level_seconds" if self.service_level_s is None else f"{self.service_level_s:g} s"
        )
        short = (
            f", abandons after less than {self.short_abandon_s:g} s left out"
            if self.exclude_short_abandons
            else ", short abandons included"
        )
        return definition.formula.format(T=threshold, short=short)


DEFAULTS = KpiParams()


@dataclass(frozen=True)
class KpiValue:
    """A KPI computed over some rows: the value and how it was reached. `value` is None when the denominator is 0."""

    definition: Definition
    numerator: float
    denominator: float
    formula: str  # the definition's formula with the parameters used

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def label(self) -> str:
        return self.definition.label

    @property
    def unit(self) -> Unit:
        return self.definition.unit

    def display(self) -> str:
        """`93.3 % (14/15)`, `12.5 s (3 calls)`, or `— (0/0)` when there is no value."""
        count = f"{self.numerator:g}/{self.denominator:g}" if self.unit is Unit.RATIO else f"{self.denominator:g} calls"
        value = self.value
        if value is None:
            return f"— ({count})"
        shown = f"{value * 100:.1f} %" if self.unit is Unit.RATIO else f"{value:.1f} s"
        return f"{shown} ({count})"

    def as_dict(self) -> dict[str, Any]:
        """For JSON: the console's wallboard, the report, the API."""
        return {
            "id": self.definition.id,
            "name": self.definition.name,
            "version": self.definition.version,
            "label": self.label,
            "unit": self.unit.value,
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "formula": self.formula,
        }

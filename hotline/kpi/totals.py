"""KPIs from sums: the numerators and denominators of a group's KPIs counted by the database (db/kpi_totals.py)
instead of over rows, turned into the same KpiValue objects as hotline.kpi.scorecard gives.

The sums of one group are a mapping of the names in SUMS to numbers. What each name counts is the rows' formula
of hotline.kpi.compute (the definition); tests/integration/test_kpi_totals.py checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from hotline.kpi.model import DEFAULTS, DEFINITIONS, KpiParams, KpiValue

#: The KPIs the sums give, by the id hotline.kpi.scorecard uses: (the definition's id, numerator's sum,
#: denominator's sum). 平均通话时长 is not among them (no report shows it).
CARD: dict[str, tuple[str, str, str]] = {
    "answer_rate": ("answer_rate", "answered", "offered"),
    "service_level": ("service_level", "answered_within", "offered"),
    "asa": ("asa", "wait_s", "answered_live"),
    "abandon_rate": ("abandon_rate", "abandoned", "offered"),
    "satisfaction": ("satisfaction", "satisfied", "rated"),
    "rating_rate": ("rating_rate", "eligible_rated", "eligible"),
    "first_choice": ("first_choice", "first_choice_yes", "first_choice_answered"),
    "awareness": ("awareness", "aware", "channel_answered"),
    "response_rate": ("response_rate", "responded", "needs"),
    "response_rate_poor": ("response_rate", "poor_responded", "poor_needs"),
    "legal_aid_rate": ("legal_aid_rate", "aid_referred", "aid_callers"),
}
_DEFINITIONS = {d.id: d for d in DEFINITIONS}
#: Sums that are counted per caller, not per call: a group's is not the sum of its parts' (受援率).
PER_CALLER: frozenset[str] = frozenset({"aid_referred", "aid_callers"})
#: Every sum of a group: `inbound` (the inbound calls) and the KPIs' numerators and denominators.
SUMS: tuple[str, ...] = ("inbound", *dict.fromkeys(name for _, *names in CARD.values() for name in names))


def add(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The sums of the parts taken together, except the per-caller ones (left out: count those over the whole)."""
    out: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            if name not in PER_CALLER:
                out[name] = out.get(name, 0.0) + value
    return out


def scorecard_of_sums(sums: Mapping[str, float], params: KpiParams = DEFAULTS) -> dict[str, KpiValue]:
    """The KPIs of CARD from a group's sums (a missing sum is 0), as hotline.kpi.scorecard returns them."""
    card: dict[str, KpiValue] = {}
    for kpi_id, (definition_id, numerator, denominator) in CARD.items():
        definition = _DEFINITIONS[definition_id]
        value = KpiValue(definition, sums.get(numerator, 0.0), sums.get(denominator, 0.0), params.render(definition))
        if kpi_id == "response_rate_poor":
            value = replace(value, formula=value.formula + "; calls of registered-poor callers only")
        card[kpi_id] = value
    return card

"""hotline.kpi.totals: sums become the scorecard's KpiValues (same definitions, formulas and ids), parts add up
except the per-caller sums of 受援率."""

from __future__ import annotations

from hotline.kpi import DEFAULTS, KpiParams, KpiRows, scorecard
from hotline.kpi.totals import CARD, PER_CALLER, SUMS, add, scorecard_of_sums


def test_the_sums_give_the_scorecards_values_but_talk_time() -> None:
    params = KpiParams(service_level_s=20.0, exclude_short_abandons=False)
    empty = scorecard(KpiRows(), params)
    card = scorecard_of_sums({}, params)
    assert set(card) == set(empty) - {"talk_time"} == set(CARD)
    for kpi_id, value in card.items():
        assert (value.definition, value.formula) == (empty[kpi_id].definition, empty[kpi_id].formula), kpi_id
        assert (value.numerator, value.denominator, value.value) == (0.0, 0.0, None)


def test_a_kpi_is_its_numerator_over_its_denominator() -> None:
    sums = {name: float(i + 1) for i, name in enumerate(SUMS)}
    card = scorecard_of_sums(sums, DEFAULTS)
    assert (card["answer_rate"].numerator, card["answer_rate"].denominator) == (sums["answered"], sums["offered"])
    assert (card["asa"].numerator, card["asa"].denominator) == (sums["wait_s"], sums["answered_live"])
    assert card["legal_aid_rate"].value == sums["aid_referred"] / sums["aid_callers"]
    assert card["response_rate_poor"].formula.endswith("; calls of registered-poor callers only")


def test_parts_add_up_but_callers_are_counted_over_the_whole() -> None:
    total = add([{"offered": 2.0, "aid_callers": 1.0}, {"offered": 3.0, "answered": 1.0, "aid_referred": 1.0}])
    assert total == {"offered": 5.0, "answered": 1.0}
    assert PER_CALLER == {"aid_callers", "aid_referred"}

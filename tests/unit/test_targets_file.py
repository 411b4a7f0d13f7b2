"""hotline.kpi.targets: the measure vocabulary, periods, and a targets file checked whole with every problem."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from hotline.kpi import DEFINITIONS
from hotline.kpi.targets import (
    BY_ID,
    MEASURES,
    PROVINCE,
    MeasureUnit,
    PeriodKind,
    TargetsFileError,
    parse_period,
    parse_targets,
    read_targets_file,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "targets-2026.csv"
F = Path("t.csv")


def parse(text: str, encoding: str = "utf-8") -> list[tuple[str, str, str, Decimal]]:
    return [
        (t.prefecture, t.period.text, t.measure.id, t.target) for t in parse_targets(F, text.encode(encoding)).targets
    ]


def problems(text: str) -> list[str]:
    with pytest.raises(TargetsFileError) as info:
        parse_targets(F, text.encode())
    assert str(info.value).startswith(f"targets file {F} rejected, nothing stored ({len(info.value.problems)} problem")
    return info.value.problems


def test_the_vocabulary_holds_the_kpis_with_their_ids_and_names_and_the_programme_counts() -> None:
    ids = [m.id for m in MEASURES]
    assert len(ids) == len(set(ids))
    kpi = {d.id: d.name for d in DEFINITIONS}
    for m in MEASURES:
        if m.id in kpi:
            assert m.name == kpi[m.id]
    assert {"answer_rate", "service_level", "satisfaction", "response_rate", "legal_aid_rate"} <= set(ids)
    counts = {m.id for m in MEASURES if m.unit is MeasureUnit.COUNT}
    assert counts == {"consultations", "matters", "legal_aid", "mediation", "notary", "appraisal", "arbitration"}
    assert BY_ID["mediation_success_rate"].unit is MeasureUnit.RATIO
    assert not BY_ID["abandon_rate"].higher_is_better and BY_ID["answer_rate"].higher_is_better
    assert len({m.name for m in MEASURES}) == len(MEASURES)  # Chinese names are accepted as input: no two alike


@pytest.mark.parametrize(
    ("text", "canonical", "kind", "starts", "ends"),
    [
        ("2026-11", "2026-11", PeriodKind.MONTH, date(2026, 11, 1), date(2026, 12, 1)),
        ("2026-1", "2026-01", PeriodKind.MONTH, date(2026, 1, 1), date(2026, 2, 1)),
        ("2026-12", "2026-12", PeriodKind.MONTH, date(2026, 12, 1), date(2027, 1, 1)),
        ("2026Q2", "2026Q2", PeriodKind.QUARTER, date(2026, 4, 1), date(2026, 7, 1)),
        ("2026-q4", "2026Q4", PeriodKind.QUARTER, date(2026, 10, 1), date(2027, 1, 1)),
        (" 2026 ", "2026", PeriodKind.YEAR, date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_periods(text: str, canonical: str, kind: PeriodKind, starts: date, ends: date) -> None:
    p = parse_period(text)
    assert (p.text, p.kind, p.starts, p.ends) == (canonical, kind, starts, ends)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026Q5", "26", "2026/11", "November", "", "1999"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def test_english_headers_prefecture_names_percent_and_counts() -> None:
    assert parse(
        "prefecture,period,measure,target\n"
        "530100,2026-11,answer_rate,0.95\n"
        "昆明市,2026-11,satisfaction,98%\n"
        '大理,2026Q2,matters,"12,000"\n'
        "province,2026,consultations,1000000\n"
        "全省,2026,asa,15\n"
    ) == [
        ("530100", "2026-11", "answer_rate", Decimal("0.95")),
        ("530100", "2026-11", "satisfaction", Decimal("0.98")),
        ("532900", "2026Q2", "matters", Decimal(12000)),
        (PROVINCE, "2026", "consultations", Decimal(1000000)),
        (PROVINCE, "2026", "asa", Decimal(15)),
    ]


def test_chinese_headers_in_any_order_other_columns_read_past_bom_and_gb18030() -> None:
    text = "备注,指标,目标值,期间,州市\n说明,接通率,95%,2026-11,曲靖\n,调解成功率,0.98,2026,全省\n"
    want = [
        ("530300", "2026-11", "answer_rate", Decimal("0.95")),
        (PROVINCE, "2026", "mediation_success_rate", Decimal("0.98")),
    ]
    assert parse(text) == want
    assert parse("\ufeff" + text) == want
    assert parse(text, "gb18030") == want


def test_a_bad_file_gives_every_problem_of_every_line_with_file_line_and_column() -> None:
    found = problems(
        "prefecture,period,measure,target\n"
        "530100,2026-11,answer_rate,0.95\n"  # 2: good
        "530199,2026-11,answer_rate,0.95\n"  # 3: no such prefecture
        "530100,2026-13,answer_rate,0.95\n"  # 4: no such month
        "530100,2026-11,answer_ratio,0.95\n"  # 5: no such measure
        "530100,2026-11,satisfaction,98\n"  # 6: a rate above 1 without %
        "530100,2026-11,matters,12.5\n"  # 7: a count with a fraction
        "530100,2026-11,matters,-3\n"  # 8: negative
        "530100,2026-11,consultations,many\n"  # 9: not a number
        "\n"  # 10: blank, skipped
        "530100,2026-11,answer_rate,0.9\n"  # 11: given at line 2
        ",,,\n"  # 12: all empty: skipped like a blank line
        "530100,,service_level,\n"  # 13: two empty cells
        "foo,2026Q9,bar,x\n"  # 14: three problems on one line, target not checked without a measure
        "530100,2026,matters,50%\n"  # 15: a percent for a count
        "530100,2026,satisfaction,101%\n"  # 16: above 100 %
    )
    not_a_prefecture = "is not one of the 16 prefecture codes (530100 ... 533400), their names, or province"
    assert found == [
        f"t.csv:3: prefecture: '530199' {not_a_prefecture}",
        "t.csv:4: period: '2026-13': month 13 is not 1 to 12",
        "t.csv:5: measure: 'answer_ratio' is not a measure: expected one of " + ", ".join(BY_ID),
        "t.csv:6: target: 98 is above 100 % for the rate satisfaction (write 98% for a percent)",
        "t.csv:7: target: 12.5: matters is a count, a whole number",
        "t.csv:8: target: -3 is negative",
        "t.csv:9: target: 'many' is not a number",
        "t.csv:11: measure: answer_rate for 530100 in 2026-11 already given at line 2",
        "t.csv:13: period: empty",
        "t.csv:13: target: empty",
        f"t.csv:14: prefecture: 'foo' {not_a_prefecture}",
        "t.csv:14: period: '2026Q9' is not a period: expected 2026-11 (month), 2026Q2 (quarter) or 2026 (year)",
        "t.csv:14: measure: 'bar' is not a measure: expected one of " + ", ".join(BY_ID),
        "t.csv:15: target: 50%: matters is a count, not a rate",
        "t.csv:16: target: 101% is above 100 % for the rate satisfaction",
    ]


def test_the_same_target_spelled_two_ways_is_a_duplicate() -> None:
    assert problems("州市,期间,指标,目标值\n昆明,2026Q1,满意率,98%\n530100,2026-q1,satisfaction,0.9\n") == [
        "t.csv:3: measure: satisfaction for 530100 in 2026Q1 already given at line 2"
    ]


def test_header_problems_name_every_missing_column() -> None:
    assert problems("\nregion,period,kpi,value\n530100,2026,matters,1\n") == [
        "t.csv:2: prefecture: no prefecture column: expected a header named one of prefecture, 州市, 地区, 州(市)",
        "t.csv:2: measure: no measure column: expected a header named one of measure, 指标",
        "t.csv:2: target: no target column: expected a header named one of target, 目标, 目标值",
    ]
    assert problems("prefecture,州市,period,measure,target\n") == ["t.csv:1: prefecture: given 2 times in the header"]


def test_empty_files_and_files_without_targets_are_refused() -> None:
    assert problems("") == ["t.csv:1: file: the file is empty: expected a header and targets"]
    assert problems("prefecture,period,measure,target\n\n") == [
        "t.csv:1: file: the file holds no targets, only a header"
    ]
    with pytest.raises(TargetsFileError) as info:
        parse_targets(F, b"\xff\xfe\x00\x00garbage\x81")
    assert info.value.problems == ["t.csv:1: file: neither UTF-8 nor GB18030 text"]


def test_a_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(TargetsFileError) as info:
        read_targets_file(tmp_path / "nope.csv")
    assert info.value.problems == [f"{tmp_path / 'nope.csv'}:1: file: cannot read the file: No such file or directory"]


def test_a_quoted_cell_over_two_lines_keeps_the_line_numbers_right() -> None:
    found = problems(
        'prefecture,period,measure,target,note\n530100,2026,matters,1,"two\nlines"\n530100,2026,matters,x,\n'
    )
    assert found == ["t.csv:4: target: 'x' is not a number"]


def test_the_example_file_is_the_seed_programme_and_its_quarterly_phasing() -> None:
    targets = read_targets_file(EXAMPLE).targets
    got = {(t.prefecture, t.period.text, t.measure.id): t.target for t in targets}
    assert all(t.prefecture == PROVINCE for t in targets)
    assert got[(PROVINCE, "2026", "matters")] == 100_000
    assert got[(PROVINCE, "2026", "consultations")] == 1_000_000
    for period in ("2026", "2026Q1", "2026Q2", "2026Q3", "2026Q4"):
        assert got[(PROVINCE, period, "response_rate")] == 1
        assert got[(PROVINCE, period, "legal_aid_rate")] == 1
        assert got[(PROVINCE, period, "mediation_success_rate")] == Decimal("0.98")
    for measure in ("matters", "consultations"):
        year = got[(PROVINCE, "2026", measure)]
        phases = [got[(PROVINCE, f"2026Q{q}", measure)] for q in (1, 2, 3)]
        assert phases == [year * Decimal("0.1"), year * Decimal("0.5"), year * Decimal("0.4")]
        assert (PROVINCE, "2026Q4", measure) not in got  # Q4 is the inspection

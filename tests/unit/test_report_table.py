"""The monthly report's layout (hotline.report.table) on rows built by hand, its CSV, and the XLSX opened again."""

from __future__ import annotations

import csv
import datetime as dt
import io
from uuid import uuid4
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from hotline.caller.prefectures import PREFECTURES
from hotline.kpi import CallbackStatus, CallCase, KpiRows, QueueVisit, SurveyCall, VisitEnd
from hotline.report import table
from hotline.report.html import fragment, to_html
from hotline.report.table import ReportInputError, StoredTarget, parse_month, parse_report_prefecture
from hotline.report.xlsx import to_xlsx

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV = dt.datetime(2026, 11, 10, 9, tzinfo=SHANGHAI)
OCT = dt.datetime(2026, 10, 5, 9, tzinfo=SHANGHAI)
GENERATED = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)


def _call(prefecture: str, at: dt.datetime, end: VisitEnd, wait: float, label: str | None = None) -> KpiRows:
    cid = uuid4()
    visit = QueueVisit(call_id=cid, started_at=at, queue="legal_consult", prefecture=prefecture, end=end, wait_s=wait)
    answered = end is VisitEnd.ANSWERED
    survey = SurveyCall(
        call_id=cid, started_at=at, prefecture=prefecture, answers={"satisfaction": label} if label else {}
    )
    case = CallCase(call_id=cid, started_at=at, prefecture=prefecture, visits=1, connected=answered)
    return KpiRows([visit], [], [survey] if answered else [], [case])


def _rows(*parts: KpiRows) -> KpiRows:
    return KpiRows(
        [v for p in parts for v in p.visits],
        [],
        [s for p in parts for s in p.surveys],
        [c for p in parts for c in p.cases],
    )


MONTH = _rows(
    _call("530100", NOV, VisitEnd.ANSWERED, 10.0, "满意"),  # 昆明: answered within 15 s, rated 满意
    _call("530100", NOV, VisitEnd.ABANDONED, 30.0),  # 昆明: abandoned after 30 s
    _call("532900", NOV, VisitEnd.ANSWERED, 20.0, "不满意"),  # 大理: answered after 20 s, rated 不满意
)
YTD = _rows(MONTH, _call("530100", OCT, VisitEnd.ANSWERED, 5.0))  # and 昆明 in October
TARGETS = [
    StoredTarget("province", "2026", "answer_rate", 0.9),
    StoredTarget("530100", "2026", "answer_rate", 0.7),
    StoredTarget("530100", "2026Q4", "answer_rate", 0.8),
    StoredTarget("530100", "2026-11", "answer_rate", 1.0),  # the month's wins over the quarter's and the year's
    StoredTarget("530100", "2026Q4", "abandon_rate", 0.05),
    StoredTarget("530100", "2026-10", "satisfaction", 0.5),  # another month: not this report's
]


def _report(only: str | None = None) -> table.ReportTable:
    return table.build(parse_month("2026-11"), MONTH, YTD, TARGETS, only=only)


def test_rows_are_the_16_prefectures_then_outside_unknown_and_the_total() -> None:
    report = _report()
    assert [r[0] for r in report.rows] == [*(p.code for p in PREFECTURES), "outside_yunnan", "unknown", "total"]
    assert [r[1] for r in report.rows][:2] == ["昆明市", "曲靖市"]
    assert [r[1] for r in report.rows][-3:] == ["云南省外", "未知", "全省合计"]
    headers = [c.header for c in report.columns]
    assert headers[:6] == ["代码", "州市", "呼入电话", "呼入排队", "接通", "放弃"]
    assert {"接通率 v1", "接通率 v1 年累计", "接通率 目标", "接通率 完成率", "平均应答速度 v1", "受援率 v1"} <= set(
        headers
    )
    assert len(headers) == 6 + 4 * 10 + 4 * len(table.COUNTS)
    assert (
        "接通率 v1",
        "answered (CONNECT, or a connected callback) / offered queue visits, abandons after less than 5 s left out",
    ) in report.notes


def test_a_prefecture_the_total_and_a_prefecture_without_calls() -> None:
    report = _report()
    km = report.row("530100")
    assert (km["inbound"], km["offered"], km["answered"], km["abandoned"]) == (2, 2, 1, 1)
    assert km["answer_rate"] == 0.5 and km["answer_rate_ytd"] == pytest.approx(2 / 3)
    assert km["answer_rate_target"] == 1.0 and km["answer_rate_completion"] == 0.5
    assert km["service_level"] == 0.5 and km["asa"] == 10.0 and km["asa_ytd"] == 7.5
    assert km["abandon_rate"] == 0.5 and km["abandon_rate_target"] == 0.05
    assert km["abandon_rate_completion"] == pytest.approx(0.1)  # lower is better: target / value
    assert km["satisfaction"] == 1.0 and km["satisfaction_target"] is None  # October's target is not November's
    total = report.row("total")
    assert (total["inbound"], total["offered"], total["answered"], total["abandoned"]) == (3, 3, 2, 1)
    assert total["answer_rate"] == pytest.approx(2 / 3) and total["answer_rate_ytd"] == 0.75
    assert total["answer_rate_target"] == 0.9 and total["answer_rate_completion"] == pytest.approx(2 / 3 / 0.9)
    assert total["asa"] == 15.0 and total["satisfaction"] == 0.5
    dali = report.row("532900")
    assert dali["service_level"] == 0.0 and dali["answer_rate_target"] is None  # the province's target is not 大理's
    qj = report.row("530300")
    assert (qj["inbound"], qj["offered"], qj["answer_rate"], qj["answer_rate_ytd"]) == (0, 0, None, None)


def test_one_prefecture_only() -> None:
    report = _report(only="532900")
    assert [r[0] for r in report.rows] == ["532900"]
    assert report.row("532900")["asa"] == 20.0


@pytest.mark.parametrize("text", ["2026-13", "2026Q4", "2026", "nov", "", "2026-11-01"])
def test_a_bad_month_is_named_with_what_was_expected(text: str) -> None:
    with pytest.raises(ReportInputError, match=r"^--month .*: expected a month as YYYY-MM, e\.g\. 2026-11$"):
        parse_month(text)


def test_prefectures_by_code_name_and_the_two_others() -> None:
    assert parse_report_prefecture("530100") == parse_report_prefecture("昆明") == "530100"
    assert parse_report_prefecture("大理白族自治州") == "532900"
    assert parse_report_prefecture("云南省外") == "outside_yunnan" and parse_report_prefecture("unknown") == "unknown"
    for bad in ("999999", "province", "全省", "北京"):
        with pytest.raises(ReportInputError, match=r"^--prefecture .*: expected one of the 16 prefecture codes"):
            parse_report_prefecture(bad)


def test_bounds_are_shanghai_midnights() -> None:
    year, since, until = table.bounds(parse_month("2026-12"), SHANGHAI)
    assert (year, since, until) == (
        dt.datetime(2026, 1, 1, tzinfo=SHANGHAI),
        dt.datetime(2026, 12, 1, tzinfo=SHANGHAI),
        dt.datetime(2027, 1, 1, tzinfo=SHANGHAI),
    )
    assert since.astimezone(dt.UTC) == dt.datetime(2026, 11, 30, 16, tzinfo=dt.UTC)


def test_csv_has_a_bom_the_same_bytes_every_time_and_percent_text() -> None:
    data = table.to_csv(_report())
    assert data.startswith(b"\xef\xbb\xbf") and data == table.to_csv(_report())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header = rows[0]
    km = dict(zip(header, rows[1], strict=True))
    assert km["州市"] == "昆明市" and km["接通率 v1"] == "50.0%" and km["接通率 v1 年累计"] == "66.7%"
    assert km["平均应答速度 v1"] == "10.0" and km["呼入排队"] == "2" and km["满意率 目标"] == ""
    assert rows[19][:2] == ["total", "全省合计"] and rows[20] == []
    assert rows[21][:2] == ["说明", "月份"]


def test_xlsx_opened_again() -> None:
    data = to_xlsx(_report(), GENERATED)
    assert data == to_xlsx(_report(), GENERATED)  # the same table and time: the same bytes
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["上报表", "图表", "说明"]
    assert [type(c).__name__ for c in book.chartsheets] == ["Chartsheet"]
    sheet = book["上报表"]
    assert sheet.freeze_panes == "C2"
    headers = [c.value for c in sheet[1]]
    assert headers[:3] == ["代码", "州市", "呼入电话"] and "接通率 v1" in headers
    rate = sheet.cell(row=2, column=headers.index("接通率 v1") + 1)
    assert rate.value == 0.5 and rate.number_format == "0.0%"
    asa = sheet.cell(row=2, column=headers.index("平均应答速度 v1") + 1)
    assert asa.value == 10.0 and asa.number_format == '0.0" s"'
    assert sheet.cell(row=20, column=2).value == "全省合计"
    assert sheet.column_dimensions["B"].width > 20
    assert book.properties.created == dt.datetime(2026, 12, 7, 3, 0)
    notes = {r[0].value: r[1].value for r in book["说明"].iter_rows(min_row=2)}
    assert notes["生成时间"] == "2026-12-07 11:00:00（北京时间）"


def test_html_escapes_every_cell_and_is_the_same_every_time() -> None:
    report = _report()
    doc = to_html(report, GENERATED).decode("utf-8")
    assert doc == to_html(_report(), GENERATED).decode("utf-8")
    assert doc.startswith("<!doctype html>") and "生成时间：2026-12-07 11:00:00（北京时间）" in doc
    part = fragment(report)
    assert part.count("<tr") == 1 + len(report.rows) and '<tr class="total">' in part
    assert '<td class="num">50.0%</td>' in part  # 昆明市's 接通率, as in the CSV
    odd = table.ReportTable(report.month, report.columns, report.rows, (("<b>", "a & b"),))
    assert "<dt>&lt;b&gt;</dt><dd>a &amp; b</dd>" in fragment(odd)


def test_the_programmes_counts_per_prefecture_and_against_the_years_target() -> None:
    def case(prefecture: str, at: dt.datetime, **facts: object) -> KpiRows:
        return KpiRows([], [], [], [CallCase(call_id=uuid4(), started_at=at, prefecture=prefecture, **facts)])

    month = _rows(
        case("530100", NOV, connected=True, services=frozenset({"法律咨询"})),
        case("530100", NOV, connected=True, services=frozenset({"法律援助"}), referrals=frozenset({"法律援助"})),
        case("530100", NOV, callback=CallbackStatus.CONNECTED, referrals=frozenset({"人民调解"})),
        case("530100", NOV, services=frozenset({"公证"})),  # left word: a matter, not a consultation
        case("532900", NOV, connected=True, services=frozenset({"司法鉴定", "仲裁"})),  # one matter of two kinds
    )
    ytd = _rows(month, case("530100", OCT, connected=True))
    targets = [StoredTarget("530100", "2026", "consultations", 40), StoredTarget("province", "2026", "matters", 8)]
    report = table.build(parse_month("2026-11"), month, ytd, targets)
    km, dali, total = report.row("530100"), report.row("532900"), report.row("total")
    keys = ("consultations", "matters", "legal_aid", "mediation", "notary", "appraisal", "arbitration", "referred")
    assert [km[k] for k in keys] == [3, 3, 1, 1, 1, 0, 0, 2]
    assert [dali[k] for k in keys] == [1, 1, 0, 0, 0, 1, 1, 0]
    assert [total[k] for k in keys] == [4, 4, 1, 1, 1, 1, 1, 2]
    assert (km["consultations_ytd"], km["consultations_target"], km["consultations_completion"]) == (4, 40, 0.1)
    assert (total["matters_ytd"], total["matters_target"], total["matters_completion"]) == (4, 8, 0.5)
    assert dali["matters_target"] is None and dali["matters_completion"] is None


@pytest.mark.parametrize(
    ("today", "day", "due"),
    [
        (dt.date(2026, 12, 19), 20, None),
        (dt.date(2026, 12, 20), 20, "2026-11"),
        (dt.date(2026, 12, 31), 20, "2026-11"),  # down on the 20th: caught up later in the month
        (dt.date(2027, 1, 20), 20, "2026-12"),  # across the year
        (dt.date(2026, 3, 1), 1, "2026-02"),
    ],
)
def test_the_report_due_on_a_day(today: dt.date, day: int, due: str | None) -> None:
    month = table.due_month(today, day)
    assert (month.text if month else None) == due

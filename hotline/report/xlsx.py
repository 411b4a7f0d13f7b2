"""The report table as an XLSX workbook (XlsxWriter): Chinese headers, a frozen header row, number formats and
column widths on the first sheet, a chart sheet of the month's rates, the notes and the generated-at time on the
last. The workbook's created date is
the generated-at time given, so the same table and time give the same bytes."""

from __future__ import annotations

import datetime as dt
import io

import xlsxwriter  # type: ignore[import-untyped]

from hotline.report.table import Kind, ReportTable

SHEET = "上报表"
NOTES_SHEET = "说明"
CHART_SHEET = "图表"
CHARTED = ("answer_rate", "service_level", "satisfaction")  # the chart's series: one column each per prefecture
FORMATS = {Kind.TEXT: "@", Kind.COUNT: "0", Kind.RATIO: "0.0%", Kind.SECONDS: '0.0" s"'}


def to_xlsx(table: ReportTable, generated_at: dt.datetime) -> bytes:
    """`generated_at` (timezone-aware) is written in the notes sheet and as the workbook's created date."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    local = generated_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    book.set_properties(
        {
            "title": f"12348 热线 {table.month.text} 任务完成情况上报表",
            "author": "hotline",
            "created": generated_at.astimezone(dt.UTC).replace(tzinfo=None),
        }
    )
    header = book.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "border": 1, "bg_color": "#DDEBF7"})
    formats = {kind: book.add_format({"num_format": code, "border": 1}) for kind, code in FORMATS.items()}
    bold = {kind: book.add_format({"num_format": code, "border": 1, "bold": True}) for kind, code in FORMATS.items()}

    sheet = book.add_worksheet(SHEET)
    sheet.set_row(0, 36)
    for col, column in enumerate(table.columns):
        sheet.set_column(col, col, column.width)
        sheet.write_string(0, col, column.header, header)
    for r, row in enumerate(table.rows, start=1):
        total = r == len(table.rows) and row[0] == "total"
        for col, (column, cell) in enumerate(zip(table.columns, row, strict=True)):
            fmt = (bold if total else formats)[column.kind]
            if cell is None:
                sheet.write_blank(r, col, None, fmt)
            elif isinstance(cell, str):
                sheet.write_string(r, col, cell, fmt)
            else:
                sheet.write_number(r, col, cell, fmt)
    sheet.freeze_panes(1, 2)
    _chart(book, table)

    notes = book.add_worksheet(NOTES_SHEET)
    notes.set_column(0, 0, 18)
    notes.set_column(1, 1, 100)
    notes.write_string(0, 0, "项目", header)
    notes.write_string(0, 1, "说明", header)
    for r, (what, text) in enumerate(table.notes, start=1):
        notes.write_string(r, 0, what)
        notes.write_string(r, 1, text)
    notes.write_string(len(table.notes) + 1, 0, "生成时间")
    notes.write_string(len(table.notes) + 1, 1, local.strftime("%Y-%m-%d %H:%M:%S（北京时间）"))
    book.close()
    return out.getvalue()


def _chart(book: xlsxwriter.Workbook, table: ReportTable) -> None:
    """A chart sheet: the month's 接通率, 服务水平 and 满意率 per row of the first sheet, the total left out."""
    keys = [c.key for c in table.columns]
    last = len(table.rows) - (1 if table.rows and table.rows[-1][0] == "total" else 0)
    if last < 1:
        return
    name_col = keys.index("name")
    chart = book.add_chart({"type": "column"})
    for key in CHARTED:
        col = keys.index(key)
        chart.add_series(
            {
                "name": [SHEET, 0, col],
                "categories": [SHEET, 1, name_col, last, name_col],
                "values": [SHEET, 1, col, last, col],
            }
        )
    chart.set_title({"name": f"{table.month.text} 各州市接通率、服务水平、满意率"})
    chart.set_y_axis({"num_format": "0%", "min": 0, "max": 1})
    chart.set_legend({"position": "bottom"})
    book.add_chartsheet(CHART_SHEET).set_chart(chart)

"""The report table as HTML: a `<table>` fragment (the console's supervisor report page puts it in its layout) and a
whole document for `hotline report --format html`. Pure: every cell is escaped; the same table and time give the
same text."""

from __future__ import annotations

import datetime as dt
from html import escape

from hotline.report.table import TOTAL, Kind, ReportTable, cell_text

BEIJING = dt.timezone(dt.timedelta(hours=8))
_CLASS = {Kind.TEXT: "text", Kind.COUNT: "num", Kind.RATIO: "num", Kind.SECONDS: "num"}


def fragment(table: ReportTable) -> str:
    """The table (a header row, a row per prefecture and the total in bold), then the notes as a list."""
    out = ['<table class="report">', "<thead><tr>"]
    out += [f'<th scope="col">{escape(c.header)}</th>' for c in table.columns]
    out.append("</tr></thead><tbody>")
    for row in table.rows:
        out.append('<tr class="total">' if row[0] == TOTAL else "<tr>")
        for column, cell in zip(table.columns, row, strict=True):
            out.append(f'<td class="{_CLASS[column.kind]}">{escape(cell_text(cell, column.kind))}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append('<dl class="report-notes">')
    for what, text in table.notes:
        out.append(f"<dt>{escape(what)}</dt><dd>{escape(text)}</dd>")
    out.append("</dl>")
    return "\n".join(out)


STYLE = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em}
table.report{border-collapse:collapse;font-size:13px}
table.report th,table.report td{border:1px solid #999;padding:3px 6px}
table.report td{white-space:nowrap}
table.report th{background:#ddebf7;position:sticky;top:0;min-width:4.5em;font-weight:600}
table.report td.num{text-align:right;font-variant-numeric:tabular-nums}
table.report tr.total td{font-weight:bold}
dl.report-notes dt{font-weight:bold;margin-top:.5em}"""


def to_html(table: ReportTable, generated_at: dt.datetime) -> bytes:
    """A whole UTF-8 document: title, the table and notes, and the generated-at time (Beijing time)."""
    title = f"12348 热线 {table.month.text} 任务完成情况上报表"
    stamp = generated_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S（北京时间）")
    doc = (
        '<!doctype html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{fragment(table)}\n<p>生成时间：{escape(stamp)}</p>\n</body>\n</html>\n"
    )
    return doc.encode("utf-8")

"""Pictures of the Grafana dashboards drawn from a live Prometheus, for the README pages (matplotlib, no Grafana).

    python monitoring/dashboards/render.py --prometheus http://127.0.0.1:9090 --out docs/dashboards [--minutes 30]

Reads the committed monitoring/dashboards/*.json (what Grafana shows), runs each panel's queries against
Prometheus's HTTP API (query_range over the last --minutes for a time series, an instant query for a stat or a
bar gauge, both at Prometheus's own time) and writes one PNG per dashboard (overview.png, ...), the panels placed
as on Grafana's 24-column grid, with the dashboards' titles, legends, display names, value mappings and units.
Template variables take their default selection (`$queue`: all queues, `.*`).

Chinese text needs the Noto Sans CJK font (Debian's fonts-noto-cjk, installed by scripts/setup-system.sh).
The HTTP client is a function given to `render_dashboard` / `render_all`, so tests draw from canned answers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib as mpl
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

HERE = Path(__file__).resolve().parent
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_FAMILY = "Noto Sans CJK SC"  # the simplified-Chinese face of the collection
SCRAPE_S = 15  # the scrape interval of hotline up's Prometheus: the finest step worth asking for
MAX_POINTS = 300  # the panels' maxDataPoints
MAX_BARS = 24

# Grafana's dark theme and its classic palette
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
MUTED = "#8e8e9c"
GRID = "#2c3036"
BASE_COLOR = "#73bf69"
PALETTE = (
    "#7eb26d",
    "#eab839",
    "#6ed0e0",
    "#ef843c",
    "#e24d42",
    "#1f78c1",
    "#ba43a9",
    "#705da0",
    "#508642",
    "#cca300",
    "#447ebc",
    "#c15c17",
)
NAMED_COLORS = {"green": "#73bf69", "red": "#f2495c", "blue": "#5794f2", "yellow": "#fade2a", "orange": "#ff9830"}

# the figure: Grafana's grid cell is 30 px high for a column of about 1/24 of a 1600 px wide screen
FIG_WIDTH = 20.0  # inches
ROW_HEIGHT = 0.36  # inches per grid row
HEADER = 0.7  # inches above the grid
GAP = 0.05  # inches between panels

Fetch = Callable[[str, Mapping[str, str]], Mapping[str, Any]]
"""(API path such as /api/v1/query, form parameters) -> the decoded JSON answer of Prometheus."""

VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LEGEND_LABEL = re.compile(r"\{\{\s*(.+?)\s*\}\}")


class RenderError(Exception):
    """What stops a picture: no font, Prometheus unreachable or refusing a query."""


# ---- Prometheus


def http_fetch(base_url: str, timeout: float = 30.0) -> Fetch:
    """A Fetch that POSTs to the Prometheus at base_url (its error answers are returned, they are JSON too)."""

    def fetch(path: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        url = base_url.rstrip("/") + path
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                text = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read()
        except OSError as exc:
            raise RenderError(f"无法连接 Prometheus {base_url}：{exc}") from exc
        try:
            answer = json.loads(text)
        except ValueError as exc:
            raise RenderError(f"Prometheus {url} 的回答不是 JSON：{text[:200]!r}") from exc
        if not isinstance(answer, dict):
            raise RenderError(f"Prometheus {url} 的回答不是对象：{text[:200]!r}")
        return answer

    return fetch


def _data(answer: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if answer.get("status") != "success":
        raise RenderError(f"{what}：{answer.get('errorType', '')} {answer.get('error', answer)}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise RenderError(f"{what}：回答没有 data")
    return data


def server_time(fetch: Fetch) -> float:
    """Prometheus's own time, the end of every range (so the pictures show what its data covers)."""
    data = _data(fetch("/api/v1/query", {"query": "time()"}), "time()")
    return float(data["result"][0])


@dataclass
class Series:
    labels: dict[str, str]
    times: list[float]
    values: list[float]


def _number(text: str) -> float:
    value = float(text)  # Prometheus writes NaN, +Inf and -Inf as such
    return value if math.isfinite(value) else math.nan


def series_of(data: Mapping[str, Any]) -> list[Series]:
    kind: Any = data.get("resultType")
    result: Any = data.get("result")
    if kind == "matrix":
        return [
            Series(dict(r["metric"]), [float(t) for t, _ in r["values"]], [_number(v) for _, v in r["values"]])
            for r in result
        ]
    if kind == "vector":
        return [Series(dict(r["metric"]), [float(r["value"][0])], [_number(r["value"][1])]) for r in result]
    if kind == "scalar":
        return [Series({}, [float(result[0])], [_number(result[1])])]
    raise RenderError(f"unsupported result type {kind!r}")


# ---- the dashboard JSON


def variable_values(board: Mapping[str, Any]) -> dict[str, str]:
    """Each template variable at its default selection: the "all" value where "all" is offered, else current."""
    out = {}
    for var in board.get("templating", {}).get("list", []):
        current = (var.get("current") or {}).get("value")
        if var.get("includeAll") and var.get("allValue"):
            out[var["name"]] = var["allValue"]
        elif isinstance(current, str) and current and not current.startswith("$"):
            out[var["name"]] = current
        else:
            raise RenderError(f"模板变量 {var.get('name')!r} 没有可用的值")
    return out


def builtin_values(range_s: int, step_s: int) -> dict[str, str]:
    """Grafana's built-in variables for a query over range_s seconds at step_s."""
    return {
        "__interval": f"{step_s}s",
        "__interval_ms": str(step_s * 1000),
        "__rate_interval": f"{max(step_s + SCRAPE_S, 4 * SCRAPE_S)}s",
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(range_s * 1000),
    }


def runnable(expr: str, values: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        if name not in values:
            raise RenderError(f"未知的 Grafana 变量 ${name}：{expr}")
        return values[name]

    return VARIABLE.sub(value, expr)


@dataclass
class Panel:
    title: str
    kind: str
    x: int
    y: int
    w: int
    h: int
    queries: list[tuple[str, str]]  # (expr, legendFormat)
    unit: str = "short"
    decimals: int | None = None
    names: dict[str, str] = field(default_factory=dict)
    mappings: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # value -> (text, color)
    stacked: bool = False
    max_value: float | None = None
    soft_max: float | None = None


def panel_of(raw: Mapping[str, Any]) -> Panel:
    config = raw.get("fieldConfig") or {}
    defaults = config.get("defaults") or {}
    custom = defaults.get("custom") or {}
    names = {}
    for override in config.get("overrides") or []:
        if override.get("matcher", {}).get("id") == "byName":
            for prop in override.get("properties", []):
                if prop.get("id") == "displayName":
                    names[str(override["matcher"]["options"])] = str(prop["value"])
    mappings: dict[str, tuple[str, str | None]] = {}
    for mapping in defaults.get("mappings") or []:
        if mapping.get("type") == "value":
            for value, shown in (mapping.get("options") or {}).items():
                mappings[str(value)] = (str(shown.get("text", value)), shown.get("color"))
    grid = raw.get("gridPos") or {}
    return Panel(
        title=str(raw.get("title", "")),
        kind=str(raw.get("type", "")),
        x=int(grid.get("x", 0)),
        y=int(grid.get("y", 0)),
        w=int(grid.get("w", 12)),
        h=int(grid.get("h", 8)),
        queries=[
            (str(t["expr"]), str(t.get("legendFormat") or ""))
            for t in raw.get("targets") or []
            if t.get("expr") and not t.get("hide")
        ],
        unit=str(defaults.get("unit") or "short"),
        decimals=defaults.get("decimals"),
        names=names,
        mappings=mappings,
        stacked=(custom.get("stacking") or {}).get("mode") == "normal",
        max_value=defaults.get("max"),
        soft_max=custom.get("axisSoftMax"),
    )


def panels_of(board: Mapping[str, Any]) -> list[Panel]:
    out: list[Panel] = []
    for raw in board.get("panels", []):
        if raw.get("type") == "row":
            out.extend(panel_of(p) for p in raw.get("panels", []))
        else:
            out.append(panel_of(raw))
    return out


def legend(fmt: str, labels: Mapping[str, str], expr: str) -> str:
    """Grafana's series name: the legend format with `{{label}}` filled in, else the series' labels."""
    if fmt:
        return LEGEND_LABEL.sub(lambda m: labels.get(m[1], ""), fmt)
    if not labels:
        return expr
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def shown(value: float, unit: str, decimals: int | None = None) -> str:
    """A value as the panel's unit shows it."""
    if math.isnan(value):
        return "—"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        if abs(value) >= 3600:
            return f"{value / 3600:.1f} 小时"
        if abs(value) >= 60:
            return f"{value / 60:.1f} 分钟"
        return f"{value:.1f} 秒"
    if decimals is not None:
        text = f"{value:.{decimals}f}"
    elif value == int(value) and abs(value) < 1e9:
        text = str(int(value))
    else:
        text = f"{value:.3g}"
    suffix = {"cpm": " 次/分", "reqps": " 次/秒"}.get(unit, "")
    return text + suffix


# ---- drawing


def chinese_font(path: Path = FONT) -> str:
    """The family to draw Chinese with, from the Noto Sans CJK collection at path."""
    if not path.is_file():
        raise RenderError(
            f"找不到中文字体 {path}：请安装 Debian 的 fonts-noto-cjk 软件包（apt-get install fonts-noto-cjk）"
        )
    font_manager.fontManager.addfont(str(path))
    faces = {f.name for f in font_manager.fontManager.ttflist if Path(f.fname) == path}
    if FONT_FAMILY in faces:
        return FONT_FAMILY
    name: str = font_manager.FontProperties(fname=str(path)).get_name()
    return name


@dataclass
class Drawn:
    panel: Panel
    series: list[tuple[str, Series]]  # (display name, series)


def query_panel(panel: Panel, fetch: Fetch, values: Mapping[str, str], *, start: float, end: float, step: int) -> Drawn:
    series = []
    for expr, fmt in panel.queries:
        query = runnable(expr, values)
        if panel.kind == "timeseries":
            params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)}
            answer = fetch("/api/v1/query_range", params)
        else:
            answer = fetch("/api/v1/query", {"query": query, "time": f"{end:.3f}"})
        for s in series_of(_data(answer, f"{panel.title}：{query}")):
            name = legend(fmt, s.labels, query)
            series.append((panel.names.get(name, name), s))
    return Drawn(panel, series)


def _axes(fig: Figure, left: float, top: float, width: float, height: float, fig_h: float) -> Axes:
    """Axes at a rectangle given in inches from the figure's top left corner."""
    return fig.add_axes((left / FIG_WIDTH, 1 - (top + height) / fig_h, width / FIG_WIDTH, height / fig_h))


def _no_data(ax: Axes) -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, "无数据", ha="center", va="center", color=MUTED, fontsize=12, transform=ax.transAxes)


def _style(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=7, length=0)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def plotted(drawn: Drawn) -> list[tuple[str, Series]]:
    """The series of a time-series panel that have a value to draw."""
    return [(name, s) for name, s in drawn.series if any(not math.isnan(v) for v in s.values)]


def legend_layout(count: int, width: float) -> tuple[int, float]:
    """Columns and height (inches) of a legend of count entries under a plot width inches wide."""
    if count == 0:
        return 1, 0.0
    columns = max(1, min(count, int(width / 1.7)))
    return columns, math.ceil(count / columns) * 0.17 + 0.05


TICK_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(start: float, end: float, tz: dt.tzinfo, most: int = 6) -> list[float]:
    """Round local times between start and end, at most `most` of them (every 5 minutes, every hour...)."""
    offset = dt.datetime.fromtimestamp(start, tz).utcoffset() or dt.timedelta(0)
    local = offset.total_seconds()
    step = next((s for s in TICK_STEPS if (end - start) / s <= most), TICK_STEPS[-1])
    first = math.ceil((start + local) / step) * step - local
    return [first + i * step for i in range(int((end - first) // step) + 1)]


def draw_timeseries(
    ax: Axes, key: Axes, drawn: Drawn, *, start: float, end: float, tz: dt.tzinfo, columns: int
) -> None:
    """The series on ax, their legend on key (under it, as Grafana's legend)."""
    panel = drawn.panel
    key.set_axis_off()
    lines = plotted(drawn)
    if not lines:
        _no_data(ax)
        return
    _style(ax)

    colors = [PALETTE[i % len(PALETTE)] for i in range(len(lines))]
    top = max(v for _, s in lines for v in s.values if not math.isnan(v))
    if panel.stacked:
        times = sorted({t for _, s in lines for t in s.times})
        stacks = []
        for _, s in lines:
            by_time = dict(zip(s.times, s.values, strict=True))
            stacks.append([0.0 if math.isnan(v := by_time.get(t, math.nan)) else v for t in times])
        ax.stackplot(times, stacks, colors=colors, alpha=0.45, linewidth=0.8)
        top = max(top, max(sum(col) for col in zip(*stacks, strict=True)))
    else:
        for (_, s), color in zip(lines, colors, strict=True):
            ax.plot(s.times, s.values, color=color, linewidth=1.2)
    ax.set_xlim(start, end)
    ax.set_xticks(time_ticks(start, end, tz))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: dt.datetime.fromtimestamp(t, tz).strftime("%H:%M")))
    ax.set_ylim(0, max(top * 1.1, panel.soft_max or 0.0) or 1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: shown(v, panel.unit)))
    handles = [Line2D([], [], color=color, linewidth=3) for color in colors]
    key.legend(
        handles,
        [name for name, _ in lines],
        loc="upper left",
        ncol=columns,
        fontsize=7,
        frameon=False,
        labelcolor=TEXT,
        borderaxespad=0,
        handlelength=1.2,
    )


def draw_stat(ax: Axes, drawn: Drawn) -> None:
    panel = drawn.panel
    ax.set_axis_off()
    if not drawn.series:
        _no_data(ax)
        return
    n = len(drawn.series)
    for i, (name, s) in enumerate(drawn.series):
        value = s.values[-1]
        raw = shown(value, "short")
        text, color = panel.mappings.get(raw, (shown(value, panel.unit, panel.decimals), None))
        x = (i + 0.5) / n
        size = max(10.0, min(24.0, 60.0 / n))
        ax.text(
            x,
            0.58,
            text,
            ha="center",
            va="center",
            fontsize=size,
            color=NAMED_COLORS.get(color or "", color or BASE_COLOR),
            transform=ax.transAxes,
        )
        ax.text(x, 0.12, name, ha="center", va="center", fontsize=8, color=MUTED, transform=ax.transAxes)


def draw_bars(ax: Axes, drawn: Drawn) -> None:
    panel = drawn.panel
    bars = [(name, s.values[-1]) for name, s in drawn.series if not math.isnan(s.values[-1])][:MAX_BARS]
    if not bars:
        _no_data(ax)
        return
    _style(ax)
    ax.grid(False)
    names = [name for name, _ in bars][::-1]
    values = [value for _, value in bars][::-1]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(bars))][::-1]
    ax.barh(range(len(bars)), values, color=colors, height=0.7)
    ax.set_yticks(range(len(bars)), names, fontsize=max(5.0, min(8.0, 150.0 / len(bars))), color=TEXT)
    ax.set_xticks([])
    limit = panel.max_value if panel.max_value is not None else max(max(values), 0.0) * 1.18 or 1.0
    ax.set_xlim(0, limit)
    for i, value in enumerate(values):
        ax.text(value, i, f" {shown(value, panel.unit)}", va="center", fontsize=7, color=TEXT)


def render_dashboard(
    board: Mapping[str, Any],
    fetch: Fetch,
    out: Path,
    *,
    minutes: int = 30,
    font: Path = FONT,
    dpi: int = 100,
) -> Path:
    """Query every panel of the dashboard and write its picture to out (a PNG)."""
    family = chinese_font(font)
    tz = ZoneInfo(str(board.get("timezone") or "UTC"))
    end = server_time(fetch)
    range_s = minutes * 60
    start = end - range_s
    step = max(SCRAPE_S, math.ceil(range_s / MAX_POINTS))
    values = variable_values(board) | builtin_values(range_s, step)
    drawn = [query_panel(p, fetch, values, start=start, end=end, step=step) for p in panels_of(board)]

    rows = max((p.y + p.h for p in (d.panel for d in drawn)), default=1)
    fig_h = HEADER + rows * ROW_HEIGHT + GAP * 2
    column = FIG_WIDTH / 24
    with mpl.rc_context({"font.family": [family], "axes.unicode_minus": False}):
        fig = Figure(figsize=(FIG_WIDTH, fig_h), facecolor=BACKGROUND)
        until = dt.datetime.fromtimestamp(end, tz).strftime("%Y-%m-%d %H:%M")
        fig.text(0.01, 1 - 0.3 / fig_h, str(board.get("title", "")), fontsize=16, color=TEXT, va="center")
        fig.text(
            0.99,
            1 - 0.3 / fig_h,
            f"最近 {minutes} 分钟 · 截至 {until}（{tz}）",
            fontsize=9,
            color=MUTED,
            va="center",
            ha="right",
        )
        for d in drawn:
            p = d.panel
            left, top = p.x * column + GAP, HEADER + p.y * ROW_HEIGHT + GAP
            width, height = p.w * column - 2 * GAP, p.h * ROW_HEIGHT - 2 * GAP
            frame = _axes(fig, left, top, width, height, fig_h)
            frame.set_facecolor(PANEL)
            frame.set_xticks([])
            frame.set_yticks([])
            for spine in frame.spines.values():
                spine.set_color(BORDER)
            frame.text(
                0.1 / width, 1 - 0.16 / height, p.title, fontsize=9, color=TEXT, va="center", transform=frame.transAxes
            )
            if p.kind == "timeseries":
                columns, key_h = legend_layout(len(plotted(d)), width - 0.2)
                ax = _axes(fig, left + 0.6, top + 0.35, width - 0.75, height - 0.62 - key_h, fig_h)
                key = _axes(fig, left + 0.1, top + height - key_h - 0.05, width - 0.2, key_h or 0.01, fig_h)
                draw_timeseries(ax, key, d, start=start, end=end, tz=tz, columns=columns)
            elif p.kind == "stat":
                draw_stat(_axes(fig, left + 0.05, top + 0.3, width - 0.1, height - 0.35, fig_h), d)
            elif p.kind == "bargauge":
                label_w = min(1.6, width * 0.35)
                draw_bars(_axes(fig, left + label_w, top + 0.35, width - label_w - 0.5, height - 0.45, fig_h), d)
            else:
                ax = _axes(fig, left, top + 0.3, width, height - 0.3, fig_h)
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"不支持的面板类型 {p.kind}", ha="center", color=MUTED, transform=ax.transAxes)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi, facecolor=BACKGROUND)
    return out


def render_all(
    directory: Path, fetch: Fetch, out_dir: Path, *, minutes: int = 30, font: Path = FONT, names: Sequence[str] = ()
) -> list[Path]:
    """A picture per dashboard of directory (or of those named, as `overview`), to out_dir/<name>.png."""
    written = []
    for path in sorted(directory.glob("*.json")):
        if names and path.stem not in names:
            continue
        board = json.loads(path.read_text(encoding="utf-8"))
        written.append(render_dashboard(board, fetch, out_dir / f"{path.stem}.png", minutes=minutes, font=font))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the Grafana dashboards from a live Prometheus (PNG).")
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    parser.add_argument("--out", type=Path, required=True, help="directory for the PNG files")
    parser.add_argument("--minutes", type=int, default=30, help="time range of the time series (default 30)")
    parser.add_argument("--dir", type=Path, default=HERE, help="the dashboards' JSON (default: beside this file)")
    parser.add_argument("--only", nargs="*", default=[], help="dashboards to draw by name (overview, queues, ...)")
    args = parser.parse_args(argv)
    if args.minutes < 1:
        parser.error("--minutes must be at least 1")
    try:
        written = render_all(args.dir, http_fetch(args.prometheus), args.out, minutes=args.minutes, names=args.only)
    except RenderError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    print(f"已写入 {len(written)} 张图：{', '.join(str(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

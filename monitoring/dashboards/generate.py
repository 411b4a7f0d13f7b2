"""The Grafana dashboards of the 12348 hotline, as code (grafanalib), written to monitoring/dashboards/*.json.

    python monitoring/dashboards/generate.py            # (re)write the JSON files
    python monitoring/dashboards/generate.py --check    # exit 1 and list the files that are stale

Every query reads the Prometheus datasource provisioned with uid `prometheus`
(monitoring/grafana/provisioning/datasources/prometheus.yml) and uses only the names of docs/metrics.md, `up`,
Kamailio's `kamailio_*` and the recording rules of monitoring/prometheus/rules/*.yml (the KPIs of docs/kpi.md:
`queue:kpi_service_level:ratio_rate15m`, ...); tests/unit/test_dashboards.py checks that and that the committed
JSON is what this script writes. Titles are in Chinese; the code and the label values stay as the metrics have
them, and the panels show label values in Chinese through field overrides (display names), so a prefecture code
`530100` reads 昆明市.

The JSON is stable: keys sorted, two-space indent, a fixed uid per dashboard, panel ids in layout order.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attr
from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from agents.supervisor.records.schemas import STATUS_NAMES
from hotline.caller.prefectures import PREFECTURES
from hotline.telemetry.catalogue import AGENT_STATES, CALLBACK_RESULTS, TICKET_STATUSES, VISIT_OUTCOMES

HERE = Path(__file__).resolve().parent

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39  # Grafana 10.4 to 11.2 (monitoring/README.md pins grafana/grafana-oss:11.2.2)
TIMEZONE = "Asia/Shanghai"
ALL = ".*"  # the regex that $queue stands for when "全部" is chosen

# ---- label values shown in Chinese (the same words as the console: agents/desk, agents/supervisor)

PREFECTURE_NAMES = {p.code: p.name for p in PREFECTURES} | {"outside_yunnan": "云南省外", "unknown": "未知地区"}
STATE_NAMES = {
    "available": "空闲",
    "reserved": "振铃中",
    "on_call": "通话中",
    "wrap_up": "话后整理",
    "paused": "示忙",
    "logged_out": "签出",
}
OUTCOME_NAMES = {
    "answered": "人工接通",
    "abandoned": "排队放弃",
    "timeout": "等待超时",
    "exit_key": "按键离开（预约回拨）",
    "empty": "无人值守",
    "full": "队列已满",
    "lost": "中断",
}
RESULT_NAMES = {
    "connected": "接通",
    "no_answer": "无人接听",
    "busy": "忙",
    "rejected": "拒接",
    "failed": "失败",
    "agent_unreachable": "坐席不可达",
    "unknown": "未知",
}
TICKET_STATUS_NAMES = STATUS_NAMES  # the console's words for the work-order statuses
DIRECTION_NAMES = {"inbound": "呼入", "callback": "回拨"}
TARGET_STATE_NAMES = {"up": "可用", "down": "不可用"}
PROCESS_NAMES = {"supervisor": "监督进程", "cell": "呼叫单元", "transcriber": "转写", "cli": "命令行"}

for _names, _values in (
    (STATE_NAMES, AGENT_STATES),
    (OUTCOME_NAMES, VISIT_OUTCOMES),
    (RESULT_NAMES, CALLBACK_RESULTS),
    (TICKET_STATUS_NAMES, TICKET_STATUSES),
):
    _missing = set(_values) - set(_names)
    assert not _missing, f"no Chinese name for {sorted(_missing)}"

# ---- building blocks


@dataclass(frozen=True)
class Q:
    """One query of a panel: PromQL and the legend (Grafana legendFormat: `{{label}}` or a fixed text)."""

    expr: str
    legend: str = ""


def targets(queries: Sequence[Q], *, instant: bool = False) -> list[g.Target]:
    return [
        g.Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            datasource=DATASOURCE,
            instant=instant,
            intervalFactor=1,
        )
        for i, q in enumerate(queries)
    ]


def renames(names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Field overrides showing a series named `key` (its legend) as `value`."""
    return [
        {"matcher": {"id": "byName", "options": key}, "properties": [{"id": "displayName", "value": value}]}
        for key, value in names.items()
    ]


BASE_THRESHOLDS = [{"color": "green", "value": None}]


@attr.s
class BarGaugePanel(g.Panel):  # type: ignore[misc]  # grafanalib has no types: g.Panel is Any to mypy
    """Grafana's current bar gauge (grafanalib's BarGauge writes the pre-7 `fieldOptions` form)."""

    unit: str = attr.ib(default="short")
    minValue: float = attr.ib(default=0)
    maxValue: float | None = attr.ib(default=None)
    overrides: list[dict[str, Any]] = attr.ib(factory=list)

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.panel_json(
            {
                "fieldConfig": {
                    "defaults": {
                        "color": {"mode": "palette-classic"},
                        "min": self.minValue,
                        "max": self.maxValue,
                        "unit": self.unit,
                        "mappings": [],
                    },
                    "overrides": self.overrides,
                },
                "options": {
                    "displayMode": "basic",
                    "orientation": "horizontal",
                    "showUnfilled": True,
                    "valueMode": "color",
                    "namePlacement": "left",
                    "sizing": "auto",
                    "minVizHeight": 16,
                    "minVizWidth": 8,
                    "maxVizHeight": 300,
                    "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": False},
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                },
                "type": "bargauge",
            }
        )
        return data


@dataclass
class Spec:
    """A panel before it is placed: its kind, title, queries and display options."""

    kind: str  # timeseries | stat | bars
    title: str
    queries: Sequence[Q]
    unit: str = "short"
    description: str = ""
    names: Mapping[str, str] = field(default_factory=dict)  # series display names (overrides)
    ratio: bool = False  # a fraction in [0, 1], shown as percent
    stacked: bool = False
    mappings: Sequence[tuple[str, str, str]] = ()  # stat: (value, text, color)

    def build(self, pos: g.GridPos) -> g.Panel:
        unit = "percentunit" if self.ratio else self.unit
        common: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "dataSource": DATASOURCE,
            "gridPos": pos,
            "thresholds": BASE_THRESHOLDS,
            "maxDataPoints": 300,
        }
        if self.kind == "timeseries":
            return g.TimeSeries(
                targets=targets(self.queries),
                unit=unit,
                overrides=renames(self.names),
                valueMin=0,
                axisSoftMax=1 if self.ratio else None,
                fillOpacity=30 if self.stacked else 10,
                stacking={"mode": "normal", "group": "A"} if self.stacked else {},
                legendDisplayMode="list",
                tooltipMode="multi",
                spanNulls=False,
                showPoints="never",
                **common,
            )
        if self.kind == "stat":
            mappings = []
            if self.mappings:
                mappings = [
                    {
                        "type": "value",
                        "options": {v: {"text": text, "color": color, "index": i}},
                    }
                    for i, (v, text, color) in enumerate(self.mappings)
                ]
            return g.Stat(
                targets=targets(self.queries),
                format=unit,
                reduceCalc="lastNotNull",
                textMode="value_and_name",
                colorMode="value",
                graphMode="none",
                mappings=mappings,
                noValue="—",
                overrides=renames(self.names),
                decimals=1 if self.ratio else None,
                **common,
            )
        if self.kind == "bars":
            return BarGaugePanel(  # type: ignore[call-arg]  # targets and the common fields are g.Panel's
                targets=targets(self.queries, instant=True),
                unit=unit,
                maxValue=1 if self.ratio else None,
                overrides=renames(self.names),
                **common,
            )
        raise ValueError(f"unknown panel kind {self.kind!r}")


def ts(title: str, *queries: Q, **options: Any) -> Spec:
    return Spec("timeseries", title, queries, **options)


def stat(title: str, *queries: Q, **options: Any) -> Spec:
    return Spec("stat", title, queries, **options)


def bars(title: str, *queries: Q, **options: Any) -> Spec:
    return Spec("bars", title, queries, **options)


def layout(rows: Iterable[tuple[int, Sequence[Spec]]]) -> list[g.Panel]:
    """Rows of panels on Grafana's 24-column grid: each row (height, specs) is split evenly; ids in order."""
    panels: list[g.Panel] = []
    y = 0
    for height, specs in rows:
        width = 24 // len(specs)
        assert width * len(specs) == 24, f"a row of {len(specs)} panels does not fill 24 columns"
        for i, spec in enumerate(specs):
            panel = spec.build(g.GridPos(h=height, w=width, x=i * width, y=y))
            panels.append(attr.evolve(panel, id=len(panels) + 1))
        y += height
    return panels


QUEUE_VARIABLE = g.Template(
    name="queue",
    label="队列",
    query="label_values(hotline_queue_waiting, queue)",
    dataSource=DATASOURCE,
    includeAll=True,
    multi=True,
    allValue=ALL,
    default="$__all",
    refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
)


def dashboard(uid: str, title: str, description: str, panels: list[g.Panel], *, variables: bool = False) -> g.Dashboard:
    return g.Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=["12348", "hotline"],
        panels=panels,
        templating=g.Templating(list=[QUEUE_VARIABLE] if variables else []),
        time=g.Time("now-6h", "now"),
        timezone=TIMEZONE,
        refresh="30s",
        editable=False,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        schemaVersion=SCHEMA_VERSION,
    )


# ---- the KPIs (docs/kpi.md): today's value (hotline_kpi_today, local day) and the rolling windows of kpi.yml


def today(kpi: str) -> Q:
    return Q(f'hotline_kpi_today{{kpi="{kpi}"}}', "今日")


def target(kpi: str) -> Q:
    return Q(f'hotline_kpi_target{{kpi="{kpi}"}}', "目标")


FORMULAS = {
    "answer_rate": "接通率 v1 = (人工接通 + 回拨接通) / 呼入排队（不含短时放弃），见 docs/kpi.md。",
    "service_level": "服务水平 v1 = 规定时间（默认15秒）内人工接通 / 呼入排队，见 docs/kpi.md。",
    "abandon_rate": "放弃率 v1 = 排队中放弃（等待≥5秒）/ 呼入排队，见 docs/kpi.md。",
    "asa": "平均应答速度 v1 = 人工接通的等待时间之和 / 人工接通数（秒），见 docs/kpi.md。",
    "talk_time": "平均通话时长 v1 = 通话时长之和 / 通话数（秒），见 docs/kpi.md。",
    "satisfaction": "满意率 v1 = (满意 + 基本满意) / 参评数；参评率 v1 = 参评数 / 人工接通的呼入来电，见 docs/kpi.md。",
    "rating_rate": "参评率 v1 = 参评数 / 人工接通的呼入来电，见 docs/kpi.md。",
    "first_choice": "首选率 v1 = 回答“是” / 回答首选问题的来电，见 docs/kpi.md。",
    "awareness": "知晓率 v1 = 经宣传渠道知道12348 / 回答渠道问题的来电（代理指标），见 docs/kpi.md。",
    "response_rate": "回应率 v1 = 已回应的诉求 / 诉求，见 docs/kpi.md。",
}
TODAY_NOTE = "今日：当地自然日（Asia/Shanghai）按 hotline.kpi 计算的值（hotline_kpi_today）。"


def overview() -> g.Dashboard:
    def today_stat(title: str, kpi: str, *, ratio: bool = True, has_target: bool = True) -> Spec:
        queries = [today(kpi), *([target(kpi)] if has_target else [])]
        unit = "short" if ratio else "s"
        return stat(title, *queries, ratio=ratio, unit=unit, description=f"{FORMULAS[kpi]}{TODAY_NOTE}")

    def live(title: str, kpi: str, *, has_target: bool = True) -> Spec:
        return ts(
            title,
            Q(f"hotline:kpi_{kpi}:ratio_rate15m", "最近15分钟"),
            Q(f"hotline:kpi_{kpi}:ratio_rate1h", "最近1小时"),
            today(kpi),
            *([target(kpi)] if has_target else []),
            ratio=True,
            description=f"{FORMULAS[kpi]}滚动窗口按窗口内发生的事件计算（kpi.yml）；{TODAY_NOTE}",
        )

    panels = layout(
        [
            (
                4,
                [
                    today_stat("接通率（今日）", "answer_rate"),
                    today_stat("服务水平（今日）", "service_level"),
                    today_stat("放弃率（今日）", "abandon_rate"),
                    today_stat("平均应答速度（今日）", "asa", ratio=False, has_target=False),
                    today_stat("平均通话时长（今日）", "talk_time", ratio=False, has_target=False),
                    today_stat("回应率（今日）", "response_rate"),
                ],
            ),
            (
                4,
                [
                    today_stat("满意率（今日）", "satisfaction"),
                    today_stat("参评率（今日）", "rating_rate", has_target=False),
                    today_stat("首选率（今日）", "first_choice", has_target=False),
                    today_stat("知晓率（今日）", "awareness", has_target=False),
                    stat(
                        "今日排队与接通",
                        Q('hotline_kpi_today_denominator{kpi="answer_rate"}', "呼入排队"),
                        Q('hotline_kpi_today_numerator{kpi="answer_rate"}', "接通"),
                        description="接通率今日的分母（呼入排队）与分子（人工接通 + 回拨接通）。",
                    ),
                    stat(
                        "当前排队人数",
                        Q("sum(hotline_queue_waiting)", "排队中"),
                        Q("max(hotline_queue_oldest_wait_seconds)", "最长等待（秒）"),
                        description="所有队列正在等待的来电人数，和其中等待最久者的等待秒数。",
                    ),
                ],
            ),
            (
                8,
                [
                    live("接通率", "answer_rate"),
                    live("服务水平", "service_level"),
                    live("放弃率", "abandon_rate"),
                ],
            ),
            (
                8,
                [
                    ts(
                        "平均应答速度",
                        Q("hotline:kpi_asa_seconds:mean15m", "最近15分钟"),
                        Q("hotline:kpi_asa_seconds:mean1h", "最近1小时"),
                        today("asa"),
                        unit="s",
                        description=f"{FORMULAS['asa']}{TODAY_NOTE}",
                    ),
                    ts(
                        "满意率与参评率",
                        Q("hotline:kpi_satisfaction:ratio_rate1h", "满意率（最近1小时）"),
                        Q("hotline:kpi_rating_rate:ratio_rate1h", "参评率（最近1小时）"),
                        Q('hotline_kpi_today{kpi="satisfaction"}', "满意率（今日）"),
                        Q('hotline_kpi_today{kpi="rating_rate"}', "参评率（今日）"),
                        Q('hotline_kpi_target{kpi="satisfaction"}', "满意率目标"),
                        ratio=True,
                        description=f"{FORMULAS['satisfaction']}{TODAY_NOTE}",
                    ),
                    ts(
                        "首选率与知晓率",
                        Q("hotline:kpi_first_choice:ratio_rate1h", "首选率（最近1小时）"),
                        Q("hotline:kpi_awareness:ratio_rate1h", "知晓率（最近1小时）"),
                        Q('hotline_kpi_today{kpi="first_choice"}', "首选率（今日）"),
                        Q('hotline_kpi_today{kpi="awareness"}', "知晓率（今日）"),
                        ratio=True,
                        description=f"{FORMULAS['first_choice']}{FORMULAS['awareness']}{TODAY_NOTE}",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "呼入、接通与放弃（每15分钟）",
                        Q("hotline:calls_offered:increase15m", "呼入排队"),
                        Q("sum(increase(hotline_calls_answered_total[15m]))", "人工接通"),
                        Q("sum(increase(hotline_calls_abandoned_total[15m]))", "放弃"),
                        description="最近15分钟内结束的排队：呼入排队（接通率的分母）、人工接通、排队中放弃。",
                    ),
                    ts(
                        "各队列服务水平（最近15分钟）",
                        Q("queue:kpi_service_level:ratio_rate15m", "{{queue}}"),
                        target("service_level"),
                        ratio=True,
                        description=FORMULAS["service_level"],
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        "hotline-overview",
        "12348 热线 · 总览",
        "各项考核指标（docs/kpi.md）与目标（配置 kpi.targets）：今日值与滚动窗口。",
        panels,
    )


def queues() -> g.Dashboard:
    q = '{queue=~"$queue"}'
    panels = layout(
        [
            (
                8,
                [
                    ts("排队人数", Q(f"hotline_queue_waiting{q}", "{{queue}}"), description="各队列正在等待的来电。"),
                    ts(
                        "最长等待时间",
                        Q(f"hotline_queue_oldest_wait_seconds{q}", "{{queue}}"),
                        unit="s",
                        description="各队列中等待最久的来电已等待的时间（无人等待时为0）。",
                    ),
                    ts(
                        "坐席状态",
                        Q(f"sum by (state) (hotline_agents{q})", "{{state}}"),
                        names=STATE_NAMES,
                        stacked=True,
                        description="所选队列的成员按坐席状态计数；同时属于多个队列的坐席在每个队列各计一次。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "呼入、接通与放弃（每分钟）",
                        Q(f"sum(rate(hotline_calls_offered_total{q}[5m])) * 60", "呼入排队"),
                        Q(f"sum(rate(hotline_calls_answered_total{q}[5m])) * 60", "人工接通"),
                        Q(f"sum(rate(hotline_calls_answered_by_callback_total{q}[5m])) * 60", "回拨接通"),
                        Q(f"sum(rate(hotline_calls_abandoned_total{q}[5m])) * 60", "放弃"),
                        unit="cpm",
                        description="最近5分钟的平均速率（每分钟）。",
                    ),
                    ts(
                        "等待时间分位数（最近15分钟）",
                        Q(
                            f"histogram_quantile(0.5, sum by (le) (rate(hotline_queue_wait_seconds_bucket{q}[15m])))",
                            "中位数",
                        ),
                        Q(
                            f"histogram_quantile(0.9, sum by (le) (rate(hotline_queue_wait_seconds_bucket{q}[15m])))",
                            "90%",
                        ),
                        Q(
                            f"histogram_quantile(0.95, sum by (le) (rate(hotline_queue_wait_seconds_bucket{q}[15m])))",
                            "95%",
                        ),
                        unit="s",
                        description="结束的排队（任何结果）从进入队列到离开的等待时间，按直方图估计。",
                    ),
                    ts(
                        "排队结果（每小时）",
                        Q(f"sum by (outcome) (increase(hotline_queue_visits_total{q}[1h]))", "{{outcome}}"),
                        names=OUTCOME_NAMES,
                        stacked=True,
                        description="最近1小时结束的排队按结果计数（含短时放弃）。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "服务水平（最近15分钟）",
                        Q(f"queue:kpi_service_level:ratio_rate15m{q}", "{{queue}}"),
                        target("service_level"),
                        ratio=True,
                        description=FORMULAS["service_level"],
                    ),
                    ts(
                        "接通率（最近15分钟）",
                        Q(f"queue:kpi_answer_rate:ratio_rate15m{q}", "{{queue}}"),
                        target("answer_rate"),
                        ratio=True,
                        description=FORMULAS["answer_rate"],
                    ),
                    ts(
                        "放弃率（最近15分钟）",
                        Q(f"queue:kpi_abandon_rate:ratio_rate15m{q}", "{{queue}}"),
                        target("abandon_rate"),
                        ratio=True,
                        description=FORMULAS["abandon_rate"],
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "平均应答速度（最近15分钟）",
                        Q(f"queue:kpi_asa_seconds:mean15m{q}", "{{queue}}"),
                        unit="s",
                        description=FORMULAS["asa"],
                    ),
                    ts(
                        "回拨",
                        Q(f"sum(hotline_callbacks_pending{q})", "待回拨"),
                        Q(f"sum(increase(hotline_callbacks_scheduled_total{q}[1h]))", "预约（每小时）"),
                        description="等待或正在拨打的回拨，和最近1小时来电人预约的回拨。",
                    ),
                    ts(
                        "回拨结果（每小时）",
                        Q(f"sum by (result) (increase(hotline_callback_attempts_total{q}[1h]))", "{{result}}"),
                        names=RESULT_NAMES,
                        stacked=True,
                        description="最近1小时的回拨尝试按结果计数。",
                    ),
                ],
            ),
            (
                9,
                [
                    bars(
                        "语音导航各节点去向（最近1小时）",
                        Q("sum by (flow, node, exit) (increase(hotline_ivr_exits_total[1h]))", "{{node}} → {{exit}}"),
                        description="离开每个语音导航节点的次数，按去往的节点（hangup：来电人挂机，end：流程结束）。",
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        "hotline-queues",
        "12348 热线 · 队列实时",
        "各队列的排队、等待、坐席状态和滚动窗口的考核指标。",
        panels,
        variables=True,
    )


def agents() -> g.Dashboard:
    q = '{queue=~"$queue"}'

    def by_queue(state: str) -> Spec:
        return ts(
            f"{STATE_NAMES[state]}坐席（按队列）",
            Q(f'sum by (queue) (hotline_agents{{queue=~"$queue",state="{state}"}})', "{{queue}}"),
            description=f"各队列中状态为“{STATE_NAMES[state]}”的成员数。",
        )

    panels = layout(
        [
            (
                8,
                [
                    ts(
                        "坐席状态（所选队列合计）",
                        Q(f"sum by (state) (hotline_agents{q})", "{{state}}"),
                        names=STATE_NAMES,
                        stacked=True,
                        description="队列成员按状态计数；同时属于多个队列的坐席在每个队列各计一次。",
                    ),
                    ts(
                        "已登录坐席（按队列）",
                        Q('sum by (queue) (hotline_agents{queue=~"$queue",state!="logged_out"})', "{{queue}}"),
                        description="各队列中已登录（签出以外任何状态）的成员数。",
                    ),
                ],
            ),
            (8, [by_queue("available"), by_queue("reserved"), by_queue("on_call"), by_queue("wrap_up")]),
            (
                8,
                [
                    by_queue("paused"),
                    ts(
                        "坐席占用率（按队列）",
                        Q(
                            'sum by (queue) (hotline_agents{queue=~"$queue",state=~"reserved|on_call|wrap_up"})'
                            ' / (sum by (queue) (hotline_agents{queue=~"$queue",state!="logged_out"}) > 0)',
                            "{{queue}}",
                        ),
                        ratio=True,
                        description="振铃、通话和话后整理的成员占已登录成员的比例。",
                    ),
                    ts(
                        "分配给坐席的来电（每分钟）",
                        Q("sum(rate(hotline_acd_offers_total[5m])) * 60", "分配"),
                        unit="cpm",
                        description="自动呼叫分配向坐席振铃的次数（含未接听的振铃）。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "平均通话时长（最近1小时）",
                        Q(f"queue:kpi_talk_time_seconds:mean1h{q}", "{{queue}}"),
                        unit="s",
                        description=FORMULAS["talk_time"],
                    ),
                    ts(
                        "通话时长分位数（最近1小时）",
                        Q(f"histogram_quantile(0.5, sum by (le) (rate(hotline_talk_seconds_bucket{q}[1h])))", "中位数"),
                        Q(f"histogram_quantile(0.9, sum by (le) (rate(hotline_talk_seconds_bucket{q}[1h])))", "90%"),
                        unit="s",
                        description="结束的通话（呼入和回拨）从接通到结束的时长，按直方图估计；不含话后整理。",
                    ),
                    ts(
                        "通话数（每小时）",
                        Q(f"sum by (queue) (increase(hotline_talk_seconds_count{q}[1h]))", "{{queue}}"),
                        description="最近1小时结束的通话数。",
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        "hotline-agents",
        "12348 热线 · 坐席",
        "各队列坐席的状态、占用和通话时长。",
        panels,
        variables=True,
    )


def prefectures() -> g.Dashboard:
    names = PREFECTURE_NAMES
    legend = "{{prefecture}}"
    note = "州市按来电号码归属（calls.prefecture_code）；云南省外和无法判断的号码单列。"
    panels = layout(
        [
            (
                11,
                [
                    bars(
                        "各州市呼入量（最近24小时）",
                        Q("prefecture:calls_offered:increase1d", legend),
                        names=names,
                        description=f"呼入排队（接通率的分母）。{note}",
                    ),
                    bars(
                        "各州市接通率（最近24小时）",
                        Q("prefecture:kpi_answer_rate:ratio_rate1d", legend),
                        names=names,
                        ratio=True,
                        description=f"{FORMULAS['answer_rate']}{note}",
                    ),
                    bars(
                        "各州市放弃率（最近24小时）",
                        Q("prefecture:kpi_abandon_rate:ratio_rate1d", legend),
                        names=names,
                        ratio=True,
                        description=f"{FORMULAS['abandon_rate']}{note}",
                    ),
                ],
            ),
            (
                11,
                [
                    bars(
                        "各州市服务水平（最近24小时）",
                        Q("prefecture:kpi_service_level:ratio_rate1d", legend),
                        names=names,
                        ratio=True,
                        description=f"{FORMULAS['service_level']}{note}",
                    ),
                    bars(
                        "各州市人工接通量（最近24小时）",
                        Q("sum by (prefecture) (increase(hotline_calls_answered_total[1d]))", legend),
                        names=names,
                        description=f"排队后由坐席接通的来电。{note}",
                    ),
                    bars(
                        "各州市放弃量（最近24小时）",
                        Q("sum by (prefecture) (increase(hotline_calls_abandoned_total[1d]))", legend),
                        names=names,
                        description=f"排队中放弃（不含短时放弃）。{note}",
                    ),
                ],
            ),
            (
                9,
                [
                    ts(
                        "各州市呼入（每小时）",
                        Q("prefecture:calls_offered:increase1h", legend),
                        names=names,
                        description=f"最近1小时的呼入排队。{note}",
                    ),
                    ts(
                        "各州市接通率（最近1小时）",
                        Q("prefecture:kpi_answer_rate:ratio_rate1h", legend),
                        names=names,
                        ratio=True,
                        description=f"{FORMULAS['answer_rate']}{note}",
                    ),
                    ts(
                        "各州市放弃率（最近1小时）",
                        Q("prefecture:kpi_abandon_rate:ratio_rate1h", legend),
                        names=names,
                        ratio=True,
                        description=f"{FORMULAS['abandon_rate']}{note}",
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        "hotline-prefectures",
        "12348 热线 · 16个州市",
        "云南16个州市（及省外、未知地区）的呼入、接通、放弃和服务水平。",
        panels,
    )


def quality() -> g.Dashboard:
    def answers(title: str, question: str, description: str) -> Spec:
        return bars(
            title,
            Q(f'sum by (answer) (increase(hotline_survey_answers_total{{question="{question}"}}[1d]))', "{{answer}}"),
            description=description,
        )

    def tags(title: str, kind: str, description: str) -> Spec:
        return bars(
            title,
            Q(f'sum by (value) (increase(hotline_tags_total{{kind="{kind}"}}[1d]))', "{{value}}"),
            description=description,
        )

    panels = layout(
        [
            (
                8,
                [
                    ts(
                        "满意率与参评率",
                        Q("hotline:kpi_satisfaction:ratio_rate1h", "满意率（最近1小时）"),
                        Q("hotline:kpi_rating_rate:ratio_rate1h", "参评率（最近1小时）"),
                        Q('hotline_kpi_today{kpi="satisfaction"}', "满意率（今日）"),
                        Q('hotline_kpi_target{kpi="satisfaction"}', "满意率目标"),
                        ratio=True,
                        description=f"{FORMULAS['satisfaction']}{TODAY_NOTE}",
                    ),
                    ts(
                        "首选率",
                        Q("hotline:kpi_first_choice:ratio_rate1h", "最近1小时"),
                        Q("hotline:kpi_first_choice:ratio_rate1d", "最近24小时"),
                        today("first_choice"),
                        ratio=True,
                        description=f"{FORMULAS['first_choice']}{TODAY_NOTE}",
                    ),
                    ts(
                        "知晓率",
                        Q("hotline:kpi_awareness:ratio_rate1h", "最近1小时"),
                        Q("hotline:kpi_awareness:ratio_rate1d", "最近24小时"),
                        today("awareness"),
                        ratio=True,
                        description=f"{FORMULAS['awareness']}{TODAY_NOTE}",
                    ),
                ],
            ),
            (
                9,
                [
                    answers("满意度评价（最近24小时）", "satisfaction", "通话后调查“满意度”的回答。"),
                    answers("是否首选12348（最近24小时）", "first_choice", "通话后调查“是否首先想到12348”的回答。"),
                    answers("知晓渠道（最近24小时）", "channel", "通话后调查“通过什么渠道知道12348”的回答。"),
                ],
            ),
            (
                9,
                [
                    ts(
                        "调查回答（按问题和回答，每小时）",
                        Q(
                            "sum by (question, answer) (increase(hotline_survey_answers_total[1h]))",
                            "{{question}}：{{answer}}",
                        ),
                        description="最近1小时通话后调查的回答，按问题和回答。",
                    ),
                    tags("风险标记（最近24小时）", "flag", "自动标注和坐席写下的风险与特殊群体标记。"),
                ],
            ),
            (
                10,
                [
                    tags("法律领域（最近24小时）", "legal_area", "自动标注和坐席写下的法律领域标签。"),
                    tags("服务类型（最近24小时）", "service", "自动标注和坐席写下的服务类型标签。"),
                ],
            ),
            (
                8,
                [
                    ts(
                        "工单状态",
                        Q("sum by (status) (hotline_tickets)", "{{status}}"),
                        names=TICKET_STATUS_NAMES,
                        stacked=True,
                        description="各状态的工单数。",
                    ),
                    ts(
                        "超期工单",
                        Q("sum by (status) (hotline_tickets_overdue)", "{{status}}"),
                        names=TICKET_STATUS_NAMES,
                        stacked=True,
                        description="已过办理期限仍未办结的工单，按状态。",
                    ),
                    ts(
                        "通话后分析（每小时）",
                        Q("sum by (result) (increase(hotline_analysis_calls_total[1h]))", "{{result}}"),
                        names={"ok": "完成", "skipped": "跳过", "failed": "失败"},
                        stacked=True,
                        description="通话后转写与自动标注完成、跳过和失败的通话数。",
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        "hotline-quality",
        "12348 热线 · 服务质量",
        "满意率、首选率、知晓率，调查回答、标签与风险标记，工单。",
        panels,
    )


UP_MAPPINGS = (("1", "正常", "green"), ("0", "停止", "red"))


def system() -> g.Dashboard:
    panels = layout(
        [
            (
                4,
                [
                    stat("热线服务", Q('up{job="hotline"}', "监控端点"), mappings=UP_MAPPINGS),
                    stat("SIP 前端", Q("hotline_front_up", "Kamailio"), mappings=UP_MAPPINGS),
                    stat("Kamailio 指标端点", Q('up{job="kamailio"}', "xhttp_prom"), mappings=UP_MAPPINGS),
                    stat("数据库", Q("hotline_db_up", "PostgreSQL"), mappings=UP_MAPPINGS),
                    stat(
                        "呼叫单元",
                        Q("sum(hotline_cell_up)", "运行"),
                        Q("count(hotline_cell_up)", "配置"),
                        description="正在运行的呼叫单元数和配置的呼叫单元数。",
                    ),
                    stat(
                        "呼叫分配主节点",
                        Q("hotline_acd_leader", "本节点"),
                        mappings=(("1", "主", "green"), ("0", "备", "blue")),
                        description="本节点的自动呼叫分配是否为主（同一时间只有一个节点分配来电）。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts("呼叫单元运行状态", Q("hotline_cell_up", "{{cell}}"), description="1：进程运行中；0：已停止。"),
                    ts(
                        "通话路数与容量",
                        Q("hotline_cell_legs", "{{cell}}"),
                        Q("sum(hotline_cell_legs_capacity)", "总容量"),
                        description="各呼叫单元使用中的通话路数，和所有单元能承载的路数。",
                    ),
                    ts(
                        "重启次数（每小时）",
                        Q("increase(hotline_cell_restarts_total[1h])", "{{cell}}"),
                        Q("increase(hotline_front_restarts_total[1h])", "SIP 前端"),
                        description="进程意外退出后被监督进程重启的次数。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "Kamailio 分发目标",
                        Q("hotline_front_targets", "{{state}}"),
                        names=TARGET_STATE_NAMES,
                        stacked=True,
                        description="Kamailio 分发列表（dispatcher.list）中可用和不可用的呼叫单元。",
                    ),
                    ts(
                        "Kamailio 收到的请求（每秒）",
                        Q("rate(kamailio_core_rcv_requests_invite[5m])", "INVITE"),
                        Q("rate(kamailio_core_rcv_requests_bye[5m])", "BYE"),
                        Q("rate(kamailio_core_rcv_requests_register[5m])", "REGISTER"),
                        Q("rate(kamailio_core_rcv_replies_5xx[5m])", "收到的 5xx 回复"),
                        unit="reqps",
                        description="Kamailio 自身的统计（xhttp_prom，kamailio_core_*）。",
                    ),
                    ts(
                        "Kamailio 事务、注册与内存",
                        Q("kamailio_tmx_active_transactions", "活动事务"),
                        Q("kamailio_usrloc_registered_users", "已注册话机"),
                        description="Kamailio 的活动事务数和已注册的坐席话机数。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "通话开始（每分钟）",
                        Q("sum by (direction) (rate(hotline_calls_started_total[5m])) * 60", "{{direction}}"),
                        names=DIRECTION_NAMES,
                        unit="cpm",
                        description="呼入来电和发起的回拨（最近5分钟的平均速率）。",
                    ),
                    ts(
                        "通话失败比例",
                        Q("hotline:calls_failed:ratio_rate15m", "最近15分钟"),
                        Q("hotline:calls_failed:ratio_rate1h", "最近1小时"),
                        ratio=True,
                        description="以失败（FAILED）结束的通话占结束通话的比例。",
                    ),
                    ts(
                        "数据库错误与新建连接（每分钟）",
                        Q("sum(rate(hotline_db_errors_total[5m])) * 60 or on() vector(0)", "数据库错误"),
                        Q("sum by (process) (rate(hotline_db_connections_opened_total[5m])) * 60", "{{process}}"),
                        names=PROCESS_NAMES,
                        unit="cpm",
                        description="各进程捕获并继续处理的数据库错误，和新建的 PostgreSQL 连接（第一次以后即重连）。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "转写积压",
                        Q("hotline_transcribe_backlog_calls", "待转写通话"),
                        Q("hotline_transcribe_live_streams", "实时转写路数"),
                        description="已结束、等待通话后转写的通话数，和正在实时转写的音频流。",
                    ),
                    ts(
                        "最久待转写录音",
                        Q("hotline_transcribe_backlog_oldest_seconds", "等待时间"),
                        unit="s",
                        description="等待转写最久的录音自通话结束以来的时间。",
                    ),
                    ts(
                        "转写实时率",
                        Q("hotline:transcribe_real_time_factor:ratio_rate5m", "最近5分钟"),
                        Q("hotline:transcribe_real_time_factor:ratio_rate1h", "最近1小时"),
                        description="识别耗时 / 音频时长；大于1表示转写跟不上音频。",
                    ),
                ],
            ),
            (
                8,
                [
                    ts(
                        "事件采集延迟",
                        Q("hotline_collector_lag_seconds", "延迟"),
                        unit="s",
                        description="采集器读到的最新事件距今的时间（空闲时为0）。",
                    ),
                    ts(
                        "事件采集速度（每分钟）",
                        Q("rate(hotline_events_collected_total[5m]) * 60", "事件"),
                        unit="cpm",
                        description="采集器从事件日志读取的事件行数。",
                    ),
                    ts(
                        "刷新与指标更新错误（每小时）",
                        Q("sum(increase(hotline_refresh_errors_total[1h])) or on() vector(0)", "状态刷新失败"),
                        Q("sum(increase(hotline_metric_errors_total[1h])) or on() vector(0)", "指标更新失败"),
                        description="监督进程刷新状态指标失败的次数，和各进程指标更新失败（已记录日志）的次数。",
                    ),
                ],
            ),
        ]
    )
    return dashboard(
        "hotline-system",
        "12348 热线 · 系统健康",
        "呼叫单元、SIP 前端（Kamailio）、数据库、转写和指标采集的运行状态。",
        panels,
    )


DASHBOARDS = (overview, queues, agents, prefectures, quality, system)


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    out: dict[str, str] = {}
    for build in DASHBOARDS:
        board = build()
        data = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
        name = f"{board.uid.removeprefix('hotline-')}.json"
        out[name] = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return out


def stale(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Files that differ from what the generator writes, are missing, or are not written by it."""
    problems = [name for name, text in files.items() if _read(directory / name) != text]
    problems += [p.name for p in sorted(directory.glob("*.json")) if p.name not in files]
    return sorted(problems)


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Grafana dashboards (monitoring/dashboards/*.json).")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file is stale")
    parser.add_argument("--dir", type=Path, default=HERE, help="where the JSON files are (default: beside this file)")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        problems = stale(args.dir, files)
        for name in problems:
            print(f"过期：{args.dir / name}（请运行 python monitoring/dashboards/generate.py）", file=sys.stderr)
        return 1 if problems else 0
    for name, text in files.items():
        (args.dir / name).write_text(text, encoding="utf-8")
    for path in sorted(args.dir.glob("*.json")):
        if path.name not in files:
            path.unlink()
    print(f"已写入 {len(files)} 个仪表盘：{', '.join(sorted(files))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

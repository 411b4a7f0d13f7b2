"""The KPI formulas of docs/kpi.md over hand-made rows, with hand-computed expectations."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline import kpi
from hotline.kpi import (
    CallbackStatus,
    CallCase,
    Conversation,
    Group,
    KpiParams,
    KpiRows,
    KpiValue,
    QueueVisit,
    SurveyCall,
    VisitEnd,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
DOC = Path(__file__).resolve().parents[2] / "docs" / "kpi.md"


def visit(end: VisitEnd, wait: float | None = None, **kw: object) -> QueueVisit:
    fields: dict[str, object] = {"call_id": uuid.uuid4(), "started_at": T0, "queue": "legal_consult"}
    fields.update(kw)
    return QueueVisit(end=end, wait_s=wait, **fields)  # type: ignore[arg-type]


def counts(value: KpiValue) -> tuple[float, float]:
    return value.numerator, value.denominator


# A day of one queue: 3 answered (5, 12, 30 s), an abandon after 40 s, a short abandon after 2 s, a timeout,
# a refusal (full), a refusal (nobody staffs), a visit lost to a dead cell, and one still waiting.
DAY = [
    visit(VisitEnd.ANSWERED, 5.0, agent="li"),
    visit(VisitEnd.ANSWERED, 12.0, agent="li"),
    visit(VisitEnd.ANSWERED, 30.0, agent="wang"),
    visit(VisitEnd.ABANDONED, 40.0),
    visit(VisitEnd.ABANDONED, 2.0),
    visit(VisitEnd.TIMEOUT, 600.0),
    visit(VisitEnd.FULL, 0.0),
    visit(VisitEnd.EMPTY, 0.0),
    visit(VisitEnd.LOST),
    visit(VisitEnd.OPEN),
]
WITH_SHORT = KpiParams(exclude_short_abandons=False)


def test_answer_rate_counts_refusals_and_lost_visits_but_not_open_ones_or_short_abandons() -> None:
    value = kpi.answer_rate(DAY)
    assert counts(value) == (3, 8)
    assert value.value == pytest.approx(0.375)
    assert value.label == "接通率 v1" and value.unit is kpi.Unit.RATIO
    assert counts(kpi.answer_rate(DAY, WITH_SHORT)) == (3, 9)


def test_short_abandon_is_strictly_below_the_threshold() -> None:
    assert kpi.is_short_abandon(visit(VisitEnd.ABANDONED, 4.9))
    assert not kpi.is_short_abandon(visit(VisitEnd.ABANDONED, 5.0))
    assert not kpi.is_short_abandon(visit(VisitEnd.TIMEOUT, 1.0))  # only abandons are short abandons
    assert kpi.is_short_abandon(visit(VisitEnd.ABANDONED, 9.0), KpiParams(short_abandon_s=10))
    assert counts(kpi.abandon_rate(DAY, KpiParams(short_abandon_s=50))) == (0, 7)  # both abandons are short now


def test_service_level_is_answered_within_t_over_offered() -> None:
    assert counts(kpi.service_level(DAY)) == (2, 8)  # 5 s and 12 s within 15 s
    assert counts(kpi.service_level(DAY, KpiParams(service_level_s=30))) == (3, 8)  # 30 s counts: wait <= T
    assert counts(kpi.service_level(DAY, KpiParams(service_level_s=4))) == (0, 8)
    assert counts(kpi.service_level(DAY, WITH_SHORT)) == (2, 9)


def test_service_level_can_use_each_queues_own_threshold() -> None:
    visits = [
        visit(VisitEnd.ANSWERED, 18.0, queue_service_level_s=20.0),
        visit(VisitEnd.ANSWERED, 18.0, queue_service_level_s=15.0),
        visit(VisitEnd.ABANDONED, 30.0, queue_service_level_s=20.0),
    ]
    per_queue = KpiParams(service_level_s=None)
    value = kpi.service_level(visits, per_queue)
    assert counts(value) == (1, 3)
    assert "each queue's service_level_seconds" in value.formula
    assert counts(kpi.service_level(visits)) == (0, 3)  # the default: 15 s for every queue


def test_asa_averages_live_answers_only() -> None:
    value = kpi.average_speed_of_answer(DAY)
    assert counts(value) == (47.0, 3)
    assert value.value == pytest.approx(47 / 3)
    assert value.unit is kpi.Unit.SECONDS


def test_abandon_rate() -> None:
    assert counts(kpi.abandon_rate(DAY)) == (1, 8)
    assert counts(kpi.abandon_rate(DAY, WITH_SHORT)) == (2, 9)


def test_a_callback_that_connected_is_answered_but_never_within_t_nor_in_asa() -> None:
    visits = [
        visit(VisitEnd.EXIT_KEY, 3.0, callback=CallbackStatus.CONNECTED, agent="li"),
        visit(VisitEnd.EXIT_KEY, 3.0, callback=CallbackStatus.WAITING),
        visit(VisitEnd.EXIT_KEY, 3.0, callback=CallbackStatus.FAILED),
        visit(VisitEnd.EXIT_KEY, 3.0),  # the callback could not be registered
        visit(VisitEnd.ANSWERED, 10.0),
    ]
    assert counts(kpi.answer_rate(visits)) == (2, 5)
    assert counts(kpi.service_level(visits)) == (1, 5)
    assert counts(kpi.average_speed_of_answer(visits)) == (10.0, 1)
    assert counts(kpi.abandon_rate(visits)) == (0, 5)  # asking for a callback is not abandoning


def test_no_denominator_gives_no_value_not_zero() -> None:
    for value in (
        kpi.answer_rate([]),
        kpi.answer_rate([visit(VisitEnd.OPEN)]),
        kpi.answer_rate([visit(VisitEnd.ABANDONED, 1.0)]),  # only a short abandon
        kpi.service_level([]),
        kpi.average_speed_of_answer([visit(VisitEnd.ABANDONED, 30.0)]),
        kpi.average_talk_time([Conversation(call_id=uuid.uuid4(), started_at=T0)]),
        kpi.satisfaction_rate([SurveyCall(call_id=uuid.uuid4(), started_at=T0)]),
        kpi.response_rate([CallCase(call_id=uuid.uuid4(), started_at=T0)]),
        kpi.legal_aid_rate([]),
    ):
        assert value.value is None, value
        assert value.numerator == 0 and value.denominator == 0
        assert value.display().startswith("—")
        assert value.as_dict()["value"] is None


def test_display_and_json() -> None:
    rate = kpi.answer_rate(DAY)
    assert rate.display() == "37.5 % (3/8)"
    asa = kpi.average_speed_of_answer(DAY)
    assert asa.display() == "15.7 s (3 calls)"
    assert rate.as_dict() == {
        "id": "answer_rate",
        "name": "接通率",
        "version": 1,
        "label": "接通率 v1",
        "unit": "ratio",
        "value": 0.375,
        "numerator": 3,
        "denominator": 8,
        "formula": "answered (CONNECT, or a connected callback) / offered queue visits, "
        "abandons after less than 5 s left out",
    }
    assert kpi.answer_rate(DAY, WITH_SHORT).formula.endswith("short abandons included")
    assert "within 15 s" in kpi.service_level(DAY).formula


def test_average_talk_time_leaves_out_conversations_still_going_on() -> None:
    rows = [
        Conversation(call_id=uuid.uuid4(), started_at=T0, talk_s=60.0),
        Conversation(call_id=uuid.uuid4(), started_at=T0, talk_s=120.0, direction="callback"),
        Conversation(call_id=uuid.uuid4(), started_at=T0, talk_s=None),
    ]
    value = kpi.average_talk_time(rows)
    assert counts(value) == (180.0, 2)
    assert value.value == pytest.approx(90.0)


def survey(eligible: bool = True, prefecture: str = "532900", **answers: str | None) -> SurveyCall:
    return SurveyCall(call_id=uuid.uuid4(), started_at=T0, prefecture=prefecture, eligible=eligible, answers=answers)


SURVEYS = [
    survey(satisfaction="满意", first_choice="是", channel="电视广播"),
    survey(satisfaction="基本满意", first_choice="否", channel="亲友介绍"),
    survey(satisfaction="不满意", first_choice="是", channel="网络和微信"),
    survey(satisfaction=None, first_choice=None, channel="其他"),  # asked, not answered
    survey(),  # bridged to an agent, hung up before the survey
    survey(eligible=False, satisfaction="满意"),  # rated without a CONNECT: counts in 满意率 only
]


def test_satisfaction_is_satisfied_plus_basically_satisfied_over_rated() -> None:
    value = kpi.satisfaction_rate(SURVEYS)
    assert counts(value) == (3, 4)
    assert value.label == "满意率 v1"
    strict = KpiParams(satisfied_labels=frozenset({"满意"}))
    assert counts(kpi.satisfaction_rate(SURVEYS, strict)) == (2, 4)


def test_rating_rate_is_rated_over_eligible() -> None:
    assert counts(kpi.rating_rate(SURVEYS)) == (3, 5)


def test_first_choice_and_awareness_from_the_survey_questions() -> None:
    assert counts(kpi.first_choice_rate(SURVEYS)) == (2, 3)
    assert counts(kpi.awareness_rate(SURVEYS)) == (2, 4)  # 电视广播, 网络和微信; not 亲友介绍, 其他
    assert kpi.answer_counts([*SURVEYS, survey(channel="电视广播")], "channel") == {
        "电视广播": 2,
        "亲友介绍": 1,
        "网络和微信": 1,
        "其他": 1,
    }


def case(**kw: object) -> CallCase:
    fields: dict[str, object] = {"call_id": uuid.uuid4(), "started_at": T0}
    fields.update(kw)
    return CallCase(**fields)  # type: ignore[arg-type]


POOR = frozenset({"建档立卡"})
NEEDS = [
    case(visits=1, connected=True, registry_kinds=POOR),  # answered: responded
    case(visits=1, abandon_waits=(40.0,), registry_kinds=POOR),  # gave up, nobody called back: not responded
    case(visits=1, abandon_waits=(2.0,)),  # short abandon only: no need
    case(visits=1, abandon_waits=(2.0,), voicemail=True, ticket_statuses=frozenset({"new", "answered"})),
    case(visits=1, callback=CallbackStatus.CONNECTED, flags=frozenset({"registered_poor"})),
    case(visits=1, callback=CallbackStatus.FAILED),  # not responded
    case(),  # IVR only: no need
    case(visits=1, voicemail=True, ticket_statuses=frozenset({"new", "in_progress"})),  # not handled yet
    case(visits=2, abandon_waits=(2.0,)),  # a short abandon and a timeout: a need, not responded
    case(voicemail=True, ticket_statuses=frozenset({"referred"})),  # straight to voicemail, referred
]


def test_response_rate_counts_needs_and_their_responses() -> None:
    assert [kpi.is_need(c) for c in NEEDS] == [True, True, False, True, True, True, False, True, True, True]
    value = kpi.response_rate(NEEDS)
    assert counts(value) == (4, 8)
    assert value.label == "回应率 v1"
    # short abandons included: the short-abandon-only call is a need, and not responded
    assert counts(kpi.response_rate(NEEDS, WITH_SHORT)) == (4, 9)


def test_response_rate_for_registered_poor_callers() -> None:
    value = kpi.response_rate(NEEDS, registered_poor_only=True)
    assert counts(value) == (2, 3)
    assert value.formula.endswith("registered-poor callers only")


def test_legal_aid_rate_per_registered_poor_caller_who_needs_legal_aid() -> None:
    aid = frozenset({"法律援助"})
    cases = [
        # A: registered, asked for legal aid, then referred on a second call: eligible and granted (once)
        case(caller_key="a", registry_kinds=POOR, services=aid),
        case(caller_key="a", registry_kinds=POOR, referrals=aid),
        # B: the flow's registry flag and legal_aid_hint, no referral: eligible, not granted
        case(caller_key="b", flags=frozenset({"registered_poor", "legal_aid_hint"})),
        # C: registered, but not as poor: not eligible
        case(caller_key="c", registry_kinds=frozenset({"残疾人"}), services=aid),
        # D: poor (低保) but asked for a consultation only: not eligible
        case(caller_key="d", registry_kinds=frozenset({"低保"}), services=frozenset({"法律咨询"})),
        # E: said so on the phone (tagger flag), not registered: not eligible
        case(caller_key="e", flags=frozenset({"建档立卡"}), services=aid),
        # F: registered on one call, legal-aid hint on the work order of another: eligible, not granted
        case(caller_key="f", registry_kinds=frozenset({"特困"})),
        case(caller_key="f", legal_aid_hint=True),
        # G: referred to mediation, not legal aid: eligible (needs aid), not granted
        case(caller_key="g", registry_kinds=POOR, services=aid, referrals=frozenset({"人民调解"})),
    ]
    value = kpi.legal_aid_rate(cases)
    assert counts(value) == (1, 4)
    assert value.label == "受援率 v1"
    self_declared = KpiParams(poor_flags=frozenset({"registered_poor", "建档立卡"}))
    assert counts(kpi.legal_aid_rate(cases, self_declared)) == (1, 5)


def test_withheld_callers_stand_alone() -> None:
    flags = frozenset({"registered_poor", "legal_aid_hint"})
    cases = [case(flags=flags, referrals=frozenset({"法律援助"})), case(flags=flags)]
    assert counts(kpi.legal_aid_rate(cases)) == (1, 2)


def test_params_are_checked() -> None:
    with pytest.raises(kpi.KpiParamsError):
        KpiParams(service_level_s=0)
    with pytest.raises(kpi.KpiParamsError):
        KpiParams(short_abandon_s=-1)
    with pytest.raises(AttributeError):
        kpi.DEFAULTS.short_abandon_s = 1  # type: ignore[misc]


def test_grouping_by_queue_prefecture_and_agent() -> None:
    visits = [
        visit(VisitEnd.ANSWERED, 10.0, queue="legal_aid", prefecture="530100", agent="li"),
        visit(VisitEnd.ABANDONED, 30.0, queue="legal_aid", prefecture="530100"),
        visit(VisitEnd.ANSWERED, 20.0, queue="mediation", prefecture="outside_yunnan", agent="li"),
        visit(VisitEnd.ANSWERED, 40.0, queue="mediation", prefecture="unknown", agent="wang"),
    ]
    by_queue = {k: counts(kpi.answer_rate(v)) for k, v in kpi.group_rows(visits, Group.QUEUE).items()}
    assert by_queue == {"legal_aid": (1, 2), "mediation": (2, 2)}
    by_agent = {k: counts(kpi.average_speed_of_answer(v)) for k, v in kpi.group_rows(visits, Group.AGENT).items()}
    assert by_agent == {"li": (30.0, 2), "none": (0, 0), "wang": (40.0, 1)}
    assert list(kpi.group_rows(visits, Group.PREFECTURE)) == ["530100", "outside_yunnan", "unknown"]
    assert list(kpi.group_rows(visits, Group.HOTLINE)) == ["all"]


def test_scorecards_by_group() -> None:
    rows = KpiRows(
        visits=[
            visit(VisitEnd.ANSWERED, 10.0, prefecture="530100"),
            visit(VisitEnd.ABANDONED, 30.0, prefecture="530100"),
            visit(VisitEnd.ANSWERED, 20.0, prefecture="532900"),
        ],
        surveys=[survey(satisfaction="满意")],
    )
    cards = kpi.scorecards(rows, Group.PREFECTURE)
    assert list(cards) == ["530100", "532900"]
    assert counts(cards["530100"]["answer_rate"]) == (1, 2)
    assert counts(cards["530100"]["abandon_rate"]) == (1, 2)
    assert cards["530100"]["satisfaction"].value is None
    assert counts(cards["532900"]["satisfaction"]) == (1, 1)
    assert set(cards["532900"]) == {d.id for d in kpi.DEFINITIONS} | {"response_rate_poor"}


def test_a_call_counts_in_the_period_it_started() -> None:
    day1 = dt.datetime(2026, 3, 1, tzinfo=SHANGHAI)
    day2 = dt.datetime(2026, 3, 2, tzinfo=SHANGHAI)
    late = visit(VisitEnd.ANSWERED, 900.0, started_at=day2 - dt.timedelta(seconds=10))  # answered after midnight
    first = visit(VisitEnd.ABANDONED, 10.0, started_at=day2)
    at_end = visit(VisitEnd.ABANDONED, 10.0, started_at=day2 + dt.timedelta(days=1))
    rows = [late, first, at_end]
    assert kpi.in_period(rows, day1, day2) == [late]
    assert kpi.in_period(rows, day2, day2 + dt.timedelta(days=1)) == [first]
    utc_midnight = dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)  # = 2026-03-02 00:00 in Shanghai
    assert kpi.in_period(rows, utc_midnight, utc_midnight + dt.timedelta(days=1)) == [first]
    assert list(kpi.by_day(rows, SHANGHAI)) == [dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    assert list(kpi.by_day(rows, dt.UTC)) == [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
    only_day1 = KpiRows(visits=rows).in_period(day1, day2)
    assert counts(kpi.answer_rate(only_day1.visits)) == (1, 1)


def test_a_period_needs_time_zones_and_an_end_after_its_start() -> None:
    with pytest.raises(kpi.PeriodError):
        kpi.in_period([], dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 2))
    with pytest.raises(kpi.PeriodError):
        kpi.in_period([], T0, T0)


def test_every_definition_is_written_down_in_docs_kpi_md() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^### (\S+) v(\d+) \(`([a-z_]+)`", text, re.MULTILINE)
    assert sorted(headings) == sorted((d.name, str(d.version), d.id) for d in kpi.DEFINITIONS)
    for name in KpiParams.__dataclass_fields__:
        assert f"`{name}`" in text, f"parameter {name} is not in docs/kpi.md"

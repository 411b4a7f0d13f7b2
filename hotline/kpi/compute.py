"""The KPI formulas of docs/kpi.md as pure functions over rows; each returns a KpiValue (value, numerator,
denominator, formula). Give them the rows of one period and one group (see hotline.kpi.groups)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from hotline.kpi.model import (
    ABANDON_RATE,
    ANSWER_RATE,
    ASA,
    AWARENESS,
    DEFAULTS,
    FIRST_CHOICE,
    LEGAL_AID_RATE,
    RATING_RATE,
    RESPONSE_RATE,
    SATISFACTION,
    SERVICE_LEVEL,
    TALK_TIME,
    Definition,
    KpiParams,
    KpiValue,
)
from hotline.kpi.rows import CallbackStatus, CallCase, Conversation, QueueVisit, SurveyCall, VisitEnd


def _value(definition: Definition, numerator: float, denominator: float, params: KpiParams) -> KpiValue:
    return KpiValue(definition, numerator, denominator, params.render(definition))


def _ratio(definition: Definition, hits: Iterable[bool], params: KpiParams) -> KpiValue:
    """hits: one bool per row of the denominator, True when the row is in the numerator too."""
    flags = list(hits)
    return _value(definition, sum(flags), len(flags), params)


def _mean(definition: Definition, values: Iterable[float], params: KpiParams) -> KpiValue:
    numbers = list(values)
    return _value(definition, sum(numbers), len(numbers), params)


# ---- queue visits


def is_short_abandon(visit: QueueVisit, params: KpiParams = DEFAULTS) -> bool:
    return visit.end is VisitEnd.ABANDONED and visit.wait_s is not None and visit.wait_s < params.short_abandon_s


def is_offered(visit: QueueVisit, params: KpiParams = DEFAULTS) -> bool:
    """In the denominator of 接通率, 服务水平 and 放弃率: every ended visit, short abandons only if included."""
    if visit.end is VisitEnd.OPEN:
        return False
    return not (params.exclude_short_abandons and is_short_abandon(visit, params))


def is_answered(visit: QueueVisit) -> bool:
    """Bridged to an agent while waiting, or called back and reached."""
    return visit.end is VisitEnd.ANSWERED or (
        visit.end is VisitEnd.EXIT_KEY and visit.callback is CallbackStatus.CONNECTED
    )


def answered_within(visit: QueueVisit, params: KpiParams = DEFAULTS) -> bool:
    """Answered live with a wait of at most T (a callback is never within T)."""
    threshold = visit.queue_service_level_s if params.service_level_s is None else params.service_level_s
    return visit.end is VisitEnd.ANSWERED and visit.wait_s is not None and visit.wait_s <= threshold


def answer_rate(visits: Iterable[QueueVisit], params: KpiParams = DEFAULTS) -> KpiValue:
    """接通率 v1 = answered / offered."""
    return _ratio(ANSWER_RATE, (is_answered(v) for v in visits if is_offered(v, params)), params)


def service_level(visits: Iterable[QueueVisit], params: KpiParams = DEFAULTS) -> KpiValue:
    """服务水平 v1 = answered within T / offered."""
    return _ratio(SERVICE_LEVEL, (answered_within(v, params) for v in visits if is_offered(v, params)), params)


def average_speed_of_answer(visits: Iterable[QueueVisit], params: KpiParams = DEFAULTS) -> KpiValue:
    """平均应答速度 v1 = sum of waits / visits answered live."""
    return _mean(ASA, (v.wait_s for v in visits if v.end is VisitEnd.ANSWERED and v.wait_s is not None), params)


def abandon_rate(visits: Iterable[QueueVisit], params: KpiParams = DEFAULTS) -> KpiValue:
    """放弃率 v1 = abandoned / offered."""
    return _ratio(ABANDON_RATE, (v.end is VisitEnd.ABANDONED for v in visits if is_offered(v, params)), params)


# ---- conversations


def average_talk_time(conversations: Iterable[Conversation], params: KpiParams = DEFAULTS) -> KpiValue:
    """平均通话时长 v1 = sum of talk times / ended conversations."""
    return _mean(TALK_TIME, (c.talk_s for c in conversations if c.talk_s is not None), params)


# ---- the post-call survey


def _answered(calls: Iterable[SurveyCall], question: str) -> list[str]:
    return [label for c in calls if (label := c.answers.get(question)) is not None]


def satisfaction_rate(calls: Iterable[SurveyCall], params: KpiParams = DEFAULTS) -> KpiValue:
    """满意率 v1 = (满意 + 基本满意) / rated."""
    labels = _answered(calls, params.satisfaction_question)
    return _ratio(SATISFACTION, (label in params.satisfied_labels for label in labels), params)


def rating_rate(calls: Iterable[SurveyCall], params: KpiParams = DEFAULTS) -> KpiValue:
    """参评率 v1 = rated / eligible (bridged to an agent)."""
    question = params.satisfaction_question
    return _ratio(RATING_RATE, (c.answers.get(question) is not None for c in calls if c.eligible), params)


def first_choice_rate(calls: Iterable[SurveyCall], params: KpiParams = DEFAULTS) -> KpiValue:
    """首选率 v1 = 是 / answered."""
    labels = _answered(calls, params.first_choice_question)
    return _ratio(FIRST_CHOICE, (label in params.first_choice_labels for label in labels), params)


def awareness_rate(calls: Iterable[SurveyCall], params: KpiParams = DEFAULTS) -> KpiValue:
    """知晓率 v1 = learned of 12348 through publicity / answered the channel question."""
    labels = _answered(calls, params.awareness_question)
    return _ratio(AWARENESS, (label in params.awareness_labels for label in labels), params)


def answer_counts(calls: Iterable[SurveyCall], question: str) -> dict[str, int]:
    """How often each label was answered to a question (e.g. the channels beside 知晓率), most frequent first."""
    return dict(Counter(_answered(calls, question)).most_common())


# ---- needs and legal aid


def is_registered_poor(case: CallCase, params: KpiParams = DEFAULTS) -> bool:
    return bool(case.registry_kinds & params.poor_registry_kinds or case.flags & params.poor_flags)


def needs_legal_aid(case: CallCase, params: KpiParams = DEFAULTS) -> bool:
    return bool(
        case.services & params.aid_services
        or case.flags & params.aid_flags
        or case.legal_aid_hint
        or params.aid_referral in case.referrals
    )


def is_need(case: CallCase, params: KpiParams = DEFAULTS) -> bool:
    """The caller asked for a person or left word; a call whose only request was short abandons is not a need."""
    asked = case.visits > 0 or case.voicemail or case.callback is not None
    if not asked:
        return False
    short_only = (
        params.exclude_short_abandons
        and not case.connected
        and not case.voicemail
        and case.callback is None
        and len(case.abandon_waits) == case.visits
        and all(wait < params.short_abandon_s for wait in case.abandon_waits)
    )
    return not short_only


def is_responded(case: CallCase, params: KpiParams = DEFAULTS) -> bool:
    return (
        case.connected
        or case.callback is CallbackStatus.CONNECTED
        or bool(case.ticket_statuses & params.response_statuses)
    )


def response_rate(
    cases: Iterable[CallCase], params: KpiParams = DEFAULTS, *, registered_poor_only: bool = False
) -> KpiValue:
    """回应率 v1 = responded needs / needs; the programme's target is for registered poor callers."""
    needs = [c for c in cases if is_need(c, params) and (not registered_poor_only or is_registered_poor(c, params))]
    value = _ratio(RESPONSE_RATE, (is_responded(c, params) for c in needs), params)
    if registered_poor_only:
        return replace(value, formula=value.formula + "; calls of registered-poor callers only")
    return value


def legal_aid_rate(cases: Iterable[CallCase], params: KpiParams = DEFAULTS) -> KpiValue:
    """受援率 v1 = eligible registered-poor callers referred to legal aid / eligible registered-poor callers.

    Per caller: a caller's calls are taken together (registered poor if any call says so, and so on); a withheld
    number cannot be in the registry, so each such call stands alone."""
    callers: dict[str, list[CallCase]] = {}
    for case in cases:
        callers.setdefault(case.caller_key or f"call:{case.call_id}", []).append(case)
    eligible = [
        calls
        for calls in callers.values()
        if any(is_registered_poor(c, params) for c in calls) and any(needs_legal_aid(c, params) for c in calls)
    ]
    return _ratio(
        LEGAL_AID_RATE, (any(params.aid_referral in c.referrals for c in calls) for calls in eligible), params
    )

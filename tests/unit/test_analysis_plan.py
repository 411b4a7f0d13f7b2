"""What the tagger may change on a work order: only empty fields, never what an agent or the flow set."""

from __future__ import annotations

import datetime as dt

from db.suggestions import Suggestion
from hotline.analysis.plan import Proposal, TicketFields, plan_ticket

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


def fields(
    legal_area: str | None = None, service: str | None = None, flags: tuple[str, ...] = (), priority: str = "normal"
) -> TicketFields:
    return TicketFields(legal_area, service, flags, priority)


def suggestion(id: int, field: str, value: str, status: str = "suggested") -> Suggestion:
    decided = status != "suggested"
    return Suggestion(
        id, 1, field, value, "tagger", 3.0, None, status, value if status == "confirmed" else None,
        7 if decided else None, NOW if decided else None, NOW,
    )  # fmt: skip


LABOUR = [Proposal("legal_area", "劳动争议", 6.0), Proposal("service", "法律援助", 3.0), Proposal("flag", "农民工欠薪")]


def test_empty_work_order_gets_every_proposal_as_a_suggestion() -> None:
    plan = plan_ticket(fields(), [], LABOUR)
    assert plan.fields == {"legal_area": "劳动争议", "service": "法律援助"}
    assert plan.add_flags == ("农民工欠薪",) and plan.add == tuple(LABOUR) and plan.priority is None


def test_values_set_by_the_agent_or_the_flow_are_kept() -> None:
    plan = plan_ticket(fields("婚姻家庭", "人民调解", ("农民工欠薪",)), [], LABOUR)
    assert plan.empty


def test_same_proposals_again_change_nothing() -> None:
    existing = [suggestion(1, "legal_area", "劳动争议"), suggestion(2, "service", "法律援助"),
                suggestion(3, "flag", "农民工欠薪")]  # fmt: skip
    assert plan_ticket(fields("劳动争议", "法律援助", ("农民工欠薪",)), existing, LABOUR).empty


def test_an_untouched_earlier_suggestion_follows_a_new_analysis() -> None:
    existing = [suggestion(1, "legal_area", "合同纠纷"), suggestion(3, "flag", "群体性纠纷")]
    plan = plan_ticket(fields("合同纠纷", None, ("群体性纠纷",)), existing, LABOUR)
    assert plan.fields == {"legal_area": "劳动争议", "service": "法律援助"}
    assert plan.withdraw == (1, 3) and plan.remove_flags == ("群体性纠纷",) and plan.add_flags == ("农民工欠薪",)


def test_a_suggestion_the_agent_changed_without_deciding_is_left_alone() -> None:
    existing = [suggestion(1, "legal_area", "合同纠纷")]
    plan = plan_ticket(fields("交通事故"), existing, LABOUR[:1])
    assert plan.empty


def test_decided_values_are_never_suggested_again() -> None:
    existing = [suggestion(1, "legal_area", "劳动争议", "rejected"), suggestion(2, "flag", "农民工欠薪", "rejected")]
    plan = plan_ticket(fields(), existing, LABOUR)
    assert plan.fields == {"service": "法律援助"} and plan.add_flags == () and plan.withdraw == ()


def test_personal_safety_risk_makes_the_work_order_urgent_even_if_the_flow_set_the_flag() -> None:
    risk = [Proposal("flag", "人身安全风险")]
    assert plan_ticket(fields(), [], risk).priority == "urgent"
    plan = plan_ticket(fields(flags=("人身安全风险",)), [], risk)
    assert plan.priority == "urgent" and plan.add_flags == ()
    assert plan_ticket(fields(priority="urgent"), [], risk).priority is None

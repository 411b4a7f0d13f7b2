"""The agent page's inputs, validated on the server with a message per field, in Chinese (the agent reads them)."""

from __future__ import annotations

from typing import Any

from agents.api import ApiError
from agents.desk.services import DISPOSITIONS
from db.console import Draft
from db.tickets import REFERRALS
from hotline.tag.taxonomy import FLAGS, LEGAL_AREAS, SERVICES

MAX_TEXT = 4000


class Invalid(ApiError):
    """422 with ``{"error": ..., "fields": {name: message}}``: nothing was saved."""

    status = 422

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("工单有误，未保存：" + "；".join(fields.values()))
        self.fields = fields


def _choice(body: dict[str, Any], name: str, label: str, allowed: tuple[str, ...], errors: dict[str, str]) -> Any:
    value = body.get(name) or None
    if value is not None and value not in allowed:
        errors[name] = f"{label}“{value}”不在可选范围内"
    return value


def _text(body: dict[str, Any], name: str, label: str, errors: dict[str, str]) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        errors[name] = f"{label}应为文字"
        return ""
    if len(value) > MAX_TEXT:
        errors[name] = f"{label}不能超过 {MAX_TEXT} 字（现 {len(value)} 字）"
    return value


def draft(body: Any) -> Draft:
    """The form as the agent has it now (Invalid naming each wrong field)."""
    if not isinstance(body, dict):
        raise Invalid({"form": "表单数据格式错误"})
    errors: dict[str, str] = {}
    flags = body.get("flags", [])
    if not isinstance(flags, list) or any(f not in FLAGS for f in flags):
        errors["flags"] = "标记只能从列表中选择"
        flags = []
    result = Draft(
        legal_area=_choice(body, "legal_area", "法律领域", LEGAL_AREAS, errors),
        service=_choice(body, "service", "服务类型", SERVICES, errors),
        flags=sorted(set(flags), key=FLAGS.index),
        facts=_text(body, "facts", "事实摘要", errors),
        answer=_text(body, "answer", "答复内容", errors),
        disposition=_choice(body, "disposition", "处理结果", DISPOSITIONS, errors),
        referral=_choice(body, "referral", "转介去向", REFERRALS, errors),
    )
    if errors:
        raise Invalid(errors)
    return result


def complete(form: Draft) -> Draft:
    """A work order that may be completed: what the province's form requires (Invalid otherwise)."""
    errors: dict[str, str] = {}
    if form.legal_area is None:
        errors["legal_area"] = "请选择法律领域"
    if form.service is None:
        errors["service"] = "请选择服务类型"
    if not form.facts.strip():
        errors["facts"] = "请填写事实摘要"
    if not form.answer.strip():
        errors["answer"] = "请填写答复内容"
    if form.disposition is None:
        errors["disposition"] = "请选择处理结果"
    if form.disposition == "已转介" and form.referral is None:
        errors["referral"] = "已转介的工单须选择转介去向"
    if errors:
        raise Invalid(errors)
    return form

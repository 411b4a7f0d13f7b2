"""The agent page's inputs, validated on the server with a message per field, in Chinese (the agent reads them)."""

from __future__ import annotations

import datetime as dt
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

    def __init__(self, fields: dict[str, str], what: str = "工单") -> None:
        super().__init__(f"{what}有误，未保存：" + "；".join(fields.values()))
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


CALLBACK_HORIZON = dt.timedelta(days=30)  # further ahead, a callback is a new appointment, not a callback
MAX_REASON = 200


def callback(body: Any, now: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, str]:
    """When to call the caller back (local time ``YYYY-MM-DDTHH:MM``, from now to 30 days ahead) and why."""
    if not isinstance(body, dict):
        raise Invalid({"form": "回拨数据格式错误"}, "预约回拨")
    errors: dict[str, str] = {}
    at: dt.datetime | None = None
    raw = body.get("at")
    if not isinstance(raw, str) or not raw.strip():
        errors["at"] = "请填写回拨时间"
    else:
        try:
            at = dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            errors["at"] = f"回拨时间“{raw}”格式应为 YYYY-MM-DDTHH:MM"
        else:
            at = at.replace(tzinfo=tz) if at.tzinfo is None else at
            if at < now - dt.timedelta(minutes=1):
                errors["at"] = "回拨时间已过"
            elif at > now + CALLBACK_HORIZON:
                errors["at"] = "回拨时间不能晚于 30 天后"
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = "请填写回拨原因"
    elif len(reason.strip()) > MAX_REASON:
        errors["reason"] = f"回拨原因不能超过 {MAX_REASON} 字"
    if errors or at is None or not isinstance(reason, str):
        raise Invalid(errors, "预约回拨")
    return max(at, now), reason.strip()


def transfer_target(body: Any) -> tuple[str, str]:
    """``{"queue": name}`` or ``{"agent": username}``: where the caller goes."""
    if isinstance(body, dict) and len(body) == 1:
        ((kind, name),) = body.items()
        if kind in ("queue", "agent") and isinstance(name, str) and name.strip():
            return kind, name.strip()
    raise Invalid({"target": "请选择转接到的队列或坐席（二选一）"}, "转接")

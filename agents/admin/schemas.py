"""The admin page's inputs, validated on the server with a message per field, in Chinese (the admin reads them).
Nothing is saved when any field is wrong (:class:`Invalid`, 422)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.desk.schemas import Invalid
from db.agents import PASSWORD_MIN, ROLES
from db.skills import KINDS, LEVELS
from hotline.acd.strategies import Strategy
from hotline.acd.waiting import JoinWhenEmpty

ROLE_NAMES = {
    "lawyer": "律师",
    "legal_aid": "法律援助工作者",
    "mediator": "调解员",
    "notary_adviser": "公证咨询员",
    "appraisal_adviser": "司法鉴定咨询员",
    "operator": "话务员",
    "supervisor": "值班长",
    "admin": "管理员",
}
assert set(ROLE_NAMES) == set(ROLES), "every role of db.agents.ROLES has a Chinese name"
KIND_NAMES = {"legal_area": "法律领域", "service": "服务类型", "language": "语言", "prefecture": "州市"}
assert set(KIND_NAMES) == set(KINDS), "every skill kind of db.skills.KINDS has a Chinese name"

# 3 to 32 of a-z 0-9 _ . -, starting with a letter or digit (agents.username CHECK, 0001)
USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,31}")
DISPLAY_MAX = 40
SKILL_NAME_MAX = 40
AGENT = "坐席信息"


@dataclass(frozen=True)
class NewAgent:
    username: str
    display_name: str
    role: str
    password: str


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid({"form": "表单数据格式错误：应为 JSON 对象"}, what)
    return body


def _username(value: Any, errors: dict[str, str]) -> str:
    if not isinstance(value, str) or not value:
        errors["username"] = "请填写用户名"
        return ""
    if not USERNAME.fullmatch(value):
        errors["username"] = "用户名须为 3 至 32 个小写字母、数字或 _ . -，并以字母或数字开头"
    return value


def _role(value: Any, errors: dict[str, str]) -> str:
    if value not in ROLES:
        errors["role"] = "请从列表中选择角色：" + "、".join(ROLE_NAMES.values())
        return ""
    return str(value)


def _password(value: Any, username: str, errors: dict[str, str]) -> str:
    """Never echoes the password in a message."""
    if not isinstance(value, str) or not value:
        errors["password"] = "请填写密码"
        return ""
    if len(value) < PASSWORD_MIN:
        errors["password"] = f"密码至少 {PASSWORD_MIN} 个字符"
    elif value == username:
        errors["password"] = "密码不能与用户名相同"
    return value


def new_agent(body: Any) -> NewAgent:
    body = _object(body, AGENT)
    errors: dict[str, str] = {}
    username = _username(body.get("username"), errors)
    display = body.get("display_name")
    display_name = display.strip() if isinstance(display, str) else ""
    if not display_name:
        errors["display_name"] = "请填写姓名"
    elif len(display_name) > DISPLAY_MAX:
        errors["display_name"] = f"姓名不能超过 {DISPLAY_MAX} 个字（现 {len(display_name)} 个）"
    role = _role(body.get("role"), errors)
    password = _password(body.get("password"), username, errors)
    if errors:
        raise Invalid(errors, AGENT)
    return NewAgent(username, display_name, role, password)


def password(body: Any, username: str) -> str:
    errors: dict[str, str] = {}
    value = _password(_object(body, "密码").get("password"), username, errors)
    if errors:
        raise Invalid(errors, "密码")
    return value


def role(body: Any) -> str:
    errors: dict[str, str] = {}
    value = _role(_object(body, "角色").get("role"), errors)
    if errors:
        raise Invalid(errors, "角色")
    return value


def active(body: Any) -> bool:
    value = _object(body, "账号状态").get("active")
    if not isinstance(value, bool):
        raise Invalid({"active": "“active”应为 true（启用）或 false（停用）"}, "账号状态")
    return value


def skill_levels(body: Any) -> dict[str, int]:
    """{"kind:name": level}; whether each skill exists is the database's to say."""
    levels = _object(body, "技能").get("skills")
    if not isinstance(levels, dict):
        raise Invalid({"skills": '“skills”应为对象，如 {"language:彝语": 3}'}, "技能")
    errors: dict[str, str] = {}
    for key, level in levels.items():
        if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
            errors[key] = f"技能“{key}”的等级须为 {LEVELS.start} 至 {LEVELS.stop - 1} 的整数"
    if errors:
        raise Invalid(errors, "技能")
    return dict(levels)


def new_skill(body: Any) -> tuple[str, str]:
    body = _object(body, "技能")
    errors: dict[str, str] = {}
    kind = body.get("kind")
    if kind not in KINDS:
        errors["kind"] = "请从列表中选择技能类别：" + "、".join(KIND_NAMES.values())
    raw = body.get("name")
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        errors["name"] = "请填写技能名称"
    elif len(name) > SKILL_NAME_MAX or ":" in name:
        errors["name"] = f"技能名称须为 1 至 {SKILL_NAME_MAX} 个字，且不含冒号"
    if errors:
        raise Invalid(errors, "技能")
    return str(kind), name


# ---- queue settings (db.queue_settings)

STRATEGY_NAMES = {
    "longest_idle": "最长空闲优先",
    "round_robin": "轮流分配",
    "fewest_calls": "今日接听最少优先",
    "least_talk_time": "今日通话最短优先",
    "ring_all": "全部振铃（逐一振铃最长空闲者）",
    "skills_weighted": "技能匹配优先",
}
assert set(STRATEGY_NAMES) == {s.value for s in Strategy}, "every ACD strategy has a Chinese name"
JOIN_NAMES = {
    "paused_ok": "有坐席签入即可排队（含示忙）",
    "no": "须有未示忙的坐席才可排队",
    "yes": "无人签入也可排队",
}
assert set(JOIN_NAMES) == {j.value for j in JoinWhenEmpty}, "every join_when_empty policy has a Chinese name"
QUEUE = "队列设置"
QUEUE_NAME_MAX = 40
MAX_PENALTY_STEPS = 20  # queue_penalty_steps_valid (0007)
DAY_S = 86400


@dataclass(frozen=True)
class Whole:
    """A whole-number setting: its label, its range and whether it may be unset (None)."""

    label: str
    low: int
    high: int
    unset: str | None = None  # what unset means; None: it may not be unset


WHOLE = {
    "service_level_seconds": Whole("服务水平目标（秒）", 1, 3600),
    "wrapup_seconds": Whole("话后整理时长（秒）", 0, 3600),
    "ring_timeout_seconds": Whole("振铃超时（秒）", 1, 300),
    "max_wait_seconds": Whole("最长等待（秒）", 1, DAY_S, "留空则用流程设定，否则 600 秒"),
    "max_length": Whole("最多排队人数", 1, 10000, "留空则不限"),
    "skills_relax_after_seconds": Whole("技能要求放宽（秒）", 0, DAY_S, "留空则技能要求始终有效"),
}
AGING_MAX = 60  # queues_priority_aging_range (0007)
PENALTY_EXAMPLE = "0:0, 30:100"


def _whole(value: Any) -> int | None:
    """A whole number, also as the text of a form field; None when it is not one."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,9}\s*", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _whole_setting(name: str, value: Any, errors: dict[str, str]) -> int | None:
    spec = WHOLE[name]
    if spec.unset is not None and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    number = _whole(value)
    if number is None or not spec.low <= number <= spec.high:
        unset = f"；{spec.unset}" if spec.unset else ""
        errors[name] = f"{spec.label}须为 {spec.low} 至 {spec.high} 的整数{unset}"
    return number


def _penalty_steps(value: Any, errors: dict[str, str]) -> list[dict[str, int]]:
    """[{"after_seconds", "max_penalty"}, ...], or the form's text "秒:惩罚值, ..." (e.g. "0:0, 30:100")."""
    if isinstance(value, str):
        pairs = [p.split(":") for p in re.split(r"[,，\s]+", value.strip()) if p]
        value = [
            {"after_seconds": _whole(p[0]), "max_penalty": _whole(p[1])} if len(p) == 2 else {"after_seconds": None}
            for p in pairs
        ]
    rule = (
        f"惩罚值放宽规则须为 1 至 {MAX_PENALTY_STEPS} 步“等待秒数:最大惩罚值”，如 {PENALTY_EXAMPLE}："
        f"秒数为 0 至 {DAY_S} 且逐步增大，惩罚值为 0 至 100 且不减小"
    )
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PENALTY_STEPS:
        errors["penalty_steps"] = rule
        return []
    steps: list[dict[str, int]] = []
    for step in value:
        after = _whole(step.get("after_seconds")) if isinstance(step, dict) else None
        penalty = _whole(step.get("max_penalty")) if isinstance(step, dict) else None
        if (
            not isinstance(step, dict)
            or set(step) != {"after_seconds", "max_penalty"}
            or after is None
            or penalty is None
            or not 0 <= after <= DAY_S
            or not 0 <= penalty <= 100
            or (steps and (after <= steps[-1]["after_seconds"] or penalty < steps[-1]["max_penalty"]))
        ):
            errors["penalty_steps"] = rule
            return []
        steps.append({"after_seconds": after, "max_penalty": penalty})
    return steps


def _aging(value: Any, errors: dict[str, str]) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= AGING_MAX:
        errors["priority_aging_per_minute"] = f"每分钟优先级增长须为 0 至 {AGING_MAX} 的数（可带小数）"
        return 0.0
    return float(value)


def _queue_setting(name: str, value: Any, errors: dict[str, str]) -> Any:
    if name in WHOLE:
        return _whole_setting(name, value, errors)
    if name == "display_name":
        text = value.strip() if isinstance(value, str) else ""
        if not 0 < len(text) <= QUEUE_NAME_MAX:
            errors[name] = f"显示名称须为 1 至 {QUEUE_NAME_MAX} 个字"
        return text
    if name == "strategy":
        if value not in STRATEGY_NAMES:
            errors[name] = "请从列表中选择分配策略：" + "、".join(STRATEGY_NAMES.values())
        return value
    if name == "join_when_empty":
        if value not in JOIN_NAMES:
            errors[name] = "请从列表中选择排队条件：" + "、".join(JOIN_NAMES.values())
        return value
    if name == "leave_when_empty":
        if not isinstance(value, bool):
            errors[name] = "“无人签入时离开队列”应为 true 或 false"
        return value
    if name == "priority_aging_per_minute":
        return _aging(value, errors)
    return _penalty_steps(value, errors)


def queue_changes(body: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The settings a body changes (any of `fields`, db.queue_settings.FIELDS), each checked; Invalid naming
    every wrong or unknown field."""
    body = _object(body, QUEUE)
    errors: dict[str, str] = {}
    if not body:
        errors["form"] = "没有要修改的设置"
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in fields:
            changes[name] = _queue_setting(name, value, errors)
        else:
            errors[name] = f"没有名为“{name}”的队列设置"
    if errors:
        raise Invalid(errors, QUEUE)
    return changes

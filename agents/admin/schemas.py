"""The admin page's inputs, validated on the server with a message per field, in Chinese (the admin reads them).
Nothing is saved when any field is wrong (:class:`Invalid`, 422)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agents.desk.schemas import Invalid
from db.agents import PASSWORD_MIN, ROLES
from db.skills import KINDS, LEVELS

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

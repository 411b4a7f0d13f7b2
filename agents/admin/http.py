"""Admins' pages, mounted at ``/admin``: the agents' accounts and skills, queue membership (who answers which
queue, with penalty and tier) and the pause reasons. Every change is audited in the change's transaction
(db.membership, agents.admin.services); wrong fields answer 422 ``{"error", "fields"}`` with nothing saved.

    GET  /admin/                                queues, their members, the agents, skills, the pause reasons
    POST /admin/agents                          {"username", "display_name", "role", "password"}: a new agent
                                                (409 if the username is taken: never overwritten)
    POST /admin/agents/{username}/active        {"active": false}: disable (logged out, sessions ended) or enable
    POST /admin/agents/{username}/password      {"password"}: new console password and SIP HA1, sessions ended
    POST /admin/agents/{username}/role          {"role"}: one of db.agents.ROLES
    POST /admin/agents/{username}/skills        {"skills": {"language:彝语": 3}}: replace the agent's skills
    POST /admin/skills                          {"kind", "name"}: define a skill
    POST /admin/members                         {"queue", "username", "penalty", "tier"}: add or change a member
    POST /admin/members/remove                  {"queue", "username"}
    POST /admin/pause-reasons                   {"reasons": ["小休", ...]}
    GET  /admin/queues                          every queue's settings (strategy, times, waiting policies, rules)
    POST /admin/queues/{name}                   {"wrapup_seconds": 45, ...}: change any of db.queue_settings.FIELDS
                                                (audited with before and after; in force from the ACD's next
                                                decision, no restart: see db.queue_settings)
    POST /admin/registry                        multipart/form-data: ``file`` (CSV) and ``kind`` (a registry of
                                                hotline.caller.households.KINDS); all rows imported or none, as
                                                ``hotline registry import``; at most console.registry_max_kb

An admin may not disable or demote themselves (409), so the console always keeps an admin.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import BodyPartReader, web

from agents import session as sessions
from agents.admin import schemas, services
from agents.api import ApiError, BadRequest, NotFound, decode, json_response
from agents.auth import current_agent, requires
from agents.desk.schemas import Invalid
from agents.keys import HUB, POOL, SETTINGS
from db import audit, console, membership, queue_settings
from db.agents import AgentNotFound
from hotline.caller.households import KINDS as REGISTRY_KINDS
from hotline.caller.privacy import load_keys
from hotline.errors import HotlineError

MEMBER_EXAMPLE = '{"queue": "legal_aid", "username": "lawyer01", "penalty": 0, "tier": 1}'


async def _overview(conn: Any) -> dict[str, Any]:
    queues = await membership.list_queues(conn)
    settings = await services.queues(conn)
    return {
        "queues": [
            {
                "name": q.name,
                "display_name": q.display_name,
                "strategy": q.strategy,
                "members": [m.__dict__ for m in await membership.members(conn, q.name)],
            }
            for q in queues
        ],
        "agents": await console.agent_names(conn),
        "reasons": await console.pause_reasons(conn),
        "registry_kinds": REGISTRY_KINDS,
        **await services.overview(conn),
        "queue_settings": settings["queues"],
        "strategy_names": settings["strategy_names"],
        "join_names": settings["join_names"],
    }


@requires("admin", "administer queues and agents", page=True)
async def page(request: web.Request) -> web.StreamResponse:
    session = await sessions.current(request)
    async with request.config_dict[POOL].acquire() as conn:
        overview = await _overview(conn)
    return aiohttp_jinja2.render_template(
        "admin.html", request, {"agent": current_agent(request), "csrf": session.csrf if session else "", **overview}
    )


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f'"{name}": expected a whole number; got {value!r}')
    return value


def _names(body: Any) -> tuple[str, str]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("queue"), str)
        or not isinstance(body.get("username"), str)
    ):
        raise BadRequest(f"body: expected an object such as {MEMBER_EXAMPLE}")
    return body["queue"], body["username"]


async def _membership_change(request: web.Request, remove: bool) -> web.Response:
    body = decode(await request.read(), MEMBER_EXAMPLE)
    queue, username = _names(body)
    actor = current_agent(request).username
    async with request.config_dict[POOL].acquire() as conn, conn.transaction():
        try:
            if remove:
                if not await membership.remove(conn, queue, username, actor=actor):
                    raise NotFound(f"{username} is not a member of queue {queue}")
            else:
                await membership.add(
                    conn, queue, username, penalty=_int(body, "penalty", 0), tier=_int(body, "tier", 1), actor=actor
                )
        except (membership.QueueNotFound, AgentNotFound) as exc:
            raise NotFound(str(exc)) from None
        except HotlineError as exc:  # a penalty or tier out of range
            raise BadRequest(str(exc)) from None
        return json_response({"queue": queue, "members": [m.__dict__ for m in await membership.members(conn, queue)]})


@requires("admin", "change queue membership")
async def add_member(request: web.Request) -> web.Response:
    return await _membership_change(request, remove=False)


@requires("admin", "change queue membership")
async def remove_member(request: web.Request) -> web.Response:
    return await _membership_change(request, remove=True)


@requires("admin", "change the pause reasons")
async def pause_reasons(request: web.Request) -> web.Response:
    body = decode(await request.read(), '{"reasons": ["小休", "午休"]}')
    reasons = body.get("reasons") if isinstance(body, dict) else None
    if (
        not isinstance(reasons, list)
        or not reasons
        or not all(isinstance(r, str) and 0 < len(r.strip()) <= 20 for r in reasons)
    ):
        raise BadRequest('"reasons": expected a non-empty list of names of 1 to 20 characters')
    names = list(dict.fromkeys(r.strip() for r in reasons))
    async with request.config_dict[POOL].acquire() as conn, conn.transaction():
        await console.set_pause_reasons(conn, names)
        await audit.record(conn, current_agent(request).username, "update", "pause_reasons", None, reasons=names)
    return json_response({"reasons": names})


# ---- agents and skills


async def _body(request: web.Request, example: str) -> Any:
    return decode(await request.read(), example)


async def _close_tabs(request: web.Request, agent_id: int) -> None:
    """The agent's open console tabs learn at once that their sessions are over."""
    hub = request.config_dict.get(HUB)
    if hub is not None:
        await hub.close_sessions(agent_id)


@requires("admin", "create agents")
async def create_agent(request: web.Request) -> web.Response:
    new = schemas.new_agent(await _body(request, '{"username": "lawyer07", "display_name": "赵律师", ...}'))
    async with request.config_dict[POOL].acquire() as conn:
        agent = await services.create(conn, new, actor=current_agent(request).username)
    return json_response({"agent": services.view(agent, {})}, status=201)


@requires("admin", "disable or enable agents")
async def set_active(request: web.Request) -> web.Response:
    active = schemas.active(await _body(request, '{"active": false}'))
    async with request.config_dict[POOL].acquire() as conn:
        agent, ended = await services.set_active(
            conn, request.match_info["username"], active, actor=current_agent(request).username
        )
    if not active:
        await _close_tabs(request, agent.id)
    return json_response({"agent": services.view(agent, {}), "sessions_ended": ended})


@requires("admin", "reset agents' passwords")
async def reset_password(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    password = schemas.password(await _body(request, '{"password": "..."}'), username)
    async with request.config_dict[POOL].acquire() as conn:
        agent, ended = await services.reset_password(conn, username, password, actor=current_agent(request).username)
    await _close_tabs(request, agent.id)
    return json_response({"username": username, "sessions_ended": ended})


@requires("admin", "change agents' roles")
async def change_role(request: web.Request) -> web.Response:
    role = schemas.role(await _body(request, '{"role": "mediator"}'))
    async with request.config_dict[POOL].acquire() as conn:
        agent = await services.change_role(
            conn, request.match_info["username"], role, actor=current_agent(request).username
        )
    return json_response({"agent": services.view(agent, {})})


@requires("admin", "change agents' skills")
async def replace_skills(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    levels = schemas.skill_levels(await _body(request, '{"skills": {"language:彝语": 3}}'))
    async with request.config_dict[POOL].acquire() as conn:
        now = await services.replace_skills(conn, username, levels, actor=current_agent(request).username)
    return json_response({"username": username, "skills": now})


@requires("admin", "define skills")
async def add_skill(request: web.Request) -> web.Response:
    kind, name = schemas.new_skill(await _body(request, '{"kind": "language", "name": "彝语"}'))
    async with request.config_dict[POOL].acquire() as conn:
        skill = await services.add_skill(conn, kind, name, actor=current_agent(request).username)
    return json_response({"skill": skill.key}, status=201)


# ---- queue settings


@requires("admin", "read the queues' settings")
async def list_queues(request: web.Request) -> web.Response:
    async with request.config_dict[POOL].acquire() as conn:
        return json_response(await services.queues(conn))


@requires("admin", "change the queues' settings")
async def change_queue(request: web.Request) -> web.Response:
    changes = schemas.queue_changes(await _body(request, '{"wrapup_seconds": 45}'), queue_settings.FIELDS)
    name = request.match_info["name"]
    async with request.config_dict[POOL].acquire() as conn:
        try:
            before, after = await queue_settings.update(conn, name, changes, actor=current_agent(request).username)
        except membership.QueueNotFound as exc:
            raise NotFound(str(exc)) from None
    return json_response({"queue": services.queue_view(after), "changed": queue_settings.changed(before, after)})


# ---- registry import


class TooLarge(ApiError):
    status = 413


REGISTRY = "名单导入"
FIELD_MAX = 1024  # bytes of a form field other than the file (kind, csrf)
FORM_OVERHEAD = 16 * 1024  # the multipart framing and the small fields around the file


async def _bounded(part: BodyPartReader, limit: int, what: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk():
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"{what}过大：不能超过 {limit // 1024 or 1} KB，未导入任何号码")
    return bytes(data)


async def _registry_form(request: web.Request, limit: int) -> tuple[str | None, bytes, Any]:
    """The upload's file name, content and kind. The file is streamed and counted against `limit` (its own
    limit: console.max_body_kb is for JSON bodies), unless the CSRF token came as a form field: then the
    authentication middleware has already read the whole form, within console.max_body_kb."""
    if request.content_type != "multipart/form-data":
        raise Invalid({"file": "请以 multipart/form-data 表单上传名单文件"}, REGISTRY)
    if request.headers.get(sessions.CSRF_HEADER) is None:
        form = await request.post()  # cached by the middleware
        upload, kind = form.get("file"), form.get("kind")
        if isinstance(upload, web.FileField):
            return upload.filename, upload.file.read(), kind
        return None, b"", kind
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise TooLarge(f"名单文件过大：不能超过 {limit // 1024} KB，未导入任何号码")
    filename: str | None = None
    raw, kind = b"", None
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            raise Invalid({"file": "表单格式错误：不应有嵌套的 multipart"}, REGISTRY)
        if part.name == "file":
            filename, raw = part.filename, await _bounded(part, limit, "名单文件")
        else:
            value = (await _bounded(part, FIELD_MAX, f"表单字段“{part.name}”")).decode("utf-8", "replace")
            if part.name == "kind":
                kind = value
    return filename, raw, kind


@requires("admin", "import the vulnerable-household registry")
async def import_registry(request: web.Request) -> web.Response:
    settings = request.config_dict[SETTINGS]
    filename, raw, kind = await _registry_form(request, settings.console.registry_max_kb * 1024)
    errors: dict[str, str] = {}
    if kind not in REGISTRY_KINDS:
        errors["kind"] = "请从列表中选择名单类别：" + "、".join(REGISTRY_KINDS)
    if filename is None:
        errors["file"] = "请选择要导入的名单文件（CSV，每行一个号码或带“电话”等表头）"
    if errors:
        raise Invalid(errors, REGISTRY)
    async with request.config_dict[POOL].acquire() as conn:
        status, answer = await services.import_registry(
            conn,
            str(kind),
            services.upload_name(filename),
            raw,
            load_keys(settings),
            actor=current_agent(request).username,
        )
    return json_response(answer, status=status)


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(
        [
            web.get("/", page),
            web.post("/agents", create_agent),
            web.post("/agents/{username}/active", set_active),
            web.post("/agents/{username}/password", reset_password),
            web.post("/agents/{username}/role", change_role),
            web.post("/agents/{username}/skills", replace_skills),
            web.post("/skills", add_skill),
            web.post("/members", add_member),
            web.post("/members/remove", remove_member),
            web.post("/pause-reasons", pause_reasons),
            web.get("/queues", list_queues),
            web.post("/queues/{name}", change_queue),
            web.post("/registry", import_registry),
        ]
    )
    return app

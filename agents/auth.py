"""Who may call a route, checked by one middleware: a console session (cookie) or HTTP Basic.

Two ways in, for two kinds of client:

- **Browsers** log in at ``/account/login`` and get a server-side session (``agents.session``): an HttpOnly,
  SameSite=Strict cookie. Every state-changing request of a session carries its CSRF token (header
  ``X-CSRF-Token`` or form field ``csrf``); without it the request is refused (403).
- **Scripts** (``hotline agent login|pause|...``, a case system pulling referrals) send HTTP Basic with the
  agent's console password (argon2id) on every request: no session to steal or expire, nothing stored on the
  client. A state-changing Basic request must send ``Content-Type: application/json``: a browser cannot send
  that across origins without a CORS preflight, which this server never grants, so a cached Basic credential
  cannot be ridden by another site (CSRF).

Every handler declares its audience: ``@requires("agent")`` (any active agent), ``@requires("supervisor")``
(supervisors and admins), ``@requires("admin")``, or ``@public``; ``page=True`` marks a browser page, which
sends an unauthenticated visitor to the login page instead of answering 401. The ``authentication`` middleware
reads the declaration of the matched route before the handler runs: it answers 400/401 on missing or wrong
credentials and 403 to an agent without the role, else puts the agent in ``request[AGENT]``. A route that
declares nothing is refused (and ``tests/integration/test_web_auth.py`` fails the build on it).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from aiohttp import web

from agents import session as sessions
from agents.api import BadRequest, Forbidden, Handler, Unauthorized
from agents.keys import POOL
from db import agents

log = logging.getLogger(__name__)

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
SUPERVISORS = ("supervisor", "admin")
# the agent roles (db.agents.ROLES) each web role admits; None: every active agent
_ADMITTED: dict[Role, tuple[str, ...] | None] = {"agent": None, "supervisor": SUPERVISORS, "admin": ("admin",)}
AGENT = web.RequestKey("agent", agents.Agent)
CHALLENGE = {"WWW-Authenticate": 'Basic realm="12348", charset="UTF-8"'}
ANY_USE = "use this resource"
_ACCESS = "__agents_access__"

H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Access:
    """A route's audience: ``role`` None is public; ``action`` completes the 403 "agent x may not ..."."""

    role: Role | None
    action: str = ANY_USE
    page: bool = False  # a browser page: the unauthenticated are sent to the login page, errors shown as HTML


def requires(role: Role, action: str = ANY_USE, *, page: bool = False) -> Callable[[H], H]:
    """Mark a handler as open to agents holding ``role``."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")

    def mark(handler: H) -> H:
        setattr(handler, _ACCESS, Access(role, action, page))
        return handler

    return mark


def public(handler: H) -> H:
    """Mark a handler as open without credentials."""
    setattr(handler, _ACCESS, Access(None))
    return handler


def public_page(handler: H) -> H:
    """Mark a browser page as open without credentials (the login page)."""
    setattr(handler, _ACCESS, Access(None, page=True))
    return handler


def access_of(handler: object) -> Access | None:
    """What a handler declared, None if nothing."""
    access = getattr(handler, _ACCESS, None)
    return access if isinstance(access, Access) else None


def holds(agent: agents.Agent, role: Role) -> bool:
    admitted = _ADMITTED[role]
    return admitted is None or agent.role in admitted


def refusal(agent: agents.Agent, action: str) -> str:
    return f"agent {agent.username} ({agent.role}) may not {action}"


def current_agent(request: web.Request) -> agents.Agent:
    """The authenticated agent of a request to a route that requires a role."""
    return request[AGENT]


def _credentials(request: web.Request) -> tuple[str, str]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not token:
        raise Unauthorized(
            "authentication required: HTTP Basic with the agent's username and console password", CHALLENGE
        )
    try:
        username, _, password = base64.b64decode(token).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest("Authorization: expected Basic base64(username:password)") from None
    return username, password


async def authenticate(request: web.Request) -> agents.Agent:
    """The active agent named by the request's HTTP Basic credentials (BadRequest or Unauthorized if none)."""
    username, password = _credentials(request)
    pool: Any = request.config_dict[POOL]
    async with pool.acquire() as conn:
        agent = await agents.verify_password(conn, username, password)
    if agent is None:
        raise Unauthorized("wrong username or password", CHALLENGE)
    return agent


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _agent_of(request: web.Request, access: Access) -> agents.Agent:
    """The agent behind the request: its console session, else its Basic credentials (checked for CSRF)."""
    session = await sessions.current(request)
    unsafe = request.method not in SAFE_METHODS
    if session is not None:
        if unsafe:
            sessions.check_csrf(request, session, await _form_token(request))
        return session.agent
    if "Authorization" not in request.headers and access.page:
        raise web.HTTPSeeOther(sessions.login_url(request))
    agent = await authenticate(request)
    if unsafe and request.content_type != "application/json":
        raise Forbidden(f"{request.method} with HTTP Basic: expected Content-Type application/json")
    return agent


async def _form_token(request: web.Request) -> str | None:
    if request.headers.get(sessions.CSRF_HEADER) or request.content_type not in sessions.FORM_TYPES:
        return None
    form = await request.post()
    token = form.get("csrf")
    return token if isinstance(token, str) else None


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # no route (404, 405): nothing to decide
        return await handler(request)
    if isinstance(match.route.resource, web.StaticResource):  # the console's CSS and scripts: nothing secret
        return await handler(request)
    access = access_of(match.handler)
    if access is None:
        log.error("route %s %s declares no access (requires(role) or public): refused", request.method, request.path)
        raise Forbidden(f"{request.method} {request.path} is closed: its handler declares no role")
    if access.role is not None:
        agent = await _agent_of(request, access)
        if not holds(agent, access.role):
            raise Forbidden(refusal(agent, access.action))
        request[AGENT] = agent
    return await handler(request)

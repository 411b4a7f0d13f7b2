"""The console's websocket, mounted at ``/live``: ``GET /live/ws``, one per browser tab.

The handshake needs a console session (the cookie) and an ``Origin`` of this site (a page elsewhere cannot open
it with the agent's cookie). On connect the tab gets a full snapshot (``desk``; supervisors also ``wallboard``),
which is also the resync after a reconnect. Messages from the tab are ``{"type": "resync"}`` and
``{"type": "ping"}``; each is checked against the session, which must still be alive, and against the role
(``wallboard`` for supervisors only). Closing codes: 4001 logged out or session over, 4003 not allowed.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from agents import session as sessions
from agents.api import Forbidden
from agents.auth import current_agent, holds, requires
from agents.desk.services import snapshot
from agents.keys import HUB, POOL, SETTINGS
from agents.live.hub import Hub, Tab
from agents.supervisor.services import wallboard
from db import sessions as db_sessions

log = logging.getLogger(__name__)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    return parts.netloc == request.host and parts.scheme in ("http", "https")


@requires("agent", "open the live feed")
async def feed(request: web.Request) -> web.StreamResponse:
    session = await sessions.current(request)
    if session is None:
        raise Forbidden("the live feed needs a console session (log in at /account/login)")
    if not _same_origin(request):
        log.warning(
            "websocket of agent %s refused: Origin %r is not this site",
            session.agent.username,
            request.headers.get("Origin"),
        )
        raise Forbidden("websocket: the Origin is not this site")
    hub = request.config_dict[HUB]
    agent = current_agent(request)
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)
    await ws.prepare(request)
    tab = Tab(ws, agent, holds(agent, "supervisor"), session.id)
    hub.add(tab)
    try:
        await _resync(request, hub, tab)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                kind = json.loads(msg.data).get("type")
            except (ValueError, AttributeError):
                kind = None
            if not await _still_alive(request, session.id):
                await ws.close(code=4001, message=b"session over")
                break
            if kind == "resync":
                await _resync(request, hub, tab)
            elif kind == "wallboard" and not tab.supervisor:
                await ws.send_str(json.dumps({"type": "error", "error": "仅值班长可查看实时看板"}, ensure_ascii=False))
            elif kind == "ping":
                await ws.send_str('{"type": "pong"}')
    finally:
        hub.remove(tab)
    return ws


async def _still_alive(request: web.Request, session_id: str) -> bool:
    async with request.config_dict[POOL].acquire() as conn:
        return await db_sessions.live(conn, session_id, *sessions.ages(request)) is not None


async def _resync(request: web.Request, hub: Hub, tab: Tab) -> None:
    settings = request.config_dict[SETTINGS]
    async with request.config_dict[POOL].acquire() as conn:
        await hub.send_now(tab, await snapshot(conn, tab.agent, settings))
        if tab.supervisor:
            await hub.send_now(tab, await wallboard(conn, settings.timezone))


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.get("/ws", feed)])
    return app

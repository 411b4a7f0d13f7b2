"""The Kamailio front as a child of the supervisor: rendered from settings, restarted if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from db.pool import describe
from hotline.config import Settings
from hotline.front.kamailio import CellAddress, FrontParams
from hotline.front.process import KamailioError, KamailioProcess

log = logging.getLogger(__name__)


def front_params(settings: Settings, cells: Sequence[tuple[str, int]]) -> FrontParams:
    url = settings.database.url
    if url is None:
        t = describe(None)
        db_url = f"postgres://{t.user}@{t.host}:{t.port}/{t.database}"
    else:
        db_url = url.get_secret_value()
    sip = settings.sip
    return FrontParams(
        db_url=db_url,
        runtime_dir=Path(settings.state_dir).resolve() / "front",
        cells=tuple(CellAddress(host, port) for host, port in cells),
        sip_host=sip.listen_host,
        sip_port=sip.listen_port,
        service_number=sip.service_number,
        http_port=sip.kamailio_http_port,
        modules_dir=sip.kamailio_modules,
        outbound_gateway=sip.outbound_gateway or None,
        trusted_networks=tuple(sip.trusted_networks),
        pike_window_s=sip.pike_window_s,
        pike_density=sip.pike_density,
        auth_account_failures=sip.auth_account_failures,
        auth_source_failures=sip.auth_source_failures,
        auth_window_s=sip.auth_window_s,
        auth_lock_s=sip.auth_lock_s,
        auth_exempt_networks=tuple(sip.auth_exempt_networks),
    )


class FrontChild:
    """Owns one KamailioProcess; restarts it with backoff when it exits on its own."""

    def __init__(self, settings: Settings, cells: Sequence[tuple[str, int]]) -> None:
        self.process = KamailioProcess(front_params(settings, cells), kamailio_bin=settings.sip.kamailio_bin)
        self.state = "new"
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self.state = "starting"
        await self.process.start()
        self.state = "running"
        self._task = asyncio.create_task(self._watch(), name="front-watch")

    async def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping:
            code = await self.process.wait()
            if self._stopping:
                return
            log.warning("kamailio exited with code %s: restarting", code)
            self.state = "restarting"
            self.restarts += 1
            await self.process.stop()
            await asyncio.sleep(backoff)
            try:
                await self.process.start()
                self.state, backoff = "running", 0.5
            except KamailioError as exc:
                log.error("kamailio did not restart: %s", exc)
                backoff = min(backoff * 2, 15)

    async def stop(self) -> None:
        self._stopping = True
        self.state = "stopping"
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.process.stop()
        self.state = "stopped"

    def health(self) -> dict[str, Any]:
        p = self.process.params
        return {
            "ok": self.state == "running" and self.process.running,
            "state": self.state,
            "pid": self.process.pid,
            "restarts": self.restarts,
            "sip": f"udp:{p.sip_host}:{p.sip_port}",
        }

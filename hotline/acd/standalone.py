"""`hotline dispatch`: the ACD dispatcher alone, on any machine that reaches the database.

`hotline up` runs one too; any number may run at once (one leads, the others stand by and take over when the
leader's session ends). Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from db import migrate
from db.pool import create_pool
from hotline.acd.dispatcher import Dispatcher
from hotline.config import Settings

log = logging.getLogger(__name__)


async def run(settings: Settings, name: str | None = None) -> int:
    pool = await create_pool(settings)
    try:
        async with pool.acquire() as conn:
            await migrate.require_current(conn)
        dispatcher = Dispatcher(pool, name or f"{socket.gethostname()}-{os.getpid()}", timezone=settings.timezone)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("dispatcher %s: running (stands by while another leads)", dispatcher.name)
        try:
            await dispatcher.run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
        log.info("dispatcher %s: stopped after %d offer(s)", dispatcher.name, dispatcher.stats.offers)
    finally:
        await pool.close()
    return 0

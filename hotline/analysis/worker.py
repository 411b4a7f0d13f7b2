"""The post-call analysis worker: woken by NOTIFY 'transcribed', and polling for what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

from prometheus_client import Counter

from db import analysis as analysis_db
from hotline.analysis.service import AnalysisOutcome, CallNotFound, analyse_call
from hotline.config import Settings
from hotline.logs import redact
from hotline.metrics import safe
from hotline.qa import QaRules, load_rules
from hotline.tag import Taxonomy, load_taxonomy, tag

ANALYSED = Counter("hotline_analysis_calls_total", "Calls the post-call analysis finished", ["result"])
log = logging.getLogger(__name__)


async def pending(conn: Any, limit: int = 100) -> list[UUID]:
    """Calls waiting for analysis, oldest call first."""
    return await analysis_db.pending(conn, limit)


class AnalysisWorker:
    """Analyses calls as their transcripts complete. Owned by one event loop; any number may run against one
    database (the per-call lock in ``analyse_call`` makes a second worker harmless, only redundant)."""

    def __init__(
        self,
        pool: Any,
        taxonomy: Taxonomy,
        rules: QaRules,
        *,
        ticket_prefix: str = "YN",
        timezone: str = "Asia/Shanghai",
        poll_interval: float = 30.0,
        batch: int = 100,
    ) -> None:
        self.pool = pool
        self.taxonomy = taxonomy
        self.rules = rules
        self.ticket_prefix = ticket_prefix
        self.timezone = timezone
        self.poll_interval = poll_interval
        self.batch = batch
        self._wake: asyncio.Queue[UUID] = asyncio.Queue()

    @classmethod
    def from_settings(cls, pool: Any, settings: Settings) -> AnalysisWorker:
        """Reads the QA rules (``qa.rules_path``) and the tagger taxonomy (``transcribe.taxonomy``, the one the
        live risk detector uses; None: the packaged one); a bad file raises a HotlineError naming it."""
        return cls(
            pool,
            load_taxonomy(settings.transcribe.taxonomy),
            load_rules(settings.qa.rules_path),
            ticket_prefix=settings.ticket_prefix,
            timezone=settings.timezone,
            poll_interval=settings.qa.poll_interval,
        )

    async def analyse(self, call_id: UUID, *, force: bool = False) -> AnalysisOutcome:
        """Analyse one call. A failure other than a lost database is recorded in ``analysis_state.error`` so
        the call is not retried in a loop (``hotline analyse --call ID`` retries it)."""
        try:
            async with self.pool.acquire() as conn:
                outcome = await analyse_call(
                    conn,
                    call_id,
                    self.taxonomy,
                    self.rules,
                    ticket_prefix=self.ticket_prefix,
                    timezone=self.timezone,
                    force=force,
                )
        except CallNotFound:
            raise
        except Exception as exc:
            message = redact(f"{type(exc).__name__}: {exc}")[:500]
            log.error("analysis of call %s failed: %s", call_id, message)
            log.debug("analysis of call %s failed", call_id, exc_info=True)
            await analysis_db.mark_failed(self.pool, call_id, message)
            safe("hotline_analysis_calls_total", lambda: ANALYSED.labels("failed").inc())
            return AnalysisOutcome(call_id, "error", error=message)
        safe(
            "hotline_analysis_calls_total",
            lambda: ANALYSED.labels("ok" if outcome.status != "skipped" else "skipped").inc(),
        )
        if outcome.status != "skipped":
            log.info("%s", outcome.summary())
        return outcome

    async def run_pending(self) -> list[AnalysisOutcome]:
        """Analyse every call waiting now, oldest first."""
        done: list[AnalysisOutcome] = []
        seen: set[UUID] = set()
        while True:
            ids = [i for i in await pending(self.pool, self.batch) if i not in seen]
            if not ids:
                return done
            for call_id in ids:
                seen.add(call_id)
                done.append(await self.analyse(call_id))

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._wake.put_nowait(UUID(payload))

    async def run(self) -> None:
        """Run until cancelled: LISTEN, catch up, then analyse each notified call and poll every
        ``poll_interval`` seconds. A lost connection is retried after ``poll_interval``."""
        await asyncio.to_thread(tag, "预热", self.taxonomy)  # jieba's dictionary loads off the event loop
        while True:
            try:
                await self._listen()
            except Exception as exc:  # the database went away, or a bug: keep the service up, try again later
                message = redact(f"{type(exc).__name__}: {exc}")
                log.warning("analysis worker: %s; retrying in %g s", message, self.poll_interval)
            await asyncio.sleep(self.poll_interval)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        async with self.pool.acquire() as listener:
            await listener.add_listener(analysis_db.CHANNEL, self._notified)
            try:
                while not listener.is_closed():
                    await self.run_pending()
                    deadline = loop.time() + self.poll_interval
                    while (left := deadline - loop.time()) > 0 and not listener.is_closed():
                        try:
                            call_id = await asyncio.wait_for(self._wake.get(), left)
                        except TimeoutError:
                            break
                        await self.analyse(call_id)
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(analysis_db.CHANNEL, self._notified)
        raise ConnectionError("the LISTEN connection was closed")

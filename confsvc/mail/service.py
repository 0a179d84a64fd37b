"""The mail service of one process: composer hook, sender, receiver, reminders, IMAP.

``MailService`` is what ``confsvc.mail.setup`` starts with the web app and what
``confsvc mail …`` commands start on their own. It holds no rules: reminders and the
digest are decided by ``confsvc.core.written`` given ``now``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from confsvc.aio import cancel_and_wait
from confsvc.config import Config
from confsvc.core import written as W
from confsvc.core.errors import DomainError
from confsvc.core.events import Event, NewEvent
from confsvc.i18n import I18n
from confsvc.mail.compose import Composer, MailSettings
from confsvc.mail.ingest import Ingest
from confsvc.mail.outbox import Outbox
from confsvc.mail.receiver import parse_listen, start_receiver
from confsvc.mail.sender import Result, Sender, SmtpSettings, result_events
from confsvc.service import Hub, Hubs

log = logging.getLogger(__name__)

TICK_S = 60.0
# q.translated: an assignment that waited for the desk's translation goes now.
_MAIL_EVENTS = {
    *("written.assigned", "written.reminded", "written.published", "written.digest_sent"),
    "q.translated",
}


class MailService:
    def __init__(
        self,
        hubs: Hubs,
        cfg: Config,
        *,
        secret: bytes,
        i18n: I18n,
        clock: Callable[[], float] = time.time,
        base_url: str | None = None,
    ) -> None:
        # Settings that ``confsvc serve`` has no flags for may come from the environment.
        if cfg.organiser_email is None:
            cfg.organiser_email = os.environ.get("CONFSVC_ORGANISER_EMAIL") or None
        if cfg.imap is None:
            cfg.imap = os.environ.get("CONFSVC_IMAP") or None
        self.hubs = hubs
        self.cfg = cfg
        self.clock = clock
        self.settings = MailSettings(
            secret=secret,
            domain=cfg.mail_domain,
            base_url=(base_url or cfg.base_url).rstrip("/"),
            mail_from=cfg.mail_from or f"confsvc@{cfg.mail_domain}",
            organiser=cfg.organiser_email,
        )
        self.composer = Composer(self.settings, i18n)
        self.outbox = Outbox(hubs.store)
        self.ingest = Ingest(
            hubs, secret=secret, domain=cfg.mail_domain, max_bytes=cfg.mail_max_bytes
        )
        self.sender: Sender | None = None
        # Send results of this process: sent, failed (for good), deferred (to retry).
        self.results: collections.Counter[str] = collections.Counter()
        self.receiver: asyncio.Server | None = None
        self.imap: Any = None
        self._ticker: asyncio.Task[None] | None = None
        hubs.outbox_hooks.append(self.composer.outbox_hook)
        hubs.event_hooks.append(self._on_events)

    def _on_events(self, hub: Hub, events: list[Event]) -> None:
        if self.sender is not None and any(e.type in _MAIL_EVENTS for e in events):
            self.sender.wake()

    async def start(
        self, *, send: bool = True, receive: bool = True, tick_s: float = TICK_S
    ) -> None:
        cfg = self.cfg
        if send and cfg.smtp_out:
            self.sender = Sender(
                self.outbox,
                SmtpSettings.from_url(cfg.smtp_out, ca_file=cfg.smtp_ca_file),
                on_result=self.record,
            )
            await self.sender.start()
        if receive and cfg.smtp_in:
            host, port = parse_listen(cfg.smtp_in)
            self.receiver = await start_receiver(
                self.ingest,
                host=host,
                port=port,
                domain=cfg.mail_domain,
                max_bytes=cfg.mail_max_bytes,
            )
            log.info("mail: receiving replies on %s:%d", host, port)
        if receive and cfg.imap:
            from confsvc.mail.imap import ImapPoller

            self.imap = ImapPoller(
                cfg.imap,
                self.ingest,
                every_s=cfg.imap_poll_s,
                ca_file=cfg.imap_ca_file,
                processed=cfg.imap_processed_folder,
                quarantine=cfg.imap_quarantine_folder,
            )
            await self.imap.start()
        if tick_s > 0:
            self._ticker = asyncio.create_task(self._tick_loop(tick_s), name="mail-ticker")

    def health(self) -> dict[str, dict[str, Any]]:
        """The state of each mail connection this process runs, for readiness, metrics and
        the dashboard: ``{"smtp": Sender.health(), "imap": ImapPoller.health()}`` (only
        the parts that run). ``held``/``down`` means confsvc's own settings or the server
        fail; the ``error`` says how (never a password)."""
        out: dict[str, dict[str, Any]] = {}
        if self.sender is not None:
            out["smtp"] = self.sender.health()
        if self.imap is not None:
            out["imap"] = self.imap.health()
        return out

    async def close(self) -> None:
        await cancel_and_wait(self._ticker)
        if self.imap is not None:
            await self.imap.close()
        if self.receiver is not None:
            self.receiver.close()
            await self.receiver.wait_closed()
        if self.sender is not None:
            await self.sender.close()
        with contextlib.suppress(ValueError):
            self.hubs.outbox_hooks.remove(self.composer.outbox_hook)
        with contextlib.suppress(ValueError):
            self.hubs.event_hooks.remove(self._on_events)

    async def record(self, results: Sequence[Result]) -> None:
        """Turn send results into ``written.mail_sent`` / ``written.mail_failed`` on each conference."""
        for r in results:
            self.results["sent" if r.ok else "failed" if r.permanent else "deferred"] += 1
        for conference, items in result_events(list(results)).items():
            try:
                hub = await self.hubs.get(conference)
            except Exception:
                log.exception("mail: no conference %r for send results", conference)
                continue
            events = [
                NewEvent(type=d["type"], data={k: v for k, v in d.items() if k != "type"})
                for d in items
            ]
            await hub.append_system(events)

    async def tick(self, now: float | None = None) -> list[Event]:
        """Reminders and the digest that are due now, on every conference this node serves."""
        now = self.clock() if now is None else now
        out: list[Event] = []
        for cid in await self.hubs.store.list_conferences():
            try:
                hub = await self.hubs.get(cid)
            except DomainError:
                continue
            await hub.catch_up()
            new = W.due_reminders(hub.state, now)
            if self.settings.organiser:
                new += W.digest_due(hub.state, now)
            if new:
                out += await hub.append_system(new)
        return out

    async def _tick_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail: reminder round failed")

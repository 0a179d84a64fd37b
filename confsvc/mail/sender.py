"""The sender: delivers outbox rows over SMTP (aiosmtplib), with retry and backoff.

One loop claims due rows, sends them over one SMTP connection, and settles each row:
``sent``; ``queued`` again with a backoff for the temporary failures in
``RETRY_CODES`` (and connection errors); ``failed`` for anything else or after
``MAX_ATTEMPTS``. The results go to ``on_result`` (the mail service turns them into
``f.mail_sent`` / ``f.mail_failed`` events on the question). Not for composing mail:
``confsvc.mail.compose`` does that, in the same transaction as the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from confsvc.aio import cancel_and_wait
from confsvc.mail.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

# SMTP replies worth trying again (RFC 5321 4yz), each for its reason. Every other reply
# from the server (5yz) is permanent and is recorded on the question at once. Connection
# errors and timeouts (no reply at all) are retried too.
RETRY_CODES: dict[int, str] = {
    421: "service not available, closing channel (server busy or shutting down)",
    450: "mailbox unavailable for now (greylisting, mailbox busy)",
    451: "local error in processing (try later)",
    452: "insufficient system storage",
    454: "TLS not available for now",
}
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 6 * 3600.0


def backoff_s(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try: 30 s, 60 s, 2 min, … 6 h."""
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # SMTPS (implicit TLS, port 465)
    start_tls: bool | None = None  # None: if the server offers it
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """``smtp://[user:pass@]host[:port]`` (STARTTLS if offered), ``smtp+starttls://``
        (STARTTLS required), ``smtp+plain://`` (never), ``smtps://`` (implicit TLS)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps", "smtp+starttls", "smtp+plain"):
            raise ValueError(f"smtp_out: unknown scheme {parts.scheme!r} (smtp, smtps, ...)")
        if not parts.hostname:
            raise ValueError("smtp_out: no host")
        default_port = {"smtps": 465, "smtp+starttls": 587}.get(scheme, 25)
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=scheme == "smtps",
            start_tls={"smtp+starttls": True, "smtp+plain": False}.get(scheme),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    item: OutboxItem
    ok: bool
    permanent: bool = False
    error: str | None = None
    code: int | None = None


ResultSink = Callable[[list[Result]], Awaitable[None]]


def classify(exc: BaseException) -> tuple[bool, int | None, str]:
    """``(retry, code, message)`` for an exception from aiosmtplib."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        msg = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return all(c in RETRY_CODES for c in codes), codes[0] if codes else None, msg
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code in RETRY_CODES, exc.code, f"{exc.code} {exc.message}"
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return True, None, f"{type(exc).__name__}: {exc}"
    return False, None, f"{type(exc).__name__}: {exc}"


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        smtp: SmtpSettings,
        *,
        on_result: ResultSink | None = None,
        clock: Callable[[], float] = time.time,
        batch: int = 50,
        idle_s: float = 1.0,
    ) -> None:
        self.outbox = outbox
        self.smtp = smtp
        self.on_result = on_result
        self.clock = clock
        self.batch = batch
        self.idle_s = idle_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Sender({self.smtp.host}:{self.smtp.port})"

    def wake(self) -> None:
        """New rows were queued: look now instead of at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        n = await self.outbox.recover()
        if n:
            log.warning("%r: %d mail(s) were left in 'sending'; sending them again", self, n)
        self._task = asyncio.create_task(self._loop(), name="mail-sender")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%r: a send round failed", self)
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_s)

    async def drain(self) -> int:
        """Send until nothing is due; the number of rows handled."""
        total = 0
        while (n := await self.run_once()) > 0:
            total += n
        return total

    async def run_once(self) -> int:
        items = await self.outbox.claim(self.clock(), self.batch)
        if not items:
            return 0
        results: list[Result] = []
        client: aiosmtplib.SMTP | None = None
        try:
            for item in items:
                if "error" in item.payload:
                    results.append(
                        Result(item=item, ok=False, permanent=True, error=item.payload["error"])
                    )
                    continue
                try:
                    if client is None or not client.is_connected:
                        client = await self._connect()
                    await client.sendmail(
                        item.payload["from"], item.payload["to"], item.payload["message"]
                    )
                    results.append(Result(item=item, ok=True))
                except Exception as exc:
                    retry, code, msg = classify(exc)
                    log.info("%r: %s: %s", self, item.key, msg)
                    permanent = not retry or item.attempts >= MAX_ATTEMPTS
                    results.append(
                        Result(item=item, ok=False, permanent=permanent, error=msg, code=code)
                    )
                    if code is None and client is not None:  # the connection is suspect
                        with contextlib.suppress(Exception):
                            client.close()
                        client = None
        finally:
            if client is not None and client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()
        await self._settle(results)
        return len(items)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.smtp
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
        )
        await client.connect()
        if s.username is not None:
            await client.login(s.username, s.password or "")
        return client

    async def _settle(self, results: list[Result]) -> None:
        now = self.clock()
        await self.outbox.sent([r.item.id for r in results if r.ok], now)
        for r in results:
            if r.ok:
                continue
            if r.permanent:
                await self.outbox.failed(r.item.id, r.error or "failed")
            else:
                await self.outbox.retry(r.item.id, now + backoff_s(r.item.attempts), r.error or "")
        if self.on_result is not None:
            try:
                await self.on_result(results)
            except Exception:
                log.exception("%r: recording the results failed", self)


def result_events(results: list[Result]) -> dict[str, list[dict[str, Any]]]:
    """Per conference, the event data for ``f.mail_sent`` / ``f.mail_failed``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        p = r.item.payload
        base = {"question": p.get("question"), "kind": p.get("kind"), "key": r.item.key}
        if r.ok:
            out.setdefault(r.item.conference, []).append({"type": "f.mail_sent", **base})
        else:
            out.setdefault(r.item.conference, []).append(
                {
                    "type": "f.mail_failed",
                    **base,
                    "error": r.error,
                    "code": r.code,
                    "permanent": r.permanent,
                    "attempts": r.item.attempts,
                }
            )
    return out

"""The sender: delivers outbox rows over SMTP (aiosmtplib), with retry and backoff.

One loop claims due rows, sends them over one SMTP connection, and settles each row:
``sent``; ``queued`` again with a backoff for the temporary failures in
``RETRY_CODES`` (and connection errors); ``failed`` for anything else or after
``MAX_ATTEMPTS``. The results go to ``on_result`` (the mail service turns them into
``written.mail_sent`` / ``written.mail_failed`` events on the question). Not for composing mail:
``confsvc.mail.compose`` does that, in the same transaction as the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
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
# While confsvc's own settings fail (login, TLS, no connection) the outbox is held: every
# claimed row goes back untouched and the sender waits 5 s, doubling to 5 min.
HOLD_BASE_S = 5.0
HOLD_MAX_S = 300.0
CLOSE_GRACE_S = 1.5  # on shutdown, for the mail being sent (SIGTERM to exit is < 5 s)


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
    ca_file: str | None = None  # trust this CA (PEM) for TLS instead of the system's

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.ca_file:
            return None
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"smtp_ca_file: cannot read {self.ca_file!r}: {exc}") from None

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None) -> SmtpSettings:
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
            ca_file=ca_file,
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
    if isinstance(exc, ssl.SSLError):
        return True, None, f"TLS: {exc}"
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return True, None, f"{type(exc).__name__}: {exc}"
    return False, None, f"{type(exc).__name__}: {exc}"


def blames_recipient(exc: BaseException) -> bool:
    """True when the server refused this mail for its recipient (a reply to RCPT or DATA);
    False for faults in confsvc's own settings or the server (connection, TLS, login,
    MAIL FROM), which hold the outbox instead of marking anyone bounced."""
    return isinstance(exc, (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPDataError))


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
        self._stopping = False
        self._holds = 0  # holds in a row, for the backoff
        self._held_until = 0.0
        self._health: dict[str, Any] = {
            "state": "idle",
            "error": None,
            "since": None,
            "retry_at": None,
            "last_sent_at": None,
        }

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

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Stop: the mail being sent finishes (up to ``grace_s``), claimed rows not begun go
        back to the queue; past ``grace_s`` the send is cut and its row, left in ``sending``,
        is sent again at the next start (``recover``)."""
        self._stopping = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), grace_s)
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%r: a send round failed", self)
                done = 0
            if done == 0:
                wait = max(self.idle_s, self._held_until - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def drain(self) -> int:
        """Send until nothing is due or the outbox is held; the number of rows handled."""
        total = 0
        while True:
            n = await self.run_once()
            total += n
            if n == 0 or self.held:
                break
        return total

    async def run_once(self) -> int:
        """Claim due rows and send them; the number settled (0 when none was due or the
        outbox is held). Each mail is settled as soon as the server has answered for it,
        so a crash repeats at most the one mail in flight."""
        if self._held_until > self.clock():
            return 0
        items = await self.outbox.claim(self.clock(), self.batch)
        if not items:
            return 0
        client: aiosmtplib.SMTP | None = None
        done = 0
        try:
            for n, item in enumerate(items):
                if self._stopping:  # shutting down: the rest waits for the next start
                    await self.outbox.release([i.id for i in items[n:]])
                    return done
                if "error" in item.payload:
                    await self._settle(
                        Result(item=item, ok=False, permanent=True, error=item.payload["error"])
                    )
                    done += 1
                    continue
                try:
                    if client is None or not client.is_connected:
                        client = await self._connect()
                    await client.sendmail(
                        item.payload["from"], item.payload["to"], item.payload["message"]
                    )
                except Exception as exc:
                    retry, code, msg = classify(exc)
                    if not blames_recipient(exc):
                        # Our own settings or the server: hold the outbox, mark nobody.
                        await self._hold(msg, [i.id for i in items[n:]])
                        return done
                    log.info("%r: %s: %s", self, item.key, msg)
                    permanent = not retry or item.attempts >= MAX_ATTEMPTS
                    await self._settle(
                        Result(item=item, ok=False, permanent=permanent, error=msg, code=code)
                    )
                else:
                    await self._settle(Result(item=item, ok=True))
                    self._health.update(state="ok", error=None, since=None)
                    self._health["last_sent_at"] = self.clock()
                done += 1
        finally:
            if client is not None and client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()
        return done

    async def _hold(self, error: str, ids: list[int]) -> None:
        """Put the claimed rows back untouched (the try not counted) and wait before the
        next round: the fault is confsvc's (login, TLS, connection), not a recipient's."""
        self._holds += 1
        wait = min(HOLD_MAX_S, HOLD_BASE_S * 2 ** (self._holds - 1))
        now = self.clock()
        self._held_until = now + wait
        if self._health.get("state") != "held":
            self._health["since"] = now
        self._health.update(state="held", error=error, retry_at=self._held_until)
        log.warning(
            "%r: outbox held, %d mail(s) put back, next try in %.0f s: %s",
            self,
            len(ids),
            wait,
            error,
        )
        await self.outbox.release(ids)

    def health(self) -> dict[str, Any]:
        """``{"state": "ok"|"held"|"idle", "error", "since", "retry_at", "last_sent_at"}``:
        ``held`` while confsvc's own SMTP settings or server fail (the error says how)."""
        return dict(self._health)

    @property
    def held(self) -> bool:
        return self._health.get("state") == "held"

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.smtp
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
            tls_context=s.tls_context(),
        )
        await client.connect()
        if s.username is not None:
            await client.login(s.username, s.password or "")
        self._holds = 0
        return client

    async def _settle(self, r: Result) -> None:
        """Record the result on the question, then settle the row: a crash between the two
        sends the mail again (at least once), never loses the event."""
        if self.on_result is not None:
            try:
                await self.on_result([r])
            except Exception:
                log.exception("%r: recording the results failed", self)
        now = self.clock()
        if r.ok:
            await self.outbox.sent([r.item.id], now)
        elif r.permanent:
            await self.outbox.failed(r.item.id, r.error or "failed")
        else:
            await self.outbox.retry(r.item.id, now + backoff_s(r.item.attempts), r.error or "")


def result_events(results: list[Result]) -> dict[str, list[dict[str, Any]]]:
    """Per conference, the event data for ``written.mail_sent`` / ``written.mail_failed``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        p = r.item.payload
        base = {"question": p.get("question"), "kind": p.get("kind"), "key": r.item.key}
        if r.ok:
            out.setdefault(r.item.conference, []).append({"type": "written.mail_sent", **base})
        else:
            out.setdefault(r.item.conference, []).append(
                {
                    "type": "written.mail_failed",
                    **base,
                    "error": r.error,
                    "code": r.code,
                    "permanent": r.permanent,
                    "attempts": r.item.attempts,
                }
            )
    return out

"""The IMAP poller (aioimaplib): for organisations whose replies land in an ordinary mailbox.

One session at a time: connect (``imaps://``, or ``imap+starttls://`` upgraded before
login, or plain ``imap://`` on loopback), log in, select the mailbox, then round after
round: find the messages not yet marked with the keyword ``ConfsvcStored``, fetch each
whole (``BODY.PEEK[]``, so the mailbox's own \\Seen flags stay as they are), hand it to
``Ingest``, set the keyword, and move it out of the way: stored answers to the processed
folder, quarantined mail to the quarantine folder (``MOVE`` where the server offers it,
else ``COPY``, ``\\Deleted`` and ``EXPUNGE``). Between rounds it waits in ``IDLE`` where
the server offers it (woken by new mail), else sleeps ``every_s``. A crash between the
store and the keyword fetches the message again; ``Ingest`` stores a Message-ID once.

Every step has a timeout and every step also ends when the server drops the connection
(``doveadm kick``, a restart): the session is then over, the failure is logged and the
poller reconnects with backoff (1 s doubling to 5 min). ``health()`` says how it stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from ssl import SSLContext
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import aioimaplib
from aioimaplib.aioimaplib import Command

from confsvc.aio import cancel_and_wait
from confsvc.mail.ingest import Ingest

log = logging.getLogger(__name__)

STORED_KEYWORD = "ConfsvcStored"
STEP_TIMEOUT_S = 30.0  # any one IMAP command
BACKOFF_BASE_S = 1.0  # after a failed session: 1 s, 2 s, 4 s, … 5 min
BACKOFF_MAX_S = 300.0
IDLE_MAX_S = 29 * 60.0  # RFC 2177: re-issue IDLE at least every 29 minutes
T = TypeVar("T")
_FETCH_UID_LAST = re.compile(rb"^\d+ FETCH \(.*\{(\d+)\}$")
_UID_ANY = re.compile(rb"UID (\d+)")
_LIST_DELIMITER = re.compile(rb'^\([^)]*\) "(.)"')


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapSettings:
    host: str
    port: int
    user: str
    password: str = dataclass_field(repr=False)
    mailbox: str = "INBOX"
    ssl: bool = True  # implicit TLS (imaps)
    starttls: bool = False  # imap+starttls: STARTTLS before login, required
    ca_file: str | None = None  # trust this CA (PEM) instead of the system's

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None) -> ImapSettings:
        """``imaps://user:pass@host[:993]/MAILBOX``, ``imap+starttls://…`` (port 143,
        STARTTLS required) or ``imap://…`` (no TLS, port 143: loopback and tests)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("imap", "imaps", "imap+starttls"):
            raise ValueError(
                f"imap: unknown scheme {parts.scheme!r} (imaps, imap+starttls or imap)"
            )
        if not parts.hostname or not parts.username:
            raise ValueError("imap: the URL needs a user and a host")
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if scheme == "imaps" else 143),
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
            ssl=scheme == "imaps",
            starttls=scheme == "imap+starttls",
            ca_file=ca_file,
        )

    def tls_context(self) -> SSLContext:  # (the field ``ssl`` hides the module here)
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"imap_ca_file: cannot read {self.ca_file!r}: {exc}") from None


def search_uids(lines: list[Any]) -> list[int]:
    """UIDs from a ``UID SEARCH`` response's lines (``b'1 2 3'`` or ``b'SEARCH 1 2 3'``)."""
    out: list[int] = []
    for line in lines:
        if not isinstance(line, (bytes, bytearray)):
            continue
        words = bytes(line).split()
        if words and words[0].upper() == b"SEARCH":
            words = words[1:]
        if words and all(w.isdigit() for w in words):
            out.extend(int(w) for w in words)
    return out


def fetched_messages(lines: list[Any]) -> list[tuple[int | None, bytes]]:
    """``(uid, raw)`` for each message in a ``UID FETCH … (BODY.PEEK[])`` response.

    aioimaplib gives the line that announces a literal (``… {size}``), then the literal
    as a ``bytearray``, then the rest of the line (``UID 7)`` on some servers).
    """
    out: list[tuple[int | None, bytes]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if isinstance(line, bytes) and (m := _FETCH_UID_LAST.match(line)):
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            if isinstance(nxt, (bytes, bytearray)) and len(nxt) == int(m.group(1)):
                uid_m = _UID_ANY.search(line)
                if uid_m is None and i + 2 < len(lines) and isinstance(lines[i + 2], bytes):
                    uid_m = _UID_ANY.search(lines[i + 2])
                out.append((int(uid_m.group(1)) if uid_m else None, bytes(nxt)))
                i += 2
                continue
        i += 1
    return out


class ImapPoller:
    def __init__(
        self,
        url: str,
        ingest: Ingest,
        *,
        every_s: float = 30.0,
        ca_file: str | None = None,
        processed: str | None = "confsvc/processed",
        quarantine: str | None = "confsvc/quarantine",
        step_timeout_s: float = STEP_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = ImapSettings.from_url(url, ca_file=ca_file)
        self.ingest = ingest
        self.every_s = every_s
        self.processed = processed
        self.quarantine = quarantine
        self.step_timeout_s = step_timeout_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._made: set[str] = set()  # folders known to exist
        self._delimiter: str | None = None  # the server's hierarchy delimiter
        self._health: dict[str, Any] = {
            "state": "starting",
            "error": None,
            "since": None,
            "failures": 0,
            "last_poll_at": None,
            "idle": False,
        }

    def __repr__(self) -> str:
        s = self.settings
        return f"ImapPoller({s.user}@{s.host}:{s.port}/{s.mailbox})"

    def health(self) -> dict[str, Any]:
        """``{"state": "starting"|"ok"|"down", "error", "since", "failures" (sessions
        failed in a row), "last_poll_at", "idle" (waiting in IMAP IDLE)}``."""
        return dict(self._health)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="imap-poller")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                h = self._health
                h["failures"] += 1
                if h["state"] != "down":
                    h["since"] = self.clock()
                h.update(state="down", error=_describe(exc), idle=False)
                wait = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (h["failures"] - 1))
                log.warning(
                    "%r: IMAP session failed (%d in a row), reconnecting in %.0f s: %s",
                    self,
                    h["failures"],
                    wait,
                    h["error"],
                )
                await asyncio.sleep(wait)

    async def poll_once(self) -> int:
        """One session of one round: fetch, store and move every message not yet
        marked; the number stored. Not the running poller (``start`` is)."""
        client = await self._connect()
        try:
            return await self._round(client)
        finally:
            await self._logout(client)

    async def _session(self) -> None:
        client = await self._connect()
        try:
            while True:
                n = await self._round(client)
                if n:
                    log.info("%r: stored %d message(s)", self, n)
                if self._health["state"] != "ok":
                    log.info("%r: IMAP session up", self)
                self._health.update(state="ok", error=None, since=None, failures=0)
                self._health["last_poll_at"] = self.clock()
                await self._wait(client)
        finally:
            await self._logout(client)

    async def _step(self, what: str, aw: Awaitable[T], timeout: float | None = None) -> T:
        """``aw``, unless it takes longer than the step timeout or the server drops the
        connection first: then ``TimeoutError``/``ConnectionError`` naming the step."""
        limit = self.step_timeout_s if timeout is None else timeout
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {task, lost}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if self._lost.is_set():
            raise ConnectionError(f"IMAP {what}: the server closed the connection")
        raise TimeoutError(f"IMAP {what}: no answer within {limit:g} s")

    async def _connect(self) -> aioimaplib.IMAP4:
        s = self.settings
        self._lost = asyncio.Event()
        lost = self._lost

        def on_lost(exc: Exception | None) -> None:
            lost.set()

        ctx = s.tls_context() if (s.ssl or s.starttls) else None
        client = (
            aioimaplib.IMAP4_SSL(
                host=s.host, port=s.port, timeout=self.step_timeout_s, ssl_context=ctx
            )
            if s.ssl
            else aioimaplib.IMAP4(
                host=s.host, port=s.port, timeout=self.step_timeout_s, conn_lost_cb=on_lost
            )
        )
        if s.ssl:  # IMAP4_SSL takes no callback: hand it to the protocol
            client.protocol.conn_lost_cb = on_lost
        try:
            await self._step("greeting", client.wait_hello_from_server())
            if s.starttls:
                await self._starttls(client, ctx)
            resp = await self._step("login", client.login(s.user, s.password))
            if resp.result != "OK":
                raise PermissionError(f"IMAP login refused for {s.user!r}")
            resp = await self._step("select", client.select(s.mailbox))
            if resp.result != "OK":
                raise LookupError(f"IMAP mailbox {s.mailbox!r} cannot be selected")
        except BaseException:
            _drop(client)
            raise
        return client

    async def _starttls(self, client: aioimaplib.IMAP4, ctx: ssl.SSLContext | None) -> None:
        """aioimaplib has no STARTTLS: send it, then upgrade the transport in place."""
        proto = client.protocol
        if "STARTTLS" not in proto.capabilities:
            raise ConnectionError("IMAP server does not offer STARTTLS (imap+starttls://)")
        cmd = Command("STARTTLS", proto.new_tag(), loop=proto.loop)
        resp = await self._step("STARTTLS", proto.execute(cmd))
        if resp.result != "OK":
            raise ConnectionError(f"IMAP STARTTLS refused: {resp.lines[-1:]!r}")
        loop = asyncio.get_running_loop()
        if ctx is None:  # pragma: no cover - _connect always makes one for STARTTLS
            ctx = self.settings.tls_context()
        proto.transport = await self._step(
            "TLS handshake",
            loop.start_tls(proto.transport, proto, ctx, server_hostname=self.settings.host),
        )
        await self._step("capability", proto.capability())  # they may differ under TLS

    async def _round(self, client: aioimaplib.IMAP4) -> int:
        resp = await self._step(
            "search", client.uid_search("UNKEYWORD", STORED_KEYWORD, charset=None)
        )
        if resp.result != "OK":
            raise RuntimeError(f"IMAP search refused: {resp.lines[-1:]!r}")
        stored = 0
        for uid in search_uids(resp.lines[:-1]):
            fetched = await self._step("fetch", client.uid("fetch", str(uid), "(BODY.PEEK[])"))
            outcome = None
            for _uid, raw in fetched_messages(fetched.lines):
                outcome = await self.ingest.receive(raw)
                stored += 1
            if outcome is not None and outcome.status == "nowhere":
                continue  # no conference takes it yet: look again next round
            await self._step(
                "store", client.uid("store", str(uid), "+FLAGS", f"({STORED_KEYWORD})")
            )
            quarantined = outcome is not None and outcome.status == "quarantine"
            folder = self.quarantine if quarantined else self.processed
            if folder:
                await self._move(client, uid, folder)
        if self.processed:  # stored, but the session ended before the move
            resp = await self._step("search", client.uid_search("KEYWORD", STORED_KEYWORD))
            for uid in search_uids(resp.lines[:-1]) if resp.result == "OK" else []:
                await self._move(client, uid, self.processed)
        return stored

    async def _server_name(self, client: aioimaplib.IMAP4, folder: str) -> str:
        """The folder as this server spells it: ``/`` in the setting becomes the server's
        hierarchy delimiter (Dovecot's Maildir uses ``.``), asked with ``LIST "" ""``."""
        if self._delimiter is None:
            resp = await self._step("list", client.list('""', '""'))
            self._delimiter = "/"
            for line in resp.lines:
                m = _LIST_DELIMITER.search(line) if isinstance(line, bytes) else None
                if m:
                    self._delimiter = m.group(1).decode()
                    break
        return folder.replace("/", self._delimiter)

    async def _move(self, client: aioimaplib.IMAP4, uid: int, setting: str) -> None:
        folder = await self._server_name(client, setting)
        if folder not in self._made:
            resp = await self._step("create", client.create(folder))
            text = b" ".join(x for x in resp.lines if isinstance(x, bytes)).upper()
            if resp.result != "OK" and b"ALREADYEXISTS" not in text and b"EXISTS" not in text:
                raise RuntimeError(f"IMAP folder {folder!r} cannot be created: {text!r}")
            self._made.add(folder)
        if client.has_capability("MOVE"):
            resp = await self._step("move", client.uid("move", str(uid), folder))
        else:
            resp = await self._step("copy", client.uid("copy", str(uid), folder))
            if resp.result == "OK":
                await self._step("store", client.uid("store", str(uid), "+FLAGS", "(\\Deleted)"))
                if client.has_capability("UIDPLUS"):
                    resp = await self._step("expunge", client.uid("expunge", str(uid)))
                else:
                    resp = await self._step("expunge", client.expunge())
        if resp.result != "OK":
            raise RuntimeError(f"IMAP cannot move UID {uid} to {folder!r}: {resp.lines[-1:]!r}")

    async def _wait(self, client: aioimaplib.IMAP4) -> None:
        """Until new mail may be there: IDLE (woken by the server) or a plain sleep."""
        if not client.has_capability("IDLE"):
            await self._step("sleep", asyncio.sleep(self.every_s), timeout=self.every_s + 5)
            return
        self._health["idle"] = True
        try:
            idle = await self._step("IDLE", client.idle_start(timeout=IDLE_MAX_S))
            with contextlib.suppress(TimeoutError):
                push = await self._step(
                    "IDLE", client.wait_server_push(timeout=self.every_s), self.every_s + 5
                )
                if any(b"BYE" in x for x in push if isinstance(x, bytes)):
                    raise ConnectionError("IMAP server said BYE during IDLE")
            client.idle_done()
            await self._step("IDLE done", idle)
        finally:
            self._health["idle"] = False

    async def _logout(self, client: aioimaplib.IMAP4) -> None:
        if not self._lost.is_set():
            with contextlib.suppress(Exception):
                await self._step("logout", client.logout(), timeout=5.0)
        _drop(client)


def _drop(client: aioimaplib.IMAP4) -> None:
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__

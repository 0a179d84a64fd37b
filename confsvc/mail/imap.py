"""The IMAP poller (aioimaplib): for organisations whose replies land in an ordinary mailbox.

Every ``every_s`` seconds: log in, select the mailbox, find the messages not yet marked
with the keyword ``ConfsvcStored``, fetch each whole (``BODY.PEEK[]``, so the mailbox's
own \\Seen flags are left alone for the people who read it), hand it to ``Ingest`` and
only then set the keyword. A crash between the two fetches the message again next time;
``Ingest`` stores a Message-ID once, so nothing is stored twice and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aioimaplib

from confsvc.aio import cancel_and_wait
from confsvc.mail.ingest import Ingest

log = logging.getLogger(__name__)

STORED_KEYWORD = "ConfsvcStored"
_FETCH_UID_LAST = re.compile(rb"^\d+ FETCH \(.*\{(\d+)\}$")
_UID_ANY = re.compile(rb"UID (\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImapSettings:
    host: str
    port: int
    user: str
    password: str
    mailbox: str = "INBOX"
    ssl: bool = True

    @classmethod
    def from_url(cls, url: str) -> ImapSettings:
        """``imaps://user:pass@host[:993]/MAILBOX`` or ``imap://…`` (no TLS, port 143)."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError(f"imap: unknown scheme {parts.scheme!r} (imap or imaps)")
        if not parts.hostname or not parts.username:
            raise ValueError("imap: the URL needs a user and a host")
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if parts.scheme == "imaps" else 143),
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
            ssl=parts.scheme == "imaps",
        )


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
    def __init__(self, url: str, ingest: Ingest, *, every_s: float = 30.0) -> None:
        self.settings = ImapSettings.from_url(url)
        self.ingest = ingest
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        s = self.settings
        return f"ImapPoller({s.user}@{s.host}:{s.port}/{s.mailbox})"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="imap-poller")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                n = await self.poll_once()
                if n:
                    log.info("%r: stored %d message(s)", self, n)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%r: poll failed: %s", self, exc)
            await asyncio.sleep(self.every_s)

    async def poll_once(self) -> int:
        """Fetch and store every message not yet marked; the number stored."""
        s = self.settings
        client = (
            aioimaplib.IMAP4_SSL(host=s.host, port=s.port, timeout=30)
            if s.ssl
            else aioimaplib.IMAP4(host=s.host, port=s.port, timeout=30)
        )
        await client.wait_hello_from_server()
        try:
            resp = await client.login(s.user, s.password)
            if resp.result != "OK":
                raise RuntimeError(f"IMAP login refused for {s.user!r}")
            resp = await client.select(s.mailbox)
            if resp.result != "OK":
                raise RuntimeError(f"IMAP mailbox {s.mailbox!r} cannot be selected")
            resp = await client.uid_search("UNKEYWORD", STORED_KEYWORD, charset=None)
            stored = 0
            for uid in search_uids(resp.lines[:-1]):
                fetched = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
                for _uid, raw in fetched_messages(fetched.lines):
                    await self.ingest.receive(raw)
                    stored += 1
                await client.uid("store", str(uid), "+FLAGS", f"({STORED_KEYWORD})")
            return stored
        finally:
            with contextlib.suppress(Exception):
                await client.logout()

"""Inbound mail to events: match a reply to its question, or quarantine it.

Used by the SMTP receiver and the IMAP poller alike. A mail is matched by its signed
reply address (the envelope recipient, else Delivered-To/To/Cc), else by one of our
signed Message-IDs in ``In-Reply-To``/``References``. This module only extracts the
facts (``written.MailFacts``: the match, the envelope sender, the auto-submitted flag,
the questions a delivery report names); the core decides what the mail is
(``written.classify_mail``: reply, bounce, auto-reply, duplicate or stranger). Every mail is stored, raw, in one ``written.mail_received``
event; the same Message-ID is stored once.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import logging
from dataclasses import dataclass
from typing import Any

from confsvc.core import written as W
from confsvc.core.errors import DomainError
from confsvc.core.events import NewEvent
from confsvc.mail.addresses import parse_message_id, parse_reply_address
from confsvc.mail.inbound import Inbound, parse_mail
from confsvc.service import Hub, Hubs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    conference: str | None
    status: str  # "answer" | "quarantine" | "duplicate" | "nowhere"
    question: str | None = None
    reason: str | None = None
    message_id: str = ""


def match(
    secret: bytes, conference: str, domain: str, mail: Inbound
) -> tuple[str | None, str | None, str]:
    """``(question, claimed, how)``: the matched question, or what was claimed and why not."""
    claimed: str | None = None
    why = "no reply address and no known In-Reply-To"
    for rcpt in mail.recipients:
        q, how = parse_reply_address(secret, conference, rcpt, domain)
        if how == "address":
            return q, q, "address"
        if q is not None:
            claimed, why = q, how
    for ref in mail.references:
        q = parse_message_id(secret, conference, ref)
        if q is not None:
            return q, q, "in-reply-to"
    return None, claimed, why


class Ingest:
    def __init__(self, hubs: Hubs, *, secret: bytes, domain: str, max_bytes: int) -> None:
        self.hubs = hubs
        self.secret = secret
        self.domain = domain
        self.max_bytes = max_bytes
        # Mails received by this process, by ``Outcome.status``; and bounce reports.
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.bounces = 0
        self._lock = asyncio.Lock()

    async def _hubs(self) -> list[Hub]:
        loaded = sorted(self.hubs.loaded(), key=lambda h: h.id)
        if loaded:  # the conferences this node serves (listing the store scans the log)
            return loaded
        out = []
        for cid in await self.hubs.store.list_conferences():
            try:
                out.append(await self.hubs.get(cid))
            except DomainError:
                continue
        return out

    async def receive(
        self, raw: bytes, *, rcpt_tos: list[str] | None = None, mail_from: str | None = None
    ) -> Outcome:
        outcome = await self._receive(raw, rcpt_tos=rcpt_tos, mail_from=mail_from)
        self.outcomes[outcome.status] += 1
        return outcome

    async def _receive(
        self, raw: bytes, *, rcpt_tos: list[str] | None, mail_from: str | None
    ) -> Outcome:
        truncated = len(raw) > self.max_bytes
        mail = parse_mail(
            raw[: self.max_bytes] if truncated else raw, rcpt_tos=rcpt_tos, mail_from=mail_from
        )
        async with self._lock:
            hubs = await self._hubs()
            if not hubs:
                return Outcome(conference=None, status="nowhere", message_id=mail.message_id)
            chosen = hubs[0]
            question, claimed, how = match(self.secret, chosen.id, self.domain, mail)
            for hub in hubs[1:]:
                q, c, h = match(self.secret, hub.id, self.domain, mail)
                if question is None and (q is not None or (claimed is None and c is not None)):
                    chosen, question, claimed, how = hub, q, c, h
            hub = chosen
            await hub.catch_up()
            facts = W.MailFacts(
                message_id=mail.message_id,
                sender=mail.sender,
                envelope_from=mail_from,
                auto=mail.auto,
                dsn_questions=tuple(
                    parse_message_id(self.secret, hub.id, r) for r in mail.bounce_refs
                ),
                question=question,
                claimed=claimed,
                how=how,
                cut_at=self.max_bytes if truncated else None,
            )
            verdict = W.classify_mail(hub.state, facts)
            if verdict.kind == "duplicate":
                return Outcome(conference=hub.id, status="duplicate", message_id=mail.message_id)
            bounce_of, reason = verdict.bounce_of, verdict.reason
            data: dict[str, Any] = {
                "message_id": mail.message_id,
                "from": mail.sender,
                "from_name": mail.sender_name[:200],
                "subject": mail.subject,
                "to": mail.recipients[:20],
                "question": verdict.question,
                "how": how,
                "reason": reason,
                "auto": mail.auto,
                "bounce_of": bounce_of,
                "text": mail.text[: W.MAX_REPLY_TEXT],
                "attachments": mail.attachments[:50],
                "problems": mail.problems[:20],
                "size": len(raw),
                "raw": base64.b64encode(raw[: self.max_bytes]).decode("ascii"),
            }
            await hub.append_system([NewEvent(type="written.mail_received", data=data)])
            if bounce_of is not None:
                self.bounces += 1
        status = "answer" if reason is None else "quarantine"
        log.info(
            "%r: mail %s: %s %s", hub, mail.message_id, verdict.kind, verdict.question or reason
        )
        return Outcome(
            conference=hub.id,
            status=status,
            question=verdict.question,
            reason=reason,
            message_id=mail.message_id,
        )

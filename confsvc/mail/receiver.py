"""The SMTP receiver for expert replies (aiosmtpd), in the server's own event loop.

Recipients outside the mail domain are refused (550: we are no relay); mail larger than
the cap is refused with 552 by aiosmtpd (``SIZE`` is announced in EHLO, so a client may
not even try); everything else is handed to ``Ingest`` and acknowledged only once the
event that keeps it is stored (else 451: the client tries again later).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from confsvc.mail.ingest import Ingest

log = logging.getLogger(__name__)
# aiosmtpd logs every SMTP command at INFO (signed reply addresses included): keep quiet.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class ReplySMTP(SMTP):
    """aiosmtpd's SMTP with a size refusal that says what the limit is, and lines as long
    as real servers take.

    aiosmtpd refuses a line over 1,001 bytes (RFC 5321's limit) with ``500 Line too
    long``; Outlook writes HTML lines far longer and Postfix, Exim and Exchange accept
    them. So a line may be as long as a whole message may be (``data_size_limit``). Every
    refusal of a message is logged: a reply is never refused unseen.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        limit = kwargs.get("data_size_limit") or 0
        self.line_length_limit = max(SMTP.line_length_limit, int(limit) + 2)
        super().__init__(*args, **kwargs)

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 ") and self.data_size_limit:
            status = (
                f"552 5.3.4 Message too big: replies to confsvc may be at most "
                f"{self.data_size_limit} bytes; please send large files as links"
            )
        if isinstance(status, str) and status[:1] == "5":
            peer = self.session.peer if self.session is not None else None
            log.warning("receiver: refused a message from %s: %s", peer, status)
        await super().push(status)


class ReplyHandler:
    def __init__(self, ingest: Ingest, domain: str) -> None:
        self.ingest = ingest
        self.domain = domain.lower()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: Any
    ) -> str:
        if not address.lower().endswith("@" + self.domain):
            return "550 5.7.1 relaying denied: not a confsvc reply address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            outcome = await self.ingest.receive(
                raw, rcpt_tos=list(envelope.rcpt_tos), mail_from=envelope.mail_from or ""
            )
        except Exception:
            log.exception("receiver: storing a mail failed")
            return "451 4.3.0 could not store the message; try again later"
        if outcome.status == "nowhere":
            return "451 4.3.0 no conference is open to take this reply; try again later"
        return "250 2.0.0 stored"


async def start_receiver(
    ingest: Ingest, *, host: str, port: int, domain: str, max_bytes: int
) -> asyncio.Server:
    handler = ReplyHandler(ingest, domain)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: ReplySMTP(
            handler,
            hostname=domain,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="confsvc reply receiver",
        ),
        host,
        port,
    )


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)

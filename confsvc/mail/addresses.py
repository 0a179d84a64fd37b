"""Signed reply addresses, our Message-IDs, and header safety.

A reply address is ``answers+<question-id>.<signature>@<mail domain>``; the signature is
an HMAC of the conference and question with the server's secret, so a forged or altered
address is recognised (and its mail quarantined, never matched). Our Message-IDs carry
the same kind of signature, so ``In-Reply-To``/``References`` find the question too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

LOCAL_PREFIX = "answers"
_QID = r"[a-z0-9][a-z0-9_-]{0,63}"
_ADDR = re.compile(rf"^{LOCAL_PREFIX}\+(?P<q>{_QID})\.(?P<sig>[a-z2-7]{{16}})@(?P<dom>.+)$")
_MID = re.compile(
    rf"^<?cs\.(?P<c>[a-z0-9-]+)\.(?P<q>{_QID})\.(?P<n>[a-z0-9-]+)\.(?P<sig>[a-z2-7]{{16}})@(?P<dom>[^>]+)>?$"
)


class HeaderInjection(ValueError):
    """A value meant for a mail header holds a line break or NUL."""


def safe_header(value: str, what: str) -> str:
    """``value`` unchanged, or ``HeaderInjection`` naming the field (CR, LF, NUL refused)."""
    if any(ch in value for ch in "\r\n\0"):
        raise HeaderInjection(f"{what}: line breaks and NUL are not allowed in mail headers")
    return value


def _sig(secret: bytes, *parts: str) -> str:
    mac = hmac.new(secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()[:10]
    return base64.b32encode(mac).decode("ascii").lower()


def reply_address(secret: bytes, conference: str, question: str, domain: str) -> str:
    safe_header(domain, "mail domain")
    return f"{LOCAL_PREFIX}+{question}.{_sig(secret, 'reply', conference, question)}@{domain}"


def parse_reply_address(
    secret: bytes, conference: str, address: str, domain: str
) -> tuple[str | None, str]:
    """``(question, "address")`` for a good signed address, else ``(claimed or None, reason)``."""
    m = _ADDR.match(address.strip().lower())
    if m is None:
        return None, "not a reply address"
    if m["dom"] != domain.lower():
        return None, f"reply address for another domain {m['dom']!r}"
    good = _sig(secret, "reply", conference, m["q"])
    if not hmac.compare_digest(good, m["sig"]):
        return m["q"], "bad signature on the reply address"
    return m["q"], "address"


def message_id(secret: bytes, conference: str, question: str, nonce: str, domain: str) -> str:
    sig = _sig(secret, "mid", conference, question, nonce)
    return f"<cs.{conference}.{question}.{nonce}.{sig}@{domain}>"


def parse_message_id(secret: bytes, conference: str, mid: str) -> str | None:
    """The question of one of our signed Message-IDs, else ``None``."""
    m = _MID.match(mid.strip().lower())
    if m is None or m["c"] != conference:
        return None
    good = _sig(secret, "mid", conference, m["q"], m["n"])
    return m["q"] if hmac.compare_digest(good, m["sig"]) else None

"""Reading an inbound mail: headers, the answer text, attachments, auto-reply detection.

``parse_mail`` never raises on bad input: malformed MIME, unknown charsets and broken
headers give what could be read plus ``problems``. The raw bytes are kept by the caller
(in the event); everything here is derived from them and can be derived again.

Extraction: the first text/plain part (else the HTML part, turned into text), decoded in
its charset (GB2312 and GBK are read as their superset GB18030), then cut at the quoted
original (``On … wrote:``, ``W dniu … pisze:``, ``… napisał(a):``, Outlook's
``From:/Sent:`` block, ``-----Original Message-----``, ``原始邮件``, ``写道：``, lines
starting with ``>``) and at the signature (``-- ``, "Sent from my …").
"""

from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "windows-936": "gb18030",
    "iso8859-2": "iso-8859-2",
    "latin2": "iso-8859-2",
    "cp1250": "windows-1250",
    "x-cp1250": "windows-1250",
}

# Lines that start the quoted original in common clients (compared after strip()).
_QUOTE_HEADERS = [
    re.compile(r"^On\b.{0,200}\bwrote:\s*$", re.S),  # Gmail, Apple Mail, Thunderbird (en)
    re.compile(r"^W dniu\b.{0,200}\bpisze:\s*$", re.S),  # Thunderbird (pl)
    re.compile(r"^.{0,200}\bnapisał(?:\(a\)|a)?:\s*$", re.S),  # Gmail (pl)
    re.compile(r"^Am\b.{0,200}\bschrieb\b.{0,100}:\s*$", re.S),
    re.compile(
        r"^-{2,}\s*(?:Original Message|Oryginalna wiadomość|Wiadomość oryginalna)\s*-{2,}$", re.I
    ),
    re.compile(r"^-*\s*原始(?:邮件|郵件)\s*-*$"),  # Foxmail, QQ Mail, Outlook (zh)
    re.compile(r"^在.{0,200}写道[:：]\s*$", re.S),  # Chinese clients
    re.compile(r"^_{10,}$"),  # Outlook's rule above the From:/Sent: block
]
_HEADER_BLOCK = re.compile(r"^(?:\*?From|Od|发件人|寄件者)\s*[:：]", re.I)
_HEADER_NEXT = re.compile(
    r"^(?:\*?(?:Sent|Date|To|Subject)|Wysłano|Data|Do|Temat|发送时间|日期|收件人|主题)\s*[:：]",
    re.I,
)
_SIGNATURE = [
    re.compile(r"^--\s*$"),
    re.compile(
        r"^(?:Sent from my|Wysłane z (?:mojego|iPhone|iPada|telefonu)|发自我的|從我的).*$", re.I
    ),
    re.compile(r"^(?:Get Outlook for|Pobierz aplikację Outlook).*$", re.I),
]

_CLOSING = re.compile(
    r"^(?:(?:best|kind|warm)?\s*regards|best wishes|cheers|thanks|thank you|sincerely"
    r"|pozdrawiam(?: serdecznie)?|z poważaniem|z wyrazami szacunku|łączę pozdrowienia"
    r"|此致|祝好|谢谢|敬礼)[,.!，。！]?$",
    re.I,
)


@dataclass(slots=True)
class Inbound:
    message_id: str
    sender: str
    sender_name: str
    subject: str
    recipients: list[str]
    references: list[str]
    auto: bool
    text: str  # the answer, quotes and signature removed (the full text if that is empty)
    full_text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bounce_refs: list[str] = field(default_factory=list)  # Message-IDs a DSN reports on


def _header(msg: Message, name: str, problems: list[str], *, decode: bool = False) -> str:
    """One header as text; with ``decode``, RFC 2047 encoded words are decoded (GB2312
    words are read as GB18030, as clients put GBK bytes in them)."""
    try:
        value = msg.get(name)
    except Exception as exc:  # a header the parser cannot read
        problems.append(f"header {name}: {type(exc).__name__}")
        return ""
    if value is None:
        return ""
    text = str(value)
    if decode:
        text = _decode_words(text, name, problems)
    return " ".join(text.replace("\0", "").split())


def _decode_words(text: str, name: str, problems: list[str]) -> str:
    try:
        parts = decode_header(text)
    except Exception as exc:
        problems.append(f"header {name}: {type(exc).__name__}")
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        cs = CHARSET_ALIASES.get((charset or "ascii").lower(), (charset or "ascii").lower())
        try:
            out.append(chunk.decode(cs, errors="replace"))
        except LookupError:
            problems.append(f"header {name}: unknown charset {cs!r}")
            out.append(chunk.decode("utf-8", errors="replace"))
    # decode_header drops the spaces between an encoded word and plain text
    return (
        "".join(out)
        if all(isinstance(c, bytes) for c, _ in parts)
        else " ".join(o.strip() for o in out)
    )


def _ids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]{1,500}>", text)


def decode_part(part: Message, problems: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        problems.append(f"undecodable part: {type(exc).__name__}")
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower().strip('"')
    charset = CHARSET_ALIASES.get(charset, charset)
    try:
        return payload.decode(charset)
    except LookupError:
        problems.append(f"unknown charset {charset!r}")
    except UnicodeDecodeError:
        problems.append(f"bad bytes for charset {charset!r}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode(charset if _known(charset) else "latin-1", errors="replace")


def _known(charset: str) -> bool:
    try:
        "".encode(charset)
    except LookupError:
        return False
    return True


class _HtmlText(HTMLParser):
    """HTML to plain text; quoted blocks (blockquote, Gmail's quote div) get ``> ``."""

    BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
    )
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.skip = 0
        self.stack: list[tuple[str, bool]] = []

    def _newline(self) -> None:
        if self.lines[-1].strip():
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        quoting = (
            tag == "blockquote"
            or any(
                c in a.get("class", "") for c in ("gmail_quote", "moz-cite-prefix", "yahoo_quoted")
            )
            or a.get("id", "") in ("divRplyFwdMsg", "appendonsend")
        )
        if tag in self.SKIP:
            self.skip += 1
        if tag not in ("br", "hr", "img", "meta", "link", "input"):
            self.stack.append((tag, quoting))
        if quoting:
            self.quote += 1
        if tag in self.BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            t, quoting = self.stack.pop()
            if quoting:
                self.quote -= 1
            if t in self.SKIP:
                self.skip -= 1
            if t == tag:
                break
        if tag in self.BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = " ".join(data.split())
        if not text:
            return
        if not self.lines[-1]:
            self.lines[-1] = ("> " * min(self.quote, 1)) + text
        else:
            self.lines[-1] += (" " if not self.lines[-1].endswith(" ") else "") + text

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines).strip()


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is a last resort
        return re.sub(r"<[^>]*>", " ", html)
    return parser.text()


def extract_answer(text: str) -> str:
    """The new text of a reply: up to the quoted original and the signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        two = (s + " " + lines[i + 1].strip()) if i + 1 < len(lines) else s
        if any(p.match(s) for p in _QUOTE_HEADERS) or (
            s.startswith(("On ", "W dniu ", "在")) and any(p.match(two) for p in _QUOTE_HEADERS)
        ):
            break
        if _HEADER_BLOCK.match(s) and any(
            _HEADER_NEXT.match(n.strip()) for n in lines[i + 1 : i + 4]
        ):
            break
        if any(p.match(line.rstrip("\n")) for p in _SIGNATURE[:1]) or any(
            p.match(s) for p in _SIGNATURE[1:]
        ):
            break
        if s.startswith(">"):
            i += 1
            continue
        out.append(line.rstrip())
        i += 1
    while out and not out[-1].strip():
        out.pop()
    # A closing ("Best regards", "Pozdrawiam", "此致") and a few short lines after it.
    for j in range(len(out) - 1, max(-1, len(out) - 6), -1):
        if _CLOSING.match(out[j].strip()) and all(len(x) < 70 for x in out[j + 1 :]):
            del out[j:]
            break
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return "\n".join(out)


def _is_auto(msg: Message, mail_from: str | None, problems: list[str]) -> bool:
    auto = _header(msg, "Auto-Submitted", problems).lower()
    if auto and auto != "no":
        return True
    if msg.get_content_type() == "multipart/report":
        return True
    if _header(msg, "Precedence", problems).lower() in ("bulk", "junk", "list", "auto_reply"):
        return True
    for name in ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond"):
        if _header(msg, name, problems):
            return True
    sender = parseaddr(_header(msg, "From", problems))[1].lower()
    local = sender.split("@")[0]
    if local in ("mailer-daemon", "postmaster") or mail_from == "":
        return True
    return False


def parse_mail(
    raw: bytes, *, rcpt_tos: list[str] | None = None, mail_from: str | None = None
) -> Inbound:
    """Read ``raw`` (never raises). ``rcpt_tos``/``mail_from`` are the SMTP envelope."""
    problems: list[str] = []
    try:
        msg: Message = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception as exc:  # pragma: no cover - the parser is lenient
        problems.append(f"unparseable: {type(exc).__name__}")
        msg = EmailMessage()
    for defect in getattr(msg, "defects", [])[:10]:
        problems.append(type(defect).__name__)
    mid = _header(msg, "Message-ID", problems)
    ids = _ids(mid)
    message_id = (
        ids[0] if ids else f"<sha256.{hashlib.sha256(raw).hexdigest()[:40]}@confsvc.invalid>"
    )
    # The address is taken from the raw header (addresses are never encoded words), and
    # only the display name is decoded: a decoded name cannot smuggle in another address.
    raw_name, sender = parseaddr(_header(msg, "From", problems))
    name = _decode_words(raw_name, "From", problems) if "=?" in raw_name else raw_name
    recipients = [r.lower() for r in rcpt_tos or []]
    for hname in ("Delivered-To", "X-Original-To", "To", "Cc"):
        try:
            values = msg.get_all(hname) or []
        except Exception:
            values = []
        for _n, addr in getaddresses([str(v) for v in values]):
            if addr and addr.lower() not in recipients:
                recipients.append(addr.lower())
    refs = _ids(_header(msg, "In-Reply-To", problems)) + _ids(_header(msg, "References", problems))
    plain: str | None = None
    html: str | None = None
    attachments: list[dict[str, Any]] = []
    bounce_refs: list[str] = []
    try:
        parts = list(msg.walk())
    except Exception as exc:
        problems.append(f"bad MIME structure: {type(exc).__name__}")
        parts = [msg]
    for part in parts[:500]:
        ctype = part.get_content_type()
        if part.is_multipart():
            continue
        disposition = (part.get_content_disposition() or "").lower()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/delivery-status") or (
            ctype == "message/global-headers"
        ):
            body = part.as_string() if ctype == "message/rfc822" else decode_part(part, problems)
            for m in re.finditer(r"(?im)^Message-ID:\s*(<[^>\s]+>)", body):
                bounce_refs.append(m.group(1))
            continue
        if disposition == "attachment" or (ctype not in ("text/plain", "text/html")):
            try:
                data = part.get_payload(decode=True)
            except Exception:
                data = None
            size = len(data) if isinstance(data, bytes) else 0
            try:
                filename = part.get_filename()
            except Exception:
                filename = None
            attachments.append(
                {
                    "filename": (filename or "").replace("\0", "")[:200] or None,
                    "content_type": ctype,
                    "size": size,
                    "sha256": hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else None,
                }
            )
            continue
        if ctype == "text/plain" and plain is None:
            plain = decode_part(part, problems)
        elif ctype == "text/html" and html is None:
            html = decode_part(part, problems)
    full = plain if plain is not None and plain.strip() else (html_to_text(html) if html else "")
    answer = extract_answer(full)
    return Inbound(
        message_id=message_id,
        sender=sender.lower(),
        sender_name=name,
        subject=_header(msg, "Subject", problems, decode=True)[:500],
        recipients=recipients,
        references=refs,
        auto=_is_auto(msg, mail_from, problems),
        text=answer if answer.strip() else full.strip(),
        full_text=full,
        attachments=attachments,
        problems=problems,
        bounce_refs=bounce_refs,
    )

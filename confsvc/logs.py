"""Logging for the server and the commands: text or JSON lines, a level, no secret in any line.

Every record passes through ``Redactor`` before it is written, in both formats: invite
tokens in ``/j/<token>`` paths and ``?t=``/``?token=`` query strings become ``***``
(``confsvc.http.accesslog.redact``), and so does every secret value registered with
``mask`` (TURN secret and password, passwords inside SMTP, IMAP, PostgreSQL or Redis
URLs). Exception text and tracebacks are redacted too: they are part of the line.

The conference and the request id of a line come from two context variables, set by the
request middleware (``confsvc.http.requestid``) for the request's task and everything it
starts (WebSocket handlers included). What this module is not: the access log's format
(``confsvc.cli.main.run_server``) or its path redaction for text logs (``accesslog``).

JSON lines come from a small ``logging.Formatter`` rather than python-json-logger: the
fields are six fixed ones, ``json.dumps`` does the escaping, and the part that matters
(redaction and the context variables) would be ours with the library too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import unquote, urlsplit

from confsvc.http.accesslog import redact

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

conference_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "confsvc_conference", default=None
)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "confsvc_request_id", default=None
)

_secrets: set[str] = set()
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words


def mask(values: Iterable[str | None]) -> None:
    """Never write these strings in a log line again (this process)."""
    for value in values:
        if value and len(value) >= MIN_SECRET_LEN:
            _secrets.add(value)
            _secrets.add(unquote(value))


def configure(cfg: object) -> None:
    """Logging as the configuration says (``log_level``, ``log_format``), its secrets masked."""
    mask_config(cfg)
    setup_logging(
        level=str(getattr(cfg, "log_level", "info")), fmt=str(getattr(cfg, "log_format", "text"))
    )


def mask_config(cfg: object) -> None:
    """Mask every secret a configuration holds: fields named like a secret or password
    (plain or pydantic ``SecretStr``) and the password inside any URL field."""
    for name, value in vars(cfg).items():
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if not isinstance(value, str):
            continue
        if ("secret" in name or "password" in name) and not name.endswith(("_file", "_path")):
            mask([value])
        mask([url_password(value)])


def url_password(url: str | None) -> str | None:
    """The password inside ``scheme://user:password@host``, if any."""
    if not url or "://" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def clean(text: str) -> str:
    """``text`` with invite tokens and registered secrets replaced by ``***``."""
    text = redact(text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class TextFormatter(logging.Formatter):
    """The classic one-line format, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, conference, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            message += "\n" + self.formatStack(record.stack_info)
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
            "conference": getattr(record, "conference", None) or conference_var.get(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        return clean(json.dumps(line, ensure_ascii=False))


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return TextFormatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {fmt!r} (one of {', '.join(FORMATS)})")


def level_of(name: str) -> int:
    if name not in LEVELS:
        raise ValueError(f"unknown log level {name!r} (one of {', '.join(LEVELS)})")
    return int(getattr(logging, name.upper()))


def setup_logging(
    *, level: str = "info", fmt: str = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger with one handler on ``stream`` (stderr); return it.

    Replaces handlers a previous call installed, so calling it twice is harmless.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.set_name("confsvc")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "confsvc":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_of(level))
    # Chatty at info; their warnings still show.
    for noisy in ("aiortc", "aioice"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level_of(level)))
    return handler

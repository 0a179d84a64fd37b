"""Upload forms (multipart/form-data): authenticated first, read within bounds, or a 400.

The token is taken from ``Authorization: Bearer``, ``?token=`` or — for ``curl -F`` and
plain HTML forms — the form's *first* field named ``token``; nothing after it is read
until it has been checked, so an anonymous client never gets the body parsed. Parts are
read in chunks up to ``max_bytes`` in all (and at most ``MAX_PARTS`` of them), within
``timeout_s``; anything aiohttp's multipart reader cannot make sense of becomes a
``BadRequest`` naming the problem, never a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import BodyPartReader, web

from confsvc.core.errors import BadRequest, DomainError, Forbidden

MAX_PARTS = 16
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


def header_token(request: web.Request) -> str | None:
    """The token from ``Authorization: Bearer`` or ``?token=``, if either is there."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :].strip() or None
    return request.query.get("token") or None


async def read_form(
    request: web.Request,
    authenticate: Callable[[str], Awaitable[T]],
    *,
    max_bytes: int,
    timeout_s: float,
) -> tuple[T, dict[str, str | Upload]]:
    """``authenticate(token)``'s result and the form's fields (text or ``Upload``)."""
    token = header_token(request)
    who: T | None = await authenticate(token) if token is not None else None
    if not request.content_type.startswith("multipart/form-data"):
        if who is None:
            raise Forbidden.keyed("token.needed", how=" (Authorization: Bearer, or field token)")
        raise BadRequest.keyed("upload.form")
    if request.content_length is not None and request.content_length > max_bytes:
        raise BadRequest.keyed("upload.size", max=max_bytes // (1024 * 1024))
    fields: dict[str, str | Upload] = {}
    try:
        async with asyncio.timeout(timeout_s):
            reader = await request.multipart()
            left = max_bytes
            for _ in range(MAX_PARTS + 1):
                part = await reader.next()
                if part is None:
                    break
                if len(fields) >= MAX_PARTS:
                    raise BadRequest.keyed("upload.fields", max=MAX_PARTS)
                if not isinstance(part, BodyPartReader):
                    raise BadRequest.keyed("upload.nested")
                data = await _read_part(part, left, max_bytes)
                left -= len(data)
                name = part.name or ""
                if who is None:
                    if name != "token":
                        raise Forbidden.keyed(
                            "token.needed",
                            how=": Authorization: Bearer, ?token=, or token as the form's first field",
                        )
                    who = await authenticate(data.decode("utf-8"))
                    continue
                if part.filename is not None:
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    fields[name] = Upload(part.filename, content_type, data)
                else:
                    fields[name] = data.decode(part.get_charset("utf-8"))
    except DomainError:
        raise
    except TimeoutError:
        raise BadRequest(f"the form did not arrive within {timeout_s:g} s") from None
    except Exception as exc:  # aiohttp's reader raises ValueError, AssertionError, LookupError…
        raise BadRequest(f"the body is not valid multipart/form-data ({exc!s:.120})") from None
    if who is None:
        raise Forbidden.keyed("token.needed", how=" (Authorization: Bearer, or field token)")
    return who, fields


async def _read_part(part: BodyPartReader, left: int, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await part.read_chunk(64 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > left:
            raise BadRequest.keyed("upload.size", max=max_bytes // (1024 * 1024))
        chunks.append(chunk)
    return bytes(part.decode(b"".join(chunks)))

"""What a recordings directory holds, and signed links to its files.

``DIR/<conference>/`` holds, per part of a take (``confsvc.media.recorder``):
``<part>-<source>.webm`` (a site, a channel, or ``program``), ``<part>-program.vtt``
and ``<part>.json``; ``<part>`` is ``take<N>-<YYYYmmddTHHMMSSZ>``. ``list_files`` reads
that back for ``confsvc recording list`` and the organiser's page; nothing else is
served from the directory (a name that is not one of these is never opened).

A download link is signed (HMAC-SHA256 of conference, file name and expiry with the
node's secret), so an organiser can hand it on without their invite link; it expires.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confsvc.core.agenda import ID_PATTERN

NAME = re.compile(
    r"^(?P<part>take(?P<take>[0-9]{1,4})-(?P<stamp>[0-9]{8}T[0-9]{6}Z))"
    r"(?:-(?P<source>[a-z0-9][a-z0-9_-]{0,63}))?\.(?P<ext>webm|vtt|json)$"
)
LINK_TTL_S = 24 * 3600
CONFERENCE = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFile:
    name: str
    part: str
    take: int
    started_at: float
    source: str | None  # a site, a channel, "program"; None for the manifest
    kind: str  # "webm" | "vtt" | "json"
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "part": self.part,
            "take": self.take,
            "started_at": self.started_at,
            "source": self.source,
            "kind": self.kind,
            "bytes": self.bytes,
        }


def conference_dir(root: Path, conference: str) -> Path:
    if not CONFERENCE.fullmatch(conference):
        raise ValueError(f"not a conference id: {conference!r}")
    return root / conference


def parse_name(name: str) -> RecordingFile | None:
    m = NAME.match(name)
    if m is None:
        return None
    started = dt.datetime.strptime(m["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return RecordingFile(
        name=name,
        part=m["part"],
        take=int(m["take"]),
        started_at=started.timestamp(),
        source=m["source"],
        kind=m["ext"],
        bytes=0,
    )


def list_files(root: Path, conference: str) -> list[RecordingFile]:
    """The conference's recording files, oldest part first, the program first in each."""
    directory = conference_dir(root, conference)
    if not directory.is_dir():
        return []
    out = []
    for path in directory.iterdir():
        parsed = parse_name(path.name)
        if parsed is None or not path.is_file():
            continue
        out.append(dataclasses.replace(parsed, bytes=path.stat().st_size))
    order = {"webm": 0, "vtt": 1, "json": 2}
    out.sort(
        key=lambda f: (f.started_at, f.part, f.source != "program", order[f.kind], f.source or "")
    )
    return out


def find(root: Path, conference: str, name: str) -> Path | None:
    """The path of ``name`` if it is one of the conference's recording files."""
    if parse_name(name) is None:
        return None
    path = conference_dir(root, conference) / name
    return path if path.is_file() else None


def sign(secret: bytes, conference: str, name: str, expires: int) -> str:
    msg = f"recording\0{conference}\0{name}\0{expires}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


def signed_query(secret: bytes, conference: str, name: str, now: float) -> str:
    expires = int(now) + LINK_TTL_S
    return f"exp={expires}&sig={sign(secret, conference, name, expires)}"


def check_signature(
    secret: bytes, conference: str, name: str, expires: str, sig: str, now: float
) -> str | None:
    """``None`` if the link is good, else what is wrong with it."""
    if not expires.isdigit():
        return "the link has no expiry"
    if int(expires) < now:
        return "the link has expired: open the recordings page again for a new one"
    if not hmac.compare_digest(sign(secret, conference, name, int(expires)), sig):
        return "the link's signature is wrong"
    return None

"""Writing WebSocket frames: built once per broadcast, written once per loop turn.

What this module is not: the connection (``confsvc.http.wsconn``) or the protocol
(``confsvc.http.ws``); it knows bytes and the event loop, nothing of confsvc.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Protocol


class Flushable(Protocol):
    def flush(self) -> None: ...


def text_frame(text: str) -> bytes:
    """One unmasked, uncompressed WebSocket text frame (RFC 6455 section 5.2).

    Server frames are the same bytes for every client, so a broadcast builds each frame
    once and writes it to every socket (see ``Connection.deliver``).
    """
    data = text.encode("utf-8")
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + data


class FrameCache:
    """The frame of the text being broadcast: a hub hands the same str to every listener."""

    text: str | None = None
    frame: bytes = b""

    def get(self, text: str) -> bytes:
        if text is not self.text:
            self.text, self.frame = text, text_frame(text)
        return self.frame


frames = FrameCache()


class Flusher:
    """Writes what each connection got during one turn of the event loop in one system
    call: an on-air change (question, floor, run of show) is three frames but one write."""

    def __init__(self) -> None:
        self.due: list[Flushable] = []
        self.scheduled = False

    def mark(self, conn: Flushable) -> None:
        self.due.append(conn)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        due, self.due, self.scheduled = self.due, [], False
        for conn in due:
            conn.flush()


flusher = Flusher()

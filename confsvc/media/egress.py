"""Participants of a room that have no connection: the recorder, the program, the broadcast.

Galene's disk writer joins a group as one more client; ours join a ``room.Room`` the same
way a viewer's ``fanout.ForwardTrack`` does, through ``room.Subscriber``. A ``Tap`` is
that subscriber: the room's rules decide what reaches it (audio only from the sites on
the floor, video from a keyframe on, gated again after a loss), and each frame it is
given goes, still encoded, to a callback. Nothing here decodes, packetizes or sends.

``Timeline`` turns a source's RTP timestamps into milliseconds on the egress's own clock
(arrival, kept steady by the timestamps), which is what a file or a transcoder needs
when sources come and go.

What this module is not: files (``confsvc.media.webm``), the floor (``program.py``) or
when a recording runs (``recorder.py`` asks ``confsvc.core.recording``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confsvc.media.room import KeyframeGate, Room

log = logging.getLogger(__name__)

CLOCK_RATE = {"video": 90000, "audio": 48000}
# A timestamp this far from where arrival puts it: another publisher, or a gap. Rebase.
REBASE_MS = 1000.0
_HALF = 1 << 31

# (tap, frame as the site sent it, RTP timestamp on the slot's timeline, keyframe)
OnFrame = Callable[["Tap", bytes, int, bool], None]


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame's header (RFC 6386 §9.1), else ``None``."""
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class Tap:
    """One egress's subscription to one slot (site, kind): frames to ``on_frame``.

    A ``room.Subscriber``: the room holds it in the slot's set like any viewer's track
    and its ``KeyframeGate`` starts at once (there is no connection to wait for), so a
    video tap asks the site for a keyframe when it joins.
    """

    def __init__(self, room: Room, site: str, kind: str, on_frame: OnFrame) -> None:
        self.room = room
        self.site = site
        self.kind = kind
        self.gate = KeyframeGate(kind)
        self.on_frame = on_frame
        self.stopped = False

    def __repr__(self) -> str:
        return f"Tap({self.room.conference}, {self.site}, {self.kind})"

    def join(self) -> None:
        self.room.subscribe(self)
        if self.gate.start():
            self.room.request_keyframe(self.site)

    def leave(self) -> None:
        self.room.remove_track(self)

    def deliver(self, frame: Any) -> None:
        """A frame from the slot's forwarder (``fanout.Frame``: ``data`` as published)."""
        if self.stopped or not self.gate.admit(frame.keyframe):
            return
        self.gate.forwarded += 1
        try:
            self.on_frame(self, frame.data, frame.timestamp, frame.keyframe)
        except Exception:  # one broken writer must not break the room's fan-out
            log.exception("%r: the egress failed on a frame", self)

    def count(self, into: dict[str, int]) -> None:
        """Nothing: the relay's totals count what went out on the network."""

    def retire(self, into: dict[str, int]) -> None:
        """Nothing to retire (see ``count``)."""

    def stop(self) -> None:
        self.stopped = True


class Timeline:
    """One source's RTP timestamps as milliseconds on the egress clock.

    Starts where the first frame arrived; then follows the timestamps (steady, unlike
    arrival), unless they stray ``REBASE_MS`` from arrival (a new publisher continues
    the slot's timeline with a small step, not the real gap), and rebases there.
    """

    __slots__ = ("_base_ms", "_base_rtp", "rate", "rebases")

    def __init__(self, kind: str) -> None:
        self.rate = CLOCK_RATE[kind] / 1000.0
        self._base_rtp: int | None = None
        self._base_ms = 0.0
        self.rebases = 0

    def ms(self, rtp: int, arrival_ms: float) -> float:
        if self._base_rtp is None:
            self._base_rtp, self._base_ms = rtp, arrival_ms
            return arrival_ms
        delta = (rtp - self._base_rtp) & 0xFFFFFFFF
        if delta >= _HALF:
            delta -= 1 << 32
        at = self._base_ms + delta / self.rate
        if abs(at - arrival_ms) > REBASE_MS:
            self.rebases += 1
            self._base_rtp, self._base_ms = rtp, arrival_ms
            return arrival_ms
        if abs(delta) > _HALF // 2:  # keep clear of the 32-bit wrap
            self._base_rtp, self._base_ms = rtp, at
        return at

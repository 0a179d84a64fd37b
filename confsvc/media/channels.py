"""A listener's interpretation channel: one pre-negotiated audio track, its source switched.

Every listener that asks for it (``rtc.offer`` with ``channel: true``) gets one more
``sendonly`` audio section beside the sites' ones. Its ``ChannelTrack`` starts in no
slot (the listener hears the original only); ``rtc.channel`` moves it into a channel's
slot (``room.channel_slot``) or out again (``Room.switch``), so changing channel never
renegotiates and a listener receives at most one channel besides the floor. The Opus
frames are the interpreter's as received (``room.VoiceFeed``), packetized once per
channel by the slot's fan-out like any site's audio.

What this module adds to ``fanout.ForwardTrack``: a switch re-bases the leg's RTP
timestamps so the listener's stream goes on from where it was (another slot has another
timeline), and the time from the switch to the first packet sent from the new source is
kept (``switch_ms``, the bench's figure).

Not for who is on air in a channel (``confsvc.core.interpretation`` decides, the room
obeys) nor for the signalling (``confsvc.media.interpretation``).
"""

from __future__ import annotations

import time
from typing import Any

from aiortc import RTCRtpSender

from confsvc.media.fanout import ForwardTrack, Frame, Leg
from confsvc.media.room import STEP, Room, channel_slot

SWITCHES_KEPT = 50


class ChannelTrack(ForwardTrack):
    """The audio a listener's "channel" transceiver sends: one channel's slot, or none."""

    def __init__(self, room: Room, leg: Leg | None) -> None:
        super().__init__(room, "", "audio", leg)
        self.channel: str | None = None
        self._last_ts: int | None = None  # the last RTP timestamp sent on this leg
        self._rebase = False
        self._switched_at: float | None = None
        self.switch_ms: list[float] = []

    def __repr__(self) -> str:
        return f"ChannelTrack({self.room.conference}, {self.channel or 'original'})"

    def choose(self, channel: str | None) -> bool:
        """Receive ``channel`` (None: none, the original only) from its next frame on."""
        if not self.room.switch(self, channel_slot(channel) if channel else ""):
            return False
        self.channel = channel
        self._rebase = True
        self._switched_at = time.perf_counter() if channel else None
        return True

    def deliver(self, frame: Frame) -> None:
        leg = self.leg
        if leg is None:
            return
        if self._rebase and self._last_ts is not None:
            # Go on from the last timestamp sent: one frame later, whatever the new slot's.
            leg.ts_origin = (self._last_ts + STEP["audio"] - frame.timestamp) & 0xFFFFFFFF
        before = leg.packets
        super().deliver(frame)
        if leg.packets == before:
            return
        self._rebase = False
        self._last_ts = (leg.ts_origin + frame.timestamp) & 0xFFFFFFFF
        if self._switched_at is not None:
            self.switch_ms.append(round((time.perf_counter() - self._switched_at) * 1000, 3))
            del self.switch_ms[:-SWITCHES_KEPT]
            self._switched_at = None

    def stats(self) -> dict[str, Any]:
        return {"channel": self.channel, "switch_ms": self.switch_ms[-10:]}


def subscribe_channel(room: Room, sender: RTCRtpSender) -> ChannelTrack:
    """A new channel track for ``sender``, in no slot yet (the listener hears the original)."""
    return ChannelTrack(room, Leg(sender, "audio"))

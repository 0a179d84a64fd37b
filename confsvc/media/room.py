"""One conference's media room: slots, the floor and keyframe gating, without any I/O.

Theory of operation. A room has one slot per (site, kind). A publishing site's
``SiteFeed`` puts each frame on its slot's timeline and hands it, with the slot's
subscribers, to the slot's ``Forwarder``; each subscriber's ``KeyframeGate`` then says
whether that frame may reach it. Every rule about what a subscriber is sent lives here:

- video of every publishing site goes to its subscribers; audio only from the sites on
  the floor (``Room.set_floor``; who has the floor is ``confsvc.core.floor``'s decision);
- a video subscriber starts on a keyframe, and asks the publisher for one when its
  connection comes up (``KeyframeGate.start``);
- a frame lost before the server gates every video subscriber of that site until the
  next keyframe (``SiteFeed.on_loss``); so does a frame a subscriber's connection could
  not take, and that subscriber asks for a keyframe;
- keyframe requests (PLI) reach a publisher at most once per ``PLI_INTERVAL_S``; later
  ones are merged into one at the end of the interval (``SiteFeed.request_keyframe``);
- a slot's timeline never goes back: a new publisher of the same site continues it;
- an interpretation channel is a slot too (``channel_slot``: its audio only): an
  interpreter's ``VoiceFeed`` reaches it only while the booth has that interpreter on
  air (``Room.set_interpretation``, ``confsvc.core.interpretation``'s decision), and
  continues the channel's timeline across handovers; a listener's pre-negotiated
  channel track moves between channel slots (``Room.switch``), never renegotiated.

What this module is not: RTP, aiortc or the event loop. The forwarding
(``confsvc.media.fanout``) and the connections (``confsvc.media.peer``) plug in through
``Forwarder`` and ``Subscriber``; time comes from the ``Clock`` passed in (the relay's
``LoopClock``), so ``tests/unit/test_media_room.py`` drives it without a sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

PLI_INTERVAL_S = 0.3
FLOOR_CHANGES_KEPT = 50
# RTP ticks per frame, used to keep a slot's timeline moving forward across publishers.
STEP = {"video": 3000, "audio": 960}


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """The room's time: the event loop's in the server (``relay.LoopClock``), a fake in tests."""

    def monotonic(self) -> float: ...

    def wall(self) -> float:
        """Seconds since the epoch, comparable with an event's ``at``."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class KeyframeGate:
    """What one subscriber of one slot may be shown: video starts and resumes on a keyframe."""

    __slots__ = ("dropped", "forwarded", "kind", "need_keyframe", "on_gap", "started")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.started = False
        self.need_keyframe = kind == "video"
        self.forwarded = 0
        self.dropped = 0
        # Called when a gap makes video wait for a keyframe: a subscriber whose frames go
        # out without asking the gate (the C fan-out) hands them back to it here.
        self.on_gap: Callable[[], None] | None = None

    def start(self) -> bool:
        """The subscriber's connection is up; ``True`` once for video: ask for a keyframe."""
        if self.started:
            return False
        self.started = True
        return self.kind == "video"

    def admit(self, keyframe: bool) -> bool:
        """Started, and (for video) on a keyframe or past one since the last gap."""
        if not self.started:
            return False
        if self.need_keyframe:
            if not keyframe:
                self.dropped += 1
                return False
            self.need_keyframe = False
        return True

    def wait_for_keyframe(self) -> bool:
        """A gap (lost upstream, or not sent): ``True`` if this subscriber now waits (video)."""
        if self.kind != "video":
            return False
        self.need_keyframe = True
        if self.on_gap is not None:
            self.on_gap()
        return True


class Subscriber(Protocol):
    """What a slot holds for each subscriber (``fanout.ForwardTrack`` in the server)."""

    site: str
    kind: str
    gate: KeyframeGate

    def deliver(self, frame: Any) -> None:
        """A frame as the slot's ``Forwarder`` made it."""
        ...

    def count(self, into: dict[str, int]) -> None:
        """Add what it has sent (``relay.TOTALS``) to ``into``."""
        ...

    def retire(self, into: dict[str, int]) -> None:
        """``count`` for the last time, then forget its own counts."""
        ...

    def stop(self) -> None: ...


class Forwarder(Protocol):
    """One slot's forwarding: a frame to its subscribers (``fanout.SlotFanout``)."""

    def forward(
        self, data: bytes, pts: int, keyframe: bool, subscribers: tuple[Subscriber, ...]
    ) -> None: ...


@dataclass(eq=False)
class Slot:
    """One (site, kind): who receives it, its forwarder, a timeline that never goes back."""

    forwarder: Forwarder
    tracks: set[Subscriber] = field(default_factory=set)
    last_pts: int = 0


class SiteFeed:
    """A site's published audio and video: frames onto the slots, losses, keyframe requests.

    ``send_pli`` is set by the peer that taps the site's receivers (``None``: nobody to
    ask); ``peer`` is that peer, opaque here.
    """

    def __init__(self, room: Room, site: str, peer: object) -> None:
        self.room = room
        self.site = site
        self.peer = peer
        self.send_pli: Callable[[], None] | None = None
        self.frames = {"audio": 0, "video": 0}
        self.keyframes = 0
        self.losses = 0
        self.plis = 0
        self._bases: dict[str, int | None] = {"audio": None, "video": None}
        self._last_pli: float | None = None
        self._pli_timer: Timer | None = None

    def __repr__(self) -> str:
        return f"SiteFeed({self.room.conference}, {self.site})"

    def _stamp(self, kind: str, timestamp: int) -> int:
        """The frame's time on the slot's timeline (a new publisher continues, not restarts)."""
        slot = self.room.slot(self.site, kind)
        base = self._bases[kind]
        if base is None:
            base = self._bases[kind] = slot.last_pts + STEP[kind] - timestamp
        pts = timestamp + base
        slot.last_pts = pts
        return pts

    def on_audio(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        self.frames["audio"] += 1
        pts = self._stamp("audio", timestamp)
        if self.site in self.room.floor:
            self.room.forward(self.site, "audio", data, pts, True)

    def on_video(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        self.frames["video"] += 1
        if keyframe:
            self.keyframes += 1
        pts = self._stamp("video", timestamp)
        self.room.forward(self.site, "video", data, pts, keyframe)

    def on_loss(self) -> None:
        """A frame was lost before the server (aiortc has sent a PLI itself)."""
        self.losses += 1
        self._last_pli = self.room.clock.monotonic()
        for track in self.room.slot(self.site, "video").tracks:
            track.gate.wait_for_keyframe()

    def request_keyframe(self) -> None:
        """PLI to the publisher, at most one per ``PLI_INTERVAL_S`` (later ones are merged)."""
        if self.send_pli is None or self._pli_timer is not None:
            return
        clock = self.room.clock
        wait = 0.0
        if self._last_pli is not None:
            wait = self._last_pli + PLI_INTERVAL_S - clock.monotonic()
        if wait > 0:
            self._pli_timer = clock.call_later(wait, self._pli_now)
        else:
            self._pli_now()

    def _pli_now(self) -> None:
        self._pli_timer = None
        if self.send_pli is None:
            return
        self._last_pli = self.room.clock.monotonic()
        self.plis += 1
        self.send_pli()

    def detach(self) -> None:
        """Ask the publisher for nothing more (its peer is closing)."""
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None
        self.send_pli = None

    def stats(self) -> dict[str, Any]:
        return {
            "video_frames": self.frames["video"],
            "audio_frames": self.frames["audio"],
            "keyframes": self.keyframes,
            "losses": self.losses,
            "plis": self.plis,
        }


CHANNEL_PREFIX = "channel:"


def channel_slot(channel: str) -> str:
    """The slot key of interpretation channel ``channel`` (a language): its audio is the
    slot (``channel_slot("pl")``, "audio"), which any ``Subscriber`` may join."""
    return f"{CHANNEL_PREFIX}{channel}"


class VoiceFeed:
    """An interpreter's published audio: into its channel's slot while it is on air."""

    def __init__(self, room: Room, interpreter: str, channel: str, peer: object) -> None:
        self.room = room
        self.interpreter = interpreter
        self.channel = channel
        self.peer = peer
        self.frames = 0
        self.forwarded = 0
        self._base: int | None = None

    def __repr__(self) -> str:
        return f"VoiceFeed({self.room.conference}, {self.interpreter} -> {self.channel})"

    @property
    def on_air(self) -> bool:
        return self.room.voices_on_air.get(self.channel) == self.interpreter

    def on_audio(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        self.frames += 1
        if not self.on_air:
            self._base = None  # back on air: continue the channel's timeline from there
            return
        key = channel_slot(self.channel)
        slot = self.room.slot(key, "audio")
        if self._base is None:
            self._base = slot.last_pts + STEP["audio"] - timestamp
        pts = timestamp + self._base
        slot.last_pts = pts
        self.forwarded += 1
        self.room.forward(key, "audio", data, pts, True)

    def stats(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "audio_frames": self.frames,
            "forwarded": self.forwarded,
            "on_air": self.on_air,
        }


class Room:
    """One conference's media: slots, the sites publishing, and the floor.

    ``forwarder(kind)`` makes each new slot's ``Forwarder``; ``retired`` collects the
    counts of subscribers and feeds that left (the relay's, so its totals never go back).
    """

    def __init__(
        self,
        conference: str,
        floor: list[str],
        *,
        clock: Clock,
        forwarder: Callable[[str], Forwarder],
        retired: dict[str, int] | None = None,
    ) -> None:
        self.conference = conference
        self.clock = clock
        self.floor: set[str] = set(floor)
        self.feeds: dict[str, SiteFeed] = {}
        self.slots: dict[tuple[str, str], Slot] = {}
        self.peers: set[Any] = set()
        # Participants without a connection (``egress``: the recorder, the program, the
        # broadcast): their subscriptions are ordinary ``Subscriber``s; they keep the room.
        self.egresses: set[Any] = set()
        # Interpreters publishing (by interpreter id) and whom each channel forwards.
        self.voices: dict[str, VoiceFeed] = {}
        self.voices_on_air: dict[str, str] = {}
        self.channel_changes: list[dict[str, Any]] = []
        self.floor_changes: list[dict[str, Any]] = []
        self.on_sites_changed: Callable[[Room], None] | None = None
        self.retired: dict[str, int] = retired if retired is not None else {}
        self._forwarder = forwarder

    def __repr__(self) -> str:
        return f"Room({self.conference})"

    def slot(self, site: str, kind: str) -> Slot:
        key = (site, kind)
        s = self.slots.get(key)
        if s is None:
            s = self.slots[key] = Slot(self._forwarder(kind))
        return s

    def subscribe(self, track: Subscriber) -> None:
        self.slot(track.site, track.kind).tracks.add(track)

    def forward(self, site: str, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        s = self.slots.get((site, kind))
        if s is None or not s.tracks:
            return
        s.forwarder.forward(data, pts, keyframe, tuple(s.tracks))

    def request_keyframe(self, site: str) -> None:
        feed = self.feeds.get(site)
        if feed is not None:
            feed.request_keyframe()

    def set_floor(self, sites: list[str], decided_at: float | None = None) -> bool:
        """Audio from ``sites`` only, from the next frame on; ``False`` if nothing changed."""
        new = set(sites)
        if new == self.floor:
            return False
        self.floor = new
        now = self.clock.wall()
        entry: dict[str, Any] = {"floor": sorted(new), "at": now}
        if decided_at is not None:
            # From the command's decision (the event's time) to audio gated here.
            entry["gate_ms"] = round((now - decided_at) * 1000, 2)
        self.floor_changes.append(entry)
        del self.floor_changes[:-FLOOR_CHANGES_KEPT]
        log.info("%r: floor %s (%s ms after the decision)", self, sorted(new), entry.get("gate_ms"))
        return True

    def set_interpretation(self, on_air: dict[str, str], decided_at: float | None = None) -> bool:
        """Forward channel → interpreter from the next frame on; ``False`` if unchanged."""
        if on_air == self.voices_on_air:
            return False
        self.voices_on_air = dict(on_air)
        now = self.clock.wall()
        entry: dict[str, Any] = {"on_air": dict(on_air), "at": now}
        if decided_at is not None:
            entry["gate_ms"] = round((now - decided_at) * 1000, 2)
        self.channel_changes.append(entry)
        del self.channel_changes[:-FLOOR_CHANGES_KEPT]
        log.info("%r: interpretation on air %s", self, on_air)
        return True

    def attach_voice(self, feed: VoiceFeed) -> Any:
        """Make ``feed`` its interpreter's voice; return the peer it replaces, or None."""
        old = self.voices.get(feed.interpreter)
        self.voices[feed.interpreter] = feed
        return old.peer if old is not None and old.peer is not feed.peer else None

    def detach_voice(self, feed: VoiceFeed) -> None:
        if self.voices.get(feed.interpreter) is feed:
            del self.voices[feed.interpreter]

    def switch(self, track: Subscriber, site: str) -> bool:
        """Move ``track`` to slot (``site``, its kind) from the next frame on ("" for none:
        it then receives nothing); ``False`` if it is there already."""
        if track.site == site:
            return False
        old = self.slots.get((track.site, track.kind))
        if old is not None:
            old.tracks.discard(track)
        track.site = site
        if site:
            self.slot(site, track.kind).tracks.add(track)
        return True

    def live_sites(self) -> list[str]:
        return sorted(self.feeds)

    def attach_feed(self, feed: SiteFeed) -> Any:
        """Make ``feed`` the site's feed; return the peer it replaces (to be closed), or None."""
        old = self.feeds.get(feed.site)
        self.feeds[feed.site] = feed
        self._sites_changed()
        return old.peer if old is not None and old.peer is not feed.peer else None

    def detach_feed(self, feed: SiteFeed) -> None:
        self.retired["plis"] = self.retired.get("plis", 0) + feed.plis
        feed.plis = 0
        feed.detach()
        if self.feeds.get(feed.site) is feed:
            del self.feeds[feed.site]
            self._sites_changed()

    def _sites_changed(self) -> None:
        if self.on_sites_changed is not None:
            try:
                self.on_sites_changed(self)
            except Exception:
                log.exception("%r: sites-changed hook failed", self)

    def remove_track(self, track: Subscriber) -> None:
        s = self.slots.get((track.site, track.kind))
        if s is not None:
            s.tracks.discard(track)
        track.retire(self.retired)
        track.stop()

    def idle(self) -> bool:
        return not self.peers and not self.feeds and not self.egresses and not self.voices

    def stats(self) -> dict[str, Any]:
        return {
            "floor": sorted(self.floor),
            "sites": {site: feed.stats() for site, feed in self.feeds.items()},
            "subscribers": {
                f"{site}/{kind}": len(s.tracks) for (site, kind), s in self.slots.items()
            },
            "floor_changes": self.floor_changes[-10:],
            "voices": {i: feed.stats() for i, feed in self.voices.items()},
            "channel_changes": self.channel_changes[-10:],
        }

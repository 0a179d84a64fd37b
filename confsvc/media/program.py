"""The program: one feed of the conference that follows the floor, still encoded.

Contract (for the program file in ``confsvc.media.recorder`` and the broadcast's
transcoder in ``confsvc.media.hls``):

- ``Program(room, sites, clock=...)`` joins ``room`` as a participant: one
  ``egress.Tap`` (a ``room.Subscriber``, like any viewer's track) per site and kind.
  ``close()`` leaves it (idempotent). It runs on the event loop.
- The program's source is the first site, in ``sites`` order (the agenda's), that is on
  the floor (``room.floor``) and publishing; with nobody on the floor it keeps the
  source it has (or takes the first publishing site). ``source`` is that site.
- Video is switched at keyframes only: when the floor moves, the new site is asked for
  one (PLI through ``room.request_keyframe``, again every ``ASK_AGAIN_S`` while none
  came) and the old site's video goes on until it arrives. Audio is the source's
  audio, switched at once (Opus needs no keyframe; the room forwards audio only from
  the sites on the floor). Nothing is decoded or re-encoded.
- ``add_consumer(c)`` / ``remove_consumer(c)``: ``c.program_packet(packet)`` is called
  with every ``ProgramPacket``, in order, on the event loop; it must not block (queue
  the work to a thread of its own). A consumer's first packet is a video keyframe:
  nothing reaches it before one (the source is asked for one when it is added).
  ``c.program_closed()`` is called once when the program closes or the consumer is
  removed. An exception in a consumer is logged and does not reach the others.
- One program per conference on a node, shared by its consumers: ``Programs.of(relay)``
  ``.join(conference, sites, floor, consumer)`` makes it (holding the room, ``Relay.hold``) or
  adds the consumer to it; ``.leave(conference, consumer)`` removes it, and the last
  consumer to leave closes the program and lets the room go.
- ``ProgramPacket.timestamp`` is in RTP ticks of the kind's clock (90 kHz video,
  48 kHz audio) on the source site's timeline: it jumps when the source changes, so a
  consumer keeps its own clock from ``arrival`` (``time.monotonic()`` seconds, the
  clock's ``monotonic``) smoothed by the timestamps (``egress.Timeline``,
  ``hls.Timeline``). ``site`` says whose it is; ``switches`` counts source changes.

What this module is not: files, transcoding, or the floor's rules (``confsvc.core.floor``
decides, the relay sets ``room.floor``; the program only reads it).
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from confsvc.media.egress import Tap
from confsvc.media.room import Clock, Room

if TYPE_CHECKING:
    from confsvc.media.relay import Relay

log = logging.getLogger(__name__)

ASK_AGAIN_S = 1.0  # a keyframe asked for and not seen: ask the new source again


@dataclass(frozen=True, slots=True)
class ProgramPacket:
    """One encoded frame of the program: VP8 video (90 kHz) or Opus audio (48 kHz)."""

    kind: str  # "video" | "audio"
    data: bytes
    timestamp: int  # RTP ticks of the kind's clock, on the source site's timeline
    keyframe: bool
    arrival: float  # the clock's monotonic() when the server had it
    site: str = ""  # the site it came from


class ProgramConsumer(Protocol):
    def program_packet(self, packet: ProgramPacket) -> None: ...

    def program_closed(self) -> None: ...


class Program:
    """A room participant that follows the floor (see the module's contract)."""

    def __init__(self, room: Room, sites: list[str], *, clock: Clock) -> None:
        self.room = room
        self.sites = list(sites)
        self.clock = clock
        self.source: str | None = None  # whose video is in the program now
        self.switches = 0
        self.packets = 0
        self.closed = False
        self._wanted: str | None = None  # whose video we wait for (a keyframe)
        self._asked_at = 0.0
        self._consumers: dict[ProgramConsumer, bool] = {}  # consumer -> started
        self._taps: list[Tap] = []
        for site in self.sites:
            self.add_site(site)

    def __repr__(self) -> str:
        return f"Program({self.room.conference}, source={self.source})"

    def add_site(self, site: str) -> None:
        """Follow one more site (the agenda's sites are followed from the start)."""
        if any(t.site == site for t in self._taps):
            return
        if site not in self.sites:
            self.sites.append(site)
        for kind, handler in (("audio", self._on_audio), ("video", self._on_video)):
            tap = Tap(self.room, site, kind, handler)
            self._taps.append(tap)
            tap.join()

    def add_consumer(self, consumer: ProgramConsumer) -> None:
        self._consumers[consumer] = False
        if self.source is not None:
            self.room.request_keyframe(self.source)

    def remove_consumer(self, consumer: ProgramConsumer) -> None:
        if self._consumers.pop(consumer, None) is not None:
            self._closed(consumer)

    def choose(self) -> str | None:
        """The site whose video the program should carry now."""
        publishing = self.room.feeds
        for site in self.sites:
            if site in self.room.floor and site in publishing:
                return site
        if self.source is not None and self.source in publishing:
            return self.source
        return next((s for s in self.sites if s in publishing), None)

    def _on_video(self, tap: Tap, data: bytes, timestamp: int, keyframe: bool) -> None:
        wanted = self.choose()
        now = self.clock.monotonic()
        if wanted != self._wanted or (
            wanted != self.source and now - self._asked_at >= ASK_AGAIN_S
        ):
            self._wanted = wanted
            self._asked_at = now
            if wanted is not None and wanted != self.source:
                self.room.request_keyframe(wanted)
        if tap.site == self._wanted and tap.site != self.source and keyframe:
            log.info("%r: video switches to %s", self, tap.site)
            self.source = tap.site
            self.switches += 1
        if tap.site == self.source:
            self._emit(ProgramPacket("video", data, timestamp, keyframe, now, tap.site))

    def _on_audio(self, tap: Tap, data: bytes, timestamp: int, keyframe: bool) -> None:
        wanted = self._wanted if self._wanted is not None else self.source
        if tap.site == wanted:
            now = self.clock.monotonic()
            self._emit(ProgramPacket("audio", data, timestamp, True, now, tap.site))

    def _emit(self, packet: ProgramPacket) -> None:
        self.packets += 1
        for consumer, started in list(self._consumers.items()):
            if not started:
                if packet.kind != "video" or not packet.keyframe:
                    continue
                self._consumers[consumer] = True
            try:
                consumer.program_packet(packet)
            except Exception:
                log.exception("%r: consumer %r failed", self, consumer)

    def _closed(self, consumer: ProgramConsumer) -> None:
        try:
            consumer.program_closed()
        except Exception:
            log.exception("%r: consumer %r failed to close", self, consumer)

    def close(self) -> None:
        """Leave the room and tell every consumer (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for tap in self._taps:
            tap.leave()
        self._taps.clear()
        consumers = list(self._consumers)
        self._consumers.clear()
        for consumer in consumers:
            self._closed(consumer)

    @property
    def consumers(self) -> int:
        return len(self._consumers)

    def stats(self) -> dict[str, object]:
        return {
            "source": self.source,
            "switches": self.switches,
            "packets": self.packets,
            "consumers": len(self._consumers),
        }


class Programs:
    """The programs of one relay, one per conference, while they have consumers."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.programs: dict[str, Program] = {}

    @classmethod
    def of(cls, relay: Relay) -> Programs:
        programs = _PROGRAMS.get(relay)
        if programs is None:
            programs = _PROGRAMS[relay] = cls(relay)
        return programs

    def join(
        self, conference: str, sites: list[str], floor: list[str], consumer: ProgramConsumer
    ) -> Program:
        """The conference's program with ``consumer`` added; made if there is none
        (``floor``: ``core.floor.current_floor`` now, for a room made here)."""
        program = self.programs.get(conference)
        if program is None:
            room = self.relay.room(conference, floor)
            program = Program(room, sites, clock=self.relay.clock)
            self.relay.hold(conference, floor, program)
            self.programs[conference] = program
        program.add_consumer(consumer)
        return program

    def leave(self, conference: str, consumer: ProgramConsumer) -> None:
        program = self.programs.get(conference)
        if program is None:
            return
        program.remove_consumer(consumer)
        if not program.consumers:
            del self.programs[conference]
            program.close()
            self.relay.release(program.room, program)


# One ``Programs`` per relay, gone with it.
_PROGRAMS: weakref.WeakKeyDictionary[Relay, Programs] = weakref.WeakKeyDictionary()

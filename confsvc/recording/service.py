"""Starting and stopping recorders as the event log says: the adapter between
``confsvc.core.recording`` (whether to record) and ``confsvc.media.recorder`` (files).

After every fold (a hub's event hook, also when a hub is loaded, so a node restarted in
the middle of a take starts a new part of it) the conference's recording status is
obeyed: a take under way has a recorder (paused or not), anything else has none. The
chapters are sent again whenever the run of show moves. It holds no rules of its own.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confsvc.core.conference import ConferenceState
from confsvc.core.floor import current_floor
from confsvc.core.recording import PAUSED, Take, chapters, media_s, recording
from confsvc.media.program import Programs
from confsvc.media.recorder import Recorder, webvtt_chapters
from confsvc.recording.files import conference_dir

if TYPE_CHECKING:
    from confsvc.core.events import Event
    from confsvc.media.relay import Relay
    from confsvc.service import Hub

log = logging.getLogger(__name__)


def part_chapters(state: ConferenceState, take: Take, part_start: float, now: float) -> list[Any]:
    """The take's chapters in seconds of one part (which began at wall time ``part_start``)."""
    agenda = state.require_agenda()
    offset = media_s(take, part_start)
    out = []
    for c in chapters(state, take, now):
        start, end = c["start_s"] - offset, c["end_s"] - offset
        if end <= 0 and not (end == 0 and start == 0):
            continue
        title = agenda.text(c["title"], agenda.default_language)
        out.append({**c, "title": title, "start_s": max(0.0, start), "end_s": max(0.0, end)})
    return out


class Recordings:
    """The recorders of one node, one per conference with a take under way."""

    def __init__(self, relay: Relay, root: Path) -> None:
        self.relay = relay
        self.root = root
        self.recorders: dict[str, Recorder] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def on_events(self, hub: Hub, events: list[Event]) -> None:
        state = hub.state
        if not state.exists:
            return
        rec = recording(state)
        take = rec.take
        current = self.recorders.get(hub.id)
        if current is not None and (take is None or current.take != take.number):
            if len(rec.takes) >= current.take:  # its last chapter ends with its take
                self._chapters(hub, current, rec.takes[current.take - 1])
            self._close_soon(hub.id, current)
            current = None
        if take is None:
            return
        if current is None:
            current = self._start(hub, take)
        if rec.status == PAUSED:
            current.pause()
        else:
            current.resume()
        if any(e.type.startswith(("ros.", "rec.", "conference.")) for e in events):
            self._chapters(hub, current, take)

    def _start(self, hub: Hub, take: Take) -> Recorder:
        state = hub.state
        agenda = state.require_agenda()
        floor = current_floor(state)
        room = self.relay.room(hub.id, floor)
        recorder = Recorder(
            room,
            directory=conference_dir(self.root, hub.id),
            take=take.number,
            sites=agenda.site_ids,
            clock=self.relay.clock,
            program=None,
            title=agenda.text(agenda.conference.title, agenda.default_language),
        )
        self.relay.hold(hub.id, floor, recorder)
        recorder.attach(Programs.of(self.relay).join(hub.id, agenda.site_ids, floor, recorder))
        self.recorders[hub.id] = recorder
        log.info("%r: recording take %s", recorder, take.number)
        return recorder

    def _chapters(self, hub: Hub, recorder: Recorder, take: Take) -> None:
        parts = part_chapters(hub.state, take, recorder.started_wall, hub.clock())
        recorder.set_chapters(parts, webvtt_chapters(parts, lambda c: str(c["title"])))

    def _close_soon(self, conference: str, recorder: Recorder) -> None:
        if self.recorders.get(conference) is recorder:
            del self.recorders[conference]
        task = asyncio.ensure_future(self._close(conference, recorder))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, conference: str, recorder: Recorder) -> None:
        try:
            await recorder.close()
        except Exception:
            log.exception("%r: closing failed", recorder)
        finally:
            Programs.of(self.relay).leave(conference, recorder)
            self.relay.release(recorder.room, recorder)
        log.info("%r: closed", recorder)

    async def close(self) -> None:
        """Finish every file (the node is stopping): cues and chapters are written."""
        for conference, recorder in list(self.recorders.items()):
            self._close_soon(conference, recorder)
        await asyncio.gather(*self._closing, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        return {cid: r.stats() for cid, r in self.recorders.items()}

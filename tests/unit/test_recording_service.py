"""The recording feature obeys the log: a recorder while a take is under way (paused with
it), none otherwise; it holds the room while it records and lets it go after; a node
that loads a conference in the middle of a take starts a new part of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confsvc.config import Config
from confsvc.core.conference import ConferenceState
from confsvc.media.relay import Relay
from confsvc.recording.service import Recordings, part_chapters
from tests.unit.core_session import HOST, Session
from tests.unit.test_recording import RECORDING_AGENDA


@dataclass
class FakeHub:
    id: str
    state: ConferenceState
    session: Session

    def clock(self) -> float:
        return self.session.now


async def settle(recordings: Recordings) -> None:
    await asyncio.gather(*recordings._closing, return_exceptions=True)


async def test_a_recorder_follows_the_takes_and_lets_the_room_go(tmp_path: Path) -> None:
    relay = Relay(Config(db=str(tmp_path / "db")))
    recordings = Recordings(relay, tmp_path)
    s = Session(RECORDING_AGENDA)
    hub: Any = FakeHub(s.state.id, s.state, s)
    recordings.on_events(hub, [])
    assert recordings.recorders == {}
    s.do(HOST, "ros.start")
    recordings.on_events(hub, [])
    recorder = recordings.recorders[hub.id]
    assert recorder.take == 1
    assert relay.rooms[hub.id].egresses  # held while nobody is connected
    s.do(HOST, "rec.pause")
    recordings.on_events(hub, [])
    assert recorder.paused
    s.do(HOST, "rec.resume")
    recordings.on_events(hub, [])
    assert not recorder.paused
    s.do(HOST, "ros.end")
    recordings.on_events(hub, [])
    await settle(recordings)
    assert recordings.recorders == {}
    assert recorder.closed
    assert hub.id not in relay.rooms
    await relay.close()


async def test_a_node_loading_a_take_under_way_starts_a_new_part(tmp_path: Path) -> None:
    s = Session(RECORDING_AGENDA)
    s.do(HOST, "ros.start")
    s.wait(90)
    relay = Relay(Config(db=str(tmp_path / "db")))
    recordings = Recordings(relay, tmp_path)  # another node, or this one restarted
    hub: Any = FakeHub(s.state.id, s.state, s)
    recordings.on_events(hub, [])
    recorder = recordings.recorders[hub.id]
    assert recorder.take == 1 and recorder.part.startswith("take1-")
    take = s.state.parts["recording"].takes[0]
    # The part began later than the take: its chapters start at its own zero.
    chapters = part_chapters(s.state, take, take.started_at + 60, s.now)
    assert [(c["start_s"], c["end_s"]) for c in chapters] == [(0.0, 30.0)]
    await recordings.close()
    await relay.close()

"""The broadcast's part on the event loop: when it runs, and what a full queue drops.

The transcoder thread is not started here: ``Broadcast.program_packet`` only queues, so
filling the queue shows the drop rule without any timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from confsvc.config import Config
from confsvc.media.broadcast import QUEUE_PACKETS, Broadcast, broadcast_wanted
from confsvc.media.hls import HlsSettings
from confsvc.media.program import ProgramPacket
from tests.unit.core_session import AGENDA, HOST, Session


class FakeRoom:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def request_keyframe(self, site: str) -> None:
        self.asked.append(site)


class FakeProgram:
    def __init__(self) -> None:
        self.room = FakeRoom()

    def add_consumer(self, consumer: Any) -> None: ...

    def remove_consumer(self, consumer: Any) -> None: ...


def packet(kind: str, keyframe: bool = False) -> ProgramPacket:
    return ProgramPacket(kind, b"x", 0, keyframe, 1.0, "warsaw")


def session_at(step: str, broadcast: bool) -> Session:
    """The sample conference driven by the host to ``step`` (planned, running, …)."""
    agenda = AGENDA.model_copy(
        update={"conference": AGENDA.conference.model_copy(update={"broadcast": broadcast})}
    )
    s = Session(agenda)
    for command in {"planned": [], "running": ["ros.start"], "paused": ["ros.start", "ros.pause"],
                    "ended": ["ros.start", "ros.end"]}[step]:  # fmt: skip
        s.do(HOST, command)
    return s


@pytest.mark.parametrize(
    ("step", "agenda_says", "directory", "wanted"),
    [
        ("running", True, True, True),
        ("paused", True, True, True),
        ("planned", True, True, False),
        ("ended", True, True, False),
        ("running", False, True, False),  # the agenda did not make it public
        ("running", True, False, False),  # this node has no broadcast_dir
    ],
)
def test_the_broadcast_runs_only_when_enabled_and_under_way(
    tmp_path: Path, step: str, agenda_says: bool, directory: bool, wanted: bool
) -> None:
    config = Config(broadcast_dir=tmp_path if directory else None)
    assert broadcast_wanted(config, session_at(step, agenda_says).state) is wanted


def test_a_full_queue_drops_and_video_waits_for_a_keyframe(tmp_path: Path) -> None:
    program = FakeProgram()
    b = Broadcast("c1", HlsSettings(tmp_path), program)  # type: ignore[arg-type]
    for _ in range(QUEUE_PACKETS):
        b.program_packet(packet("video"))
    b.program_packet(packet("video"))
    assert (b.dropped, program.room.asked) == (1, ["warsaw"])
    b._queue.get_nowait()  # the thread took one: room again
    b.program_packet(packet("video"))  # an inter frame after the gap: not queued
    b.program_packet(packet("audio"))  # audio goes on
    assert b._queue.qsize() == QUEUE_PACKETS
    assert b._queue.queue[-1].kind == "audio"
    b._queue.get_nowait()
    b.program_packet(packet("video", keyframe=True))
    assert b._queue.queue[-1].keyframe
    assert b.dropped == 1

"""What a hub keeps grows with the log only by design: the caches the soak fills stop at
their caps (bench/soak.py, bench/state_memory.py, docs/benchmarks.md "Soak")."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from confsvc.bus import LocalBus
from confsvc.core import idempotency
from confsvc.core.conference import created_event
from confsvc.core.events import Command, Event, Principal
from confsvc.core.roles import Role
from confsvc.service import Hub
from confsvc.store import ConcurrencyError, NewRecord
from tests.unit.core_session import AGENDA


class ListStore:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def append(
        self, conference: str, expected_seq: int, records: Sequence[NewRecord], **_: Any
    ) -> list[Event]:
        if expected_seq != len(self.events):
            raise ConcurrencyError(conference, expected_seq, len(self.events))
        new = [
            Event(seq=len(self.events) + i + 1, type=r.type, at=r.at, actor=r.actor, data=r.data)
            for i, r in enumerate(records)
        ]
        self.events.extend(new)
        return new

    async def read(self, conference: str, after_seq: int = 0) -> list[Event]:
        return self.events[after_seq:]

    async def last_seq(self, conference: str) -> int:
        return len(self.events)


def test_the_backlog_and_the_keys_stop_at_their_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "REMEMBERED", 30)
    host = Principal(role=Role.HOST, invite="host-1")
    moderator = Principal(role=Role.MODERATOR, invite="mod-1")
    people = [Principal(role=Role.PARTICIPANT, invite=f"p-{n}") for n in range(40)]

    async def main() -> Hub:
        store = ListStore()
        hub = Hub(
            conference=AGENDA.conference.id,
            store=store,  # type: ignore[arg-type]
            bus=LocalBus(),
            backlog_events=20,
        )
        await hub.append_system([created_event(AGENDA)])
        await hub.execute(host, Command(name="ros.start", args={}, key="start"))
        for n in range(40):
            who, voter = people[n], people[(n + 1) % len(people)]
            ask = Command(name="q.ask", args={"text": f"question {n}"}, key=f"a{n}")
            qid = (await hub.execute(who, ask))[0].data["id"]
            approve = Command(name="q.approve", args={"id": qid}, key=f"ok-{qid}")
            await hub.execute(moderator, approve)
            await hub.execute(voter, Command(name="q.vote", args={"id": qid}, key=f"v-{qid}"))
        return hub

    hub = asyncio.run(main())
    assert hub.state.seq > 120  # 40 questions, three commands each, and the start
    assert len(hub.backlog) == 20
    assert len(hub.state.outcomes) == 30
    # The newest keys are the ones kept: a page re-sending its last command finds it.
    assert ("participant/p-39", "a39") in hub.state.outcomes
    assert ("participant/p-0", "a0") not in hub.state.outcomes

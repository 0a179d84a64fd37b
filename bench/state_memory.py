"""What a hub keeps per question, and where its caches level off (issue 12, the soak).

    python bench/state_memory.py [--questions 1500] [--step 100] [--voters 300]
                                 [--backlog 1000] [--remembered 10000]

One hub (``confsvc.service.Hub``) on a store held in memory (no I/O: only what the hub
itself keeps is measured), driven as the soak drives three nodes: for each question a
participant asks (keyed), the moderator approves (keyed) and another participant votes
(keyed), through ``Hub.execute`` as a WebSocket command is. Every ``--step`` questions
the memory Python has allocated (``tracemalloc``, after a full collection) is read; the
growth per question is reported for each step. The state grows with the log by design
(the questions, their votes); two caches grow until full and then stay: the resume
backlog (``confsvc.backlog.DEFAULT_SIZE`` events) and the idempotency keys
(``confsvc.core.idempotency.REMEMBERED`` commands). ``--backlog`` and ``--remembered``
set smaller caps, so that a short run reaches both and shows what a question costs once
they are full (the caches' own cost is then cap x their cost per entry, measured on the way
there). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confsvc.backlog import DEFAULT_SIZE  # noqa: E402
from confsvc.bus import LocalBus  # noqa: E402
from confsvc.core import idempotency  # noqa: E402
from confsvc.core.agenda import parse_agenda  # noqa: E402
from confsvc.core.conference import created_event  # noqa: E402
from confsvc.core.events import Command, Event, Principal  # noqa: E402
from confsvc.core.roles import Role  # noqa: E402
from confsvc.service import Hub  # noqa: E402

REMEMBERED = idempotency.REMEMBERED
from confsvc.store import ConcurrencyError, NewRecord  # noqa: E402

SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"


class MemoryStore:
    """The part of the event store a hub uses, in a list."""

    def __init__(self, wire: bool = False) -> None:
        self.events: list[Event] = []
        self.forgotten = 0  # events dropped from ``events`` (``forget``)
        self.wire = wire  # hand back each event as another node gets it: decoded from JSON

    async def append(
        self, conference: str, expected_seq: int, records: Sequence[NewRecord], **_: Any
    ) -> list[Event]:
        seq = self.forgotten + len(self.events)
        if expected_seq != seq:
            raise ConcurrencyError(conference, expected_seq, seq)
        new = [
            Event(seq=seq + i + 1, type=r.type, at=r.at, actor=r.actor, data=r.data)
            for i, r in enumerate(records)
        ]
        self.events.extend(new)
        if self.wire:
            return [Event(**json.loads(json.dumps(e.as_dict()))) for e in new]
        return new

    async def read(self, conference: str, after_seq: int = 0) -> list[Event]:
        if after_seq < self.forgotten:
            raise RuntimeError("read past what this store forgot")
        return self.events[after_seq - self.forgotten :]

    async def last_seq(self, conference: str) -> int:
        return self.forgotten + len(self.events)

    def forget(self) -> None:
        """Drop the stored events (the hub holds what it holds of them itself)."""
        self.forgotten += len(self.events)
        self.events = []


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    agenda = parse_agenda(SAMPLE.read_bytes())
    store = MemoryStore(wire=args.wire)
    idempotency.REMEMBERED = args.remembered  # read by remember() on every fold
    hub = Hub(
        conference=agenda.conference.id,
        store=store,  # type: ignore[arg-type]
        bus=LocalBus(),
        backlog_events=args.backlog,
    )
    await hub.append_system([created_event(agenda)])
    host = Principal(role=Role.HOST, invite="host-1")
    moderator = Principal(role=Role.MODERATOR, invite="mod-1")
    people = [Principal(role=Role.PARTICIPANT, invite=f"p-{n}") for n in range(args.voters)]
    await hub.execute(host, Command(name="ros.start", args={}, key="start"))
    tracemalloc.start(1)
    store.forget()
    base = traced()
    rows: list[dict[str, Any]] = []
    full_at: tracemalloc.Snapshot | None = None  # when both caches were first full
    last = base
    started = time.perf_counter()
    for n in range(1, args.questions + 1):
        asker, voter = people[n % len(people)], people[(n * 7 + 1) % len(people)]
        text = f"Question {n} from {asker.invite}: how did the sites share the protocols?"
        [asked] = await hub.execute(asker, Command(name="q.ask", args={"text": text}, key=f"a{n}"))
        qid = asked.data["id"]
        await hub.execute(moderator, Command(name="q.approve", args={"id": qid}, key=f"ok-{qid}"))
        await hub.execute(voter, Command(name="q.vote", args={"id": qid}, key=f"v-{qid}"))
        if n % args.step == 0:
            store.forget()  # the store's copy is not the hub's: not counted
            now = traced()
            rows.append(
                {
                    "questions": n,
                    "events": hub.state.seq,
                    "traced_mib": round((now - base) / 2**20, 2),
                    "bytes_per_question_this_step": round((now - last) / args.step),
                    "backlog_events": len(hub.backlog),
                    "outcomes": len(hub.state.outcomes),
                }
            )
            last = now
            if full_at is None and (
                len(hub.state.outcomes) >= args.remembered and len(hub.backlog) >= args.backlog
            ):
                full_at = tracemalloc.take_snapshot()
    top: list[str] = []
    if full_at is not None:
        gc.collect()
        grown = tracemalloc.take_snapshot().compare_to(full_at, "lineno")[:10]
        top = [f"{st.size_diff / 1024:+.1f} KiB {st.traceback[0]}" for st in grown]
    tracemalloc.stop()
    full = [  # steps that began with both caches full
        r
        for prev, r in itertools.pairwise(rows)
        if prev["outcomes"] >= args.remembered and prev["backlog_events"] >= args.backlog
    ]
    filling = [r for r in rows if r["backlog_events"] < args.backlog][1:]  # both filling
    return {
        "questions": args.questions,
        "wire": args.wire,
        "voters": args.voters,
        "commands_per_question": 3,
        "backlog_cap_events": args.backlog,
        "backlog_default": DEFAULT_SIZE,
        "outcomes_cap_commands": args.remembered,
        "outcomes_default": REMEMBERED,
        "steps": rows,
        "bytes_per_question_once_caches_full": (
            round(sum(r["bytes_per_question_this_step"] for r in full) / len(full))
            if full
            else None
        ),
        "bytes_per_question_while_both_fill": (
            round(sum(r["bytes_per_question_this_step"] for r in filling) / len(filling))
            if filling
            else None
        ),
        "grown_once_full_by_line": top,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=1500)
    parser.add_argument("--step", type=int, default=100)
    parser.add_argument("--voters", type=int, default=300)
    parser.add_argument("--backlog", type=int, default=DEFAULT_SIZE, help="events kept to resume")
    parser.add_argument("--remembered", type=int, default=REMEMBERED, help="idempotency keys")
    parser.add_argument(
        "--wire",
        action="store_true",
        help="fold every event as decoded from JSON, as a node folds another node's",
    )
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

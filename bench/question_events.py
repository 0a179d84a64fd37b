"""CPU of one question event as the queue grows (issue 12, found in the soak).

    python bench/question_events.py [--sizes 1000,5000,20000] [--events 50]

The conference's rules alone (``confsvc.core.registry.RULES``, no hub, no I/O): a queue
of N approved questions of 6-14 random words is folded, then ``--events`` votes on random
questions, each folded and turned into its live messages (``Rules.messages``: what every
node does for every event, its own or another node's). Reported: milliseconds per vote,
for each N. A figure that grows with N is work done over the whole queue at every event;
what is left is the similar-question list of the voted question (one RapidFuzz pass over
the questions it could be merged into). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confsvc.core.agenda import parse_agenda  # noqa: E402
from confsvc.core.conference import ConferenceState, created_event  # noqa: E402
from confsvc.core.events import Event  # noqa: E402
from confsvc.core.registry import RULES  # noqa: E402

SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
WORDS = (
    "school test hospital city mask vaccine trace contact family quarantine open data "
    "work travel market tram clinic doctor nurse elderly"
).split()


def fold(state: ConferenceState, etype: str, data: dict[str, Any]) -> Event:
    event = Event(seq=state.seq + 1, type=etype, at=1000.0 + state.seq, actor="bench", data=data)
    RULES.fold(state, event)
    return event


def run(sizes: list[int], events: int, seed: int = 1) -> dict[str, Any]:
    rnd = random.Random(seed)
    agenda = parse_agenda(SAMPLE.read_bytes())
    state = RULES.new_state(agenda.conference.id)
    created = created_event(agenda)
    fold(state, created.type, created.data)
    first: dict[str, float] = {}
    per_ask: dict[str, float] = {}
    per_vote: dict[str, float] = {}
    n = 0

    def ask(messages: bool) -> str:
        nonlocal n
        n += 1
        qid = f"q-{n}"
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14)))
        asked = {"id": qid, "text": text, "language": "en", "name": None, "site": None}
        asked |= {"source": "live", "email": None, "invite": f"p{n}"}
        for event in (fold(state, "q.asked", asked), fold(state, "q.approved", {"id": qid})):
            if messages:
                RULES.messages(state, event)
        return qid

    def vote(qids: list[str]) -> float:
        started = time.perf_counter()
        for i, qid in enumerate(qids):
            event = fold(state, "q.voted", {"id": qid, "invite": f"v{n}-{i}"})
            RULES.messages(state, event)
        return round((time.perf_counter() - started) / len(qids) * 1000, 3)

    for size in sizes:
        while n < size - events:
            ask(messages=False)
        first[str(size)] = vote([f"q-{rnd.randint(1, n)}" for _ in range(events)])
        started = time.perf_counter()
        asked = [ask(messages=True) for _ in range(events)]
        per_ask[str(size)] = round((time.perf_counter() - started) / events * 1000, 3)
        per_vote[str(size)] = vote(rnd.sample(asked, len(asked)))
    return {
        "bench": "question_events",
        "events": events,
        "ms_per_vote_first": first,
        "ms_per_ask": per_ask,
        "ms_per_vote": per_vote,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000", help="queue sizes, ascending")
    parser.add_argument("--events", type=int, default=50, help="votes timed at each size")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(json.dumps(run(sizes, args.events)))


if __name__ == "__main__":
    main()

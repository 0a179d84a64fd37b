"""The staff welcome's size and cost as a conference's questions pile up (issue 12, the soak).

    python bench/staff_welcome.py [--questions 400] [--step 100]

One hub on a store in memory (``bench/state_memory.py``); participants ask and the
moderator approves; every ``--step`` questions the snapshot a host or moderator is sent
on (re)connecting is built and serialized, as ``confsvc.http.ws`` does for its welcome:
its bytes and the milliseconds it holds the event loop. Each item carries its
similar-question list, found against every other question. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from state_memory import SAMPLE, MemoryStore  # noqa: E402

from confsvc.bus import LocalBus  # noqa: E402
from confsvc.core.agenda import parse_agenda  # noqa: E402
from confsvc.core.conference import created_event  # noqa: E402
from confsvc.core.events import Command, Principal  # noqa: E402
from confsvc.core.roles import Role  # noqa: E402
from confsvc.service import Hub, dumps  # noqa: E402


async def run(args: argparse.Namespace) -> dict[str, Any]:
    agenda = parse_agenda(SAMPLE.read_bytes())
    hub = Hub(conference=agenda.conference.id, store=MemoryStore(), bus=LocalBus())  # type: ignore[arg-type]
    await hub.append_system([created_event(agenda)])
    host = Principal(role=Role.HOST, invite="host-1")
    moderator = Principal(role=Role.MODERATOR, invite="mod-1")
    await hub.execute(host, Command(name="ros.start", args={}, key="start"))
    people = [Principal(role=Role.PARTICIPANT, invite=f"p-{n}") for n in range(300)]
    rows = []
    for n in range(1, args.questions + 1):
        text = f"p{n % 300} q{n}: how did the sites share the protocols?"
        ask = Command(name="q.ask", args={"text": text}, key=f"a{n}")
        [asked] = await hub.execute(people[n % 300], ask)
        approve = Command(name="q.approve", args={"id": asked.data["id"]}, key=f"ok-{n}")
        await hub.execute(moderator, approve)
        if n % args.step == 0:
            started = time.perf_counter()
            size = len(dumps(hub.snapshot(host)).encode())
            ms = (time.perf_counter() - started) * 1000
            rows.append({"questions": n, "bytes": size, "ms": round(ms, 1)})
    return {"steps": rows, "bytes_per_question": round(rows[-1]["bytes"] / rows[-1]["questions"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--step", type=int, default=100)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

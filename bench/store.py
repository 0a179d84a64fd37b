"""Event store benchmark: single-event appends/s (each acknowledged only when durable) and
the time to rebuild a conference of 100,000 events (read + fold), on SQLite and PostgreSQL.

    python bench/store.py [--postgres DSN] [--quick]

Appends are measured two ways: one writer awaiting each append in turn (latency-bound),
and 32 writers on 32 conferences at once (what a busy node does; SQLite commits what is
waiting together). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.registry import RULES
from confsvc.store import EventStore, NewRecord, open_store

SAMPLE = Path(__file__).resolve().parent.parent / "agenda" / "weifang-olsztyn-2020.yaml"


async def sequential(store: EventStore, n: int) -> float:
    cid = f"bench-seq-{secrets.token_hex(4)}"
    t = time.perf_counter()
    for i in range(n):
        await store.append(
            cid, i, [NewRecord(type="bench.tick", at=time.time(), actor="bench", data={"i": i})]
        )
    return n / (time.perf_counter() - t)


async def concurrent(store: EventStore, n: int, writers: int = 32) -> float:
    per = n // writers

    async def writer(w: int) -> None:
        cid = f"bench-con-{secrets.token_hex(4)}-{w}"
        for i in range(per):
            await store.append(
                cid, i, [NewRecord(type="bench.tick", at=time.time(), actor="bench", data={"i": i})]
            )

    t = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per * writers / (time.perf_counter() - t)


def realistic_log(n: int) -> list[NewRecord]:
    """A conference run with many clock and floor changes (the reducers all do work)."""
    agenda = parse_agenda(SAMPLE.read_bytes())
    at = 1_590_476_400.0
    out = [
        NewRecord(type="conference.created", at=at, actor="system", data=created_event(agenda).data)
    ]
    out.append(NewRecord(type="ros.started", at=at, actor="host/x", data={}))
    cur = 0
    cycle = [
        lambda: ("ros.paused", {}),
        lambda: ("ros.resumed", {}),
        lambda: ("floor.given", {"sites": ["warsaw", "weifang"]}),
        lambda: ("floor.cleared", {}),
        lambda: ("ros.extended", {"item": cur, "minutes": 0.01}),
        lambda: ("bench.note", {"text": "a question or note of about this length " * 2}),
    ]
    i = 0
    while len(out) < n:
        at += 1.0
        if i % 7 == 6:  # the cycle of 7: six changes, then the next item
            nxt = (cur + 1) % len(agenda.items)
            out.append(
                NewRecord(type="ros.moved", at=at, actor="host/x", data={"from": cur, "to": nxt})
            )
            cur = nxt
        else:
            kind, data = cycle[i % 7]()
            out.append(NewRecord(type=kind, at=at, actor="host/x", data=data))
        i += 1
    return out[:n]


async def rebuild(store: EventStore, n: int) -> float:
    cid = f"bench-rebuild-{secrets.token_hex(4)}"
    log = realistic_log(n)
    for start in range(0, n, 5000):
        await store.append(cid, start, log[start : start + 5000])
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        state = RULES.new_state(cid)
        for event in await store.read(cid):
            RULES.fold(state, event)
        best = min(best, time.perf_counter() - t)
        assert state.seq == n
    return best


async def bench(dsn: str, n_appends: int, n_rebuild: int) -> dict[str, float]:
    store = await open_store(dsn)
    try:
        await sequential(store, 200)  # warm-up
        seq = await sequential(store, n_appends)
        con = await concurrent(store, n_appends * 2)
        reb = await rebuild(store, n_rebuild)
    finally:
        await store.close()
    return {"sequential": seq, "concurrent": con, "rebuild": reb}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CONFSVC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_appends = 2000 if args.quick else 10000
    n_rebuild = 100_000
    out: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        s = await bench(str(Path(tmp) / "bench.db"), n_appends, n_rebuild)
    print(
        f"sqlite: {s['sequential']:.0f} appends/s one writer, {s['concurrent']:.0f} appends/s 32 writers, rebuild 100k {s['rebuild']:.3f} s",
        flush=True,
    )
    out["sqlite_appends_per_s"] = round(s["concurrent"])
    out["sqlite_sequential_appends_per_s"] = round(s["sequential"])
    out["rebuild_100k_s"] = round(s["rebuild"], 3)
    try:
        p = await bench(args.postgres, n_appends, n_rebuild)
        print(
            f"postgres: {p['sequential']:.0f} appends/s one writer, {p['concurrent']:.0f} appends/s 32 writers, rebuild 100k {p['rebuild']:.3f} s",
            flush=True,
        )
        out["postgres_appends_per_s"] = round(p["concurrent"])
        out["postgres_sequential_appends_per_s"] = round(p["sequential"])
        out["rebuild_100k_s_postgres"] = round(p["rebuild"], 3)
    except Exception as exc:  # no PostgreSQL here: say so in the figures
        print(f"postgres: skipped ({exc})", flush=True)
        out["postgres_appends_per_s"] = None
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())

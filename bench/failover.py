"""SIGKILL of a conference's media home: seconds until every viewer decodes again.

Two ``confsvc serve`` nodes (``tests/integration/nodes.py``) share a store and the signing
secret. Node A is made the media home (the first node asked); three site bots and N
viewer bots (aiortc, each decoding every frame of every site with libvpx, as a browser
shows it) hold their WebSockets on node B, which forwards their signalling to A. Once
every viewer decodes every site, A gets SIGKILL. Each viewer is told by B that the home
went away, reconnects by itself, and B takes the lease once A's has expired
(``--lease``, the config's ``media_lease_s``). The figure per viewer is the time from the
kill to the first frame it decodes again from the last of the three sites.

    python bench/failover.py                       # SQLite file shared by both nodes
    python bench/failover.py --db postgresql://postgres@127.0.0.1:5432/test --rounds 3

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confsvc.media.bot import SiteBot, ViewerBot, parse_link  # noqa: E402
from tests.integration.nodes import SITES, Node  # noqa: E402

SECRET = b"failover-bench-secret-failover-bench-secret-01"
LOOP = ["127.0.0.1"]


async def until(cond: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def one_round(workdir: Path, db: str, viewers_n: int, lease: float) -> dict[str, Any]:
    extra = ("--media-lease", str(lease), "--log-level", "warning")
    a = Node(workdir, "a", db=db, secret=SECRET, extra=extra)
    b = Node(workdir, "b", db=db, secret=SECRET, extra=extra)
    bots: list[Any] = []
    try:
        await asyncio.to_thread(a.start)
        await asyncio.to_thread(b.start)
        primer = ViewerBot(parse_link(a.link("participant")), ice_addresses=LOOP)
        await primer.start()
        await primer.close()
        sites = [
            SiteBot(parse_link(b.link("site", s)), ice_addresses=LOOP, reconnect=True)
            for s in SITES
        ]
        bots += sites
        await asyncio.gather(*(s.start(kbps=300) for s in sites))
        viewers = [
            ViewerBot(
                parse_link(b.link("participant")), ice_addresses=LOOP, decode=True, reconnect=True
            )
            for _ in range(viewers_n)
        ]
        bots += viewers
        for i in range(0, len(viewers), 4):
            await asyncio.gather(*(v.start() for v in viewers[i : i + 4]))
        await until(
            lambda: all(c.decoded_frames >= 30 for v in viewers for c in v.counts.values()),
            "every viewer decoding every site",
            120,
        )
        # Frames still in flight decode just after the kill: count only what a viewer
        # decodes on its new connection (from the first look at it reconnected).
        base: list[dict[str, int] | None] = [None for _ in viewers]
        again: list[dict[str, float]] = [{} for _ in viewers]
        a.kill()
        killed = time.monotonic()
        deadline = killed + 120
        while any(len(d) < len(SITES) for d in again) and time.monotonic() < deadline:
            now = time.monotonic()
            for i, v in enumerate(viewers):
                seen = base[i]
                if seen is None:
                    if v.reconnects >= 1 and v.live:
                        base[i] = {s: c.decoded_frames for s, c in v.counts.items()}
                    continue
                for s, c in v.counts.items():
                    if s not in again[i] and c.decoded_frames > seen[s]:
                        again[i][s] = now - killed
            await asyncio.sleep(0.01)
        per_viewer = [round(max(d.values()), 2) if len(d) == len(SITES) else None for d in again]
        done = [x for x in per_viewer if x is not None]
        return {
            "seconds_to_decode_again_max": max(done) if len(done) == len(per_viewer) else None,
            "seconds_to_decode_again_median": round(statistics.median(done), 2) if done else None,
            "per_viewer": per_viewer,
            "viewers_recovered": len(done),
            "decode_errors": sum(c.decode_errors for v in viewers for c in v.counts.values()),
            "reconnects": [v.reconnects for v in viewers],
        }
    finally:
        await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)
        a.kill()
        b.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="shared store (default: a SQLite file)")
    parser.add_argument("--viewers", type=int, default=6)
    parser.add_argument("--lease", type=float, default=5.0, help="media_lease_s (default 5)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rounds = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="confsvc-failover-") as tmp:
            db = args.db or str(Path(tmp) / "confsvc.db")
            if args.db and args.db.startswith("postgres"):
                db = await own_schema_dsn(args.db, r)
            result = await one_round(Path(tmp), db, args.viewers, args.lease)
            print(f"round {r + 1}: {result}", file=sys.stderr, flush=True)
            rounds.append(result)
    worst = [x["seconds_to_decode_again_max"] for x in rounds]
    print(
        json.dumps(
            {
                "bench": "failover",
                "store": "postgresql" if args.db and args.db.startswith("postgres") else "sqlite",
                "lease_s": args.lease,
                "sites": len(SITES),
                "viewers": args.viewers,
                "seconds_to_decode_again_max": max(w for w in worst if w is not None)
                if all(w is not None for w in worst)
                else None,
                "rounds": rounds,
            }
        )
    )


async def own_schema_dsn(dsn: str, n: int) -> str:
    """A fresh schema for the round (PostgreSQL may be shared): left for the DBA to drop."""
    import asyncpg

    schema = f"failover_bench_{int(time.time())}_{n}"
    con = await asyncpg.connect(dsn)
    try:
        await con.execute(f"CREATE SCHEMA {schema}")
    finally:
        await con.close()
    return f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"


if __name__ == "__main__":
    asyncio.run(main())

"""Two conferences of 3 sites + N viewers each on ``confsvc serve --workers 2``.

One ``confsvc serve --workers 2`` (SQLite, loopback) serves two conferences (the sample
agenda and a copy under another id). Each conference's media home is one worker (the
lease goes to the worker holding fewer), so each conference's relay has a core. Per
conference, a publisher process runs the three site bots (``bench/relay.py --child
publisher``: VP8 ~1 Mbit/s 30 fps + Opus; its host starts the run of show, so the floor's
audio flows) and a viewer process runs N light viewers of all three sites
(``bench/relay.py --child light``: ``LightViewerBot``, ICE and DTLS like a browser, media
counted from RTP headers, no decryption, no RTCP). Figures: each worker's CPU (100 % =
one core), which conference it is home of, and every viewer's frame rate per site; the
publisher processes' CPU; and each worker's relay counters over the window (``/metrics``:
packets forwarded, frames stalled, datagrams the kernel refused, PLIs), per second.

    python bench/workers.py                    # 2 x (3 sites + 100 viewers)
    python bench/workers.py --viewers 50 --seconds 10

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import relay  # noqa: E402  (bench/relay.py: its child processes and CPU helpers)

from tests.integration.nodes import (  # noqa: E402
    CONFERENCE,
    SITES,
    Node,
    free_ports_in_a_row,
    second_agenda,
)

SECRET = b"workers-bench-secret-workers-bench-secret-0123"
SECOND = "second-conference-2020"


def worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def cpu_of(pids: list[int], seconds: float) -> list[float]:
    c0 = [relay.cpu_seconds(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(seconds)
    span = time.monotonic() - t0
    return [
        round((relay.cpu_seconds(p) - c) / span * 100, 1) for p, c in zip(pids, c0, strict=True)
    ]


RELAY_COUNTERS = {
    "confsvc_media_forwarded_packets_total": "packets",
    "confsvc_media_stalls_total": "stalls",
    "confsvc_media_send_refused_total": "refused",
    "confsvc_media_pli_total": "plis",
}


def relay_counts(port: int) -> dict[str, float]:
    """A worker's media counters from its ``/metrics`` (what its relay sent and could not)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = dict.fromkeys(RELAY_COUNTERS.values(), 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in RELAY_COUNTERS:
            out[RELAY_COUNTERS[name]] = float(value)
    return out


def homes(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT h.conference, n.url FROM media_homes h JOIN media_nodes n USING (node)"
        ).fetchall()
    return dict(rows)


def ready(proc: subprocess.Popen[str], what: str) -> None:
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{what} did not connect")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=100, help="per conference")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="confsvc-workers-") as tmp:
        work = Path(tmp)
        port = free_ports_in_a_row(3)
        extra = ("--agenda", str(second_agenda(work, SECOND)), "--workers", "2")
        extra += ("--log-level", "warning", "--ice-address", "127.0.0.1")
        db = work / "confsvc.db"
        node = Node(work, "workers", db=str(db), secret=SECRET, extra=extra, port=port)
        node.start()
        procs: list[subprocess.Popen[str]] = []
        try:
            for p in (port + 1, port + 2):
                Node(work, "probe", db="", secret=SECRET, port=p).wait_ready()
            pids = worker_pids(node.proc.pid if node.proc else 0)
            for conference in (CONFERENCE, SECOND):
                links = ",".join(node.link("site", s, conference=conference) for s in SITES)
                pub = relay.spawn(
                    "--child", "publisher", links, node.link("host", conference=conference)
                )
                procs.append(pub)
                ready(pub, f"{conference}'s publishers")
            placed = homes(db)
            time.sleep(args.warmup)
            base = cpu_of(pids, args.seconds / 2)
            viewers = []
            for conference in (CONFERENCE, SECOND):
                n_links = (args.viewers + 7) // 8
                links = ",".join(
                    node.link("participant", conference=conference) for _ in range(n_links)
                )
                v = relay.spawn(
                    "--child", "light", links, ",".join(SITES), str(args.viewers),
                    str(args.warmup), str(args.seconds),
                )  # fmt: skip
                procs.append(v)
                viewers.append(v)
            for v in viewers:
                ready(v, f"{args.viewers} viewers")
            time.sleep(args.warmup)
            ports = (port + 1, port + 2)
            before = [relay_counts(p) for p in ports]
            publishers = [p.pid for p in procs[:2]]
            cpu_all = cpu_of(pids + publishers + [v.pid for v in viewers], args.seconds)
            cpu, publisher_cpu = cpu_all[: len(pids)], cpu_all[len(pids) : len(pids) + 2]
            after = [relay_counts(p) for p in ports]
            relays = {
                f"http://127.0.0.1:{p}": {
                    f"{key}_per_s": round((a[key] - b[key]) / args.seconds, 1) for key in a
                }
                for p, b, a in zip(ports, before, after, strict=True)
            }
            results = []
            for v in viewers:
                assert v.stdout is not None
                results.append(json.loads(v.stdout.readline()))
                v.wait(60)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
            node.stop()
    per_conference = {}
    for conference, result in zip((CONFERENCE, SECOND), results, strict=True):
        per_conference[conference] = {
            "home": placed.get(conference),
            "worst_video_fps": min(result["video_fps"]),
            "median_video_fps": sorted(result["video_fps"])[len(result["video_fps"]) // 2],
            "streams_at_29_fps_or_more": sum(f >= 29.0 for f in result["video_fps"]),
            "streams": len(result["video_fps"]),
            "worst_floor_audio_fps": min(result["audio_fps"]["warsaw"]),
            "video_packets_lost": result["video_lost"],
            "viewer_process_cpu_pct": result["viewer_process_cpu_pct"],
        }
    print(
        json.dumps(
            {
                "bench": "workers",
                "workers": 2,
                "sites_per_conference": len(SITES),
                "viewers_per_conference": args.viewers,
                "viewers": "LightViewerBot (bench/relay.py --child light)",
                "worker_cpu_pct": cpu,
                "worker_cpu_pct_publishers_only": base,
                "publisher_process_cpu_pct": publisher_cpu,
                "relays": relays,
                "conferences": per_conference,
            }
        )
    )


if __name__ == "__main__":
    main()

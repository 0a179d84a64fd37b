"""CPU to record three sites and the program, and bytes written per hour per site.

Three synthetic sites (``confsvc.media.pattern``: VP8 640x480 30 fps at ``--kbps`` with
a keyframe every 2 s, and Opus 20 ms packets) feed a real ``Room`` through the relay's
real slot forwarder, exactly as tapped frames do in the server. Two passes over the same
``--seconds`` of media, in the same run:

- ``baseline``: the room with nobody subscribed (what the relay does anyway);
- ``recording``: a ``Program`` and a ``Recorder`` joined (a WebM per site and the
  program, written by the recorder's thread, remuxed with PyAV), floor changing every
  20 s of media so the program switches.

The media is fed as fast as the recorder takes it (the room's clock is a fake that
moves 1/30 s per frame; the recorder's queue is drained before the clock stops), so CPU
per second of media = (process CPU of ``recording`` - that of ``baseline``) / media
seconds; 100 % = one core. Bytes per hour per site = a site file's size / media seconds
x 3600.

    python bench/recording.py                 # 120 s of media
    python bench/recording.py --seconds 30

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confsvc.media import pattern  # noqa: E402
from confsvc.media.fanout import SlotFanout  # noqa: E402
from confsvc.media.program import Program  # noqa: E402
from confsvc.media.recorder import Recorder  # noqa: E402
from confsvc.media.room import Room, SiteFeed  # noqa: E402

SITES = ["warsaw", "olsztyn", "weifang"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_600_000_000.0 + self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Any:
        return asyncio.get_running_loop().call_later(0, callback)


def feed(
    room: Room,
    feeds: dict[str, SiteFeed],
    media: dict[str, Any],
    seconds: float,
    clock: Clock,
    start: int = 0,
) -> None:
    frames = round(seconds * 30)
    k = (start * 5) // 3  # audio: one Opus packet per 20 ms, 50 a second
    for i in range(start, start + frames):
        if i % 600 == 0:  # the floor moves every 20 s of media
            room.set_floor([SITES[(i // 600) % len(SITES)]])
        due = k
        while due * 0.02 < (i + 1) / 30:
            due += 1
        for site, f in feeds.items():
            video, audio = media[site]
            f.on_video(video[i % len(video)], 3000 * i, i % len(video) == 0)
            for j in range(k, due):
                f.on_audio(audio[j % len(audio)], 960 * j, True)
        k = due
        clock.now += 1 / 30


async def drained(recorder: Recorder) -> None:
    """Until the writer thread has caught up (sleeping costs no CPU)."""
    for _ in range(10_000):
        if recorder.queued <= 200:
            return
        await asyncio.sleep(0.002)


async def run(seconds: float, kbps: int, directory: Path) -> dict[str, Any]:
    media = {
        s: (pattern.encode_video(s.upper(), kbps, noise=8), pattern.encode_tone(440 + 110 * i))
        for i, s in enumerate(SITES)
    }
    out: dict[str, Any] = {}
    for mode in ("baseline", "recording"):
        clock = Clock()
        room = Room("bench", [SITES[0]], clock=clock, forwarder=SlotFanout)
        feeds = {}
        for site in SITES:
            f = SiteFeed(room, site, peer=object())
            room.attach_feed(f)
            feeds[site] = f
        program = recorder = None
        if mode == "recording":
            program = Program(room, SITES, clock=clock)
            recorder = Recorder(
                room, directory=directory, take=1, sites=SITES, clock=clock, program=program
            )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        # A second of media at a time, each drained before the next (as in real time:
        # the writer thread never falls 4,000 packets behind, so nothing is dropped).
        for second in range(int(seconds)):
            feed(room, feeds, media, 1.0, clock, start=second * 30)
            if recorder is not None:
                await drained(recorder)
        if recorder is not None:
            await recorder.close()
            program.close()
        out[mode] = {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0}
        if recorder is not None:
            out["dropped"] = recorder.dropped
    files = {
        p.name.split("-", 2)[-1].removesuffix(".webm"): p.stat().st_size
        for p in directory.glob("*.webm")
    }
    site_bytes = [files[s] for s in SITES]
    extra_cpu = out["recording"]["cpu_s"] - out["baseline"]["cpu_s"]
    return {
        "media_s": seconds,
        "kbps": kbps,
        "baseline_cpu_s": round(out["baseline"]["cpu_s"], 3),
        "recording_cpu_s": round(out["recording"]["cpu_s"], 3),
        "record_3_sites_and_program_pct_of_core": round(100 * extra_cpu / seconds, 3),
        "bytes_per_hour_per_site": round(sum(site_bytes) / len(site_bytes) / seconds * 3600),
        "program_bytes_per_hour": round(files["program"] / seconds * 3600),
        "files_bytes": files,
        "dropped": out["dropped"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds of media to record")
    ap.add_argument("--kbps", type=int, default=1000, help="video bit rate of each site")
    args = ap.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="confsvc-bench-rec-"))
    try:
        result = asyncio.run(run(args.seconds, args.kbps, directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

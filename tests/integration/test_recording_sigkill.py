"""SIGKILL a real ``confsvc serve`` in the middle of a recording: what is on disk plays
up to the last second or two before the kill (PyAV decodes every file that was being
written, and what it decodes reaches close to the time of the kill)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest

from confsvc.media.bot import SiteBot, parse_link
from confsvc.recording.files import list_files
from tests.conftest import SECRET
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401
from tests.integration.nodes import CONFERENCE, SAMPLE, SITES, Node

LOOP = ["127.0.0.1"]


async def host_command(node: Node, name: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{node.base}/c/{CONFERENCE}/ws") as ws:
            await ws.send_json({"type": "hello", "token": node.token("host")})
            await ws.send_json({"type": "command", "id": 1, "name": name, "args": {}})
            async for msg in ws:
                data = msg.json()
                if data.get("id") == 1:
                    return dict(data)
    raise AssertionError(f"no answer to {name}")


def last_video_s(path: Path) -> tuple[int, float]:
    """Frames decoded and the time of the last one, reading until the file ends."""
    frames, last = 0, 0.0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            frames += 1
            last = float(frame.time or 0.0)
    return frames, last


def last_packet_s(path: Path) -> float:
    """The time of the last video packet the file holds (demuxed, not decoded)."""
    last = 0.0
    with av.open(str(path)) as c:
        for packet in c.demux(video=0):
            if packet.pts is not None and packet.time_base is not None:
                last = max(last, float(packet.pts * packet.time_base))
    return last


@pytest.mark.timeout(300)
async def test_a_killed_server_leaves_files_that_play_to_near_the_kill(tmp_path: Path) -> None:
    agenda = tmp_path / "recording.yaml"
    text, n = re.subn(
        r"(\n  start: [^\n]+\n)", r"\1  recording: true\n", SAMPLE.read_text(), count=1
    )
    assert n == 1
    agenda.write_text(text)
    root = tmp_path / "rec"
    node = Node(
        tmp_path,
        "rec",
        db=str(tmp_path / "confsvc.db"),
        secret=SECRET,
        agenda=agenda,
        extra=("--recordings", str(root)),
    )
    node.start()
    bots = [SiteBot(parse_link(node.link("site", s)), ice_addresses=LOOP) for s in SITES]
    try:
        await asyncio.gather(*(b.start() for b in bots))
        assert (await host_command(node, "ros.start"))["type"] == "ack"
        started = time.monotonic()

        def sizes() -> dict[str, int]:
            return {f.source or "": f.bytes for f in list_files(root, CONFERENCE)}

        await until(
            lambda: all(sizes().get(s, 0) > 150_000 for s in [*SITES, "program"]),
            "a few seconds of every file",
            timeout=120,
        )
        recorded_s = time.monotonic() - started
        node.kill()
    finally:
        node.kill()
        await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)
    files = [f for f in list_files(root, CONFERENCE) if f.kind == "webm"]
    assert sorted(f.source for f in files) == sorted([*SITES, "program"])
    assert not any(f.kind == "json" for f in list_files(root, CONFERENCE))  # no clean close
    reached = {}
    for f in files:
        path = root / CONFERENCE / f.name
        frames, last = last_video_s(path)
        assert frames > 30, f.name
        # Everything on disk decodes: the last frame decoded is within a cluster (1 s)
        # of the last packet the file holds.
        assert last >= last_packet_s(path) - 1.5, (f.name, last, last_packet_s(path))
        reached[f.source] = last
    # Written as it goes: the program (whichever site has the floor) and the sites reach
    # within a few seconds of the kill (their clock starts a little after "started").
    assert reached["program"] > recorded_s - 4.0, (reached, recorded_s)
    assert max(reached[s] for s in SITES) > recorded_s - 4.0, (reached, recorded_s)

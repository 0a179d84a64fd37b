"""The HLS broadcast through the app: site bots publish, the run of show starts, the
broadcast (a room participant following the floor) writes a sliding playlist that the
server serves as static files with the right caching headers, and it ends with the
conference. What was served is decoded with PyAV."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import av
import pytest

from confsvc.media.bot import SiteBot, parse_link
from confsvc.media.broadcast import BROADCASTS
from tests.conftest import SAMPLE
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401

LOOP = ["127.0.0.1"]
SITES = ["warsaw", "olsztyn", "weifang"]


def broadcast_agenda(directory: Path) -> Path:
    """The sample agenda with ``conference.broadcast: true``."""
    text = SAMPLE.read_text()
    text, n = re.subn(r"(\n  start: [^\n]+\n)", r"\1  broadcast: true\n", text, count=1)
    assert n == 1
    path = directory / "broadcast.yaml"
    path.write_text(text)
    return path


@pytest.fixture
async def broadcasting(confsvc_app: Any, tmp_path: Path) -> Any:
    return await confsvc_app(broadcast_agenda(tmp_path), broadcast_dir=tmp_path / "hls")


async def start_sites(running: Any, sites: list[str]) -> list[SiteBot]:
    bots = [SiteBot(parse_link(running.link("site", s)), ice_addresses=LOOP) for s in sites]
    await asyncio.gather(*(b.start() for b in bots))
    return bots


def segments_in(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line.endswith(".ts")]


async def test_the_broadcast_runs_with_the_run_of_show_and_is_served_as_hls(
    broadcasting: Any,
) -> None:
    running = broadcasting
    directory = running.config.broadcast_dir / running.conference
    url = f"/c/{running.conference}/broadcast"
    bots = await start_sites(running, SITES)
    host = await running.ws("host")
    try:
        before = await running.client.get(f"{url}/index.m3u8")
        assert before.status == 404
        assert "has not started" in (await before.json())["message"]

        assert (await host.command("ros.start"))["type"] == "ack"
        assert list(running.app[BROADCASTS].running) == [running.conference]
        await until(
            lambda: (
                (directory / "index.m3u8").exists()
                and len(segments_in((directory / "index.m3u8").read_text())) >= 3
            ),
            "three segments in the playlist",
        )
        resp = await running.client.get(f"{url}/index.m3u8")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert resp.headers["Cache-Control"] == "no-cache, max-age=1"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        playlist = await resp.text()
        assert "#EXT-X-MEDIA-SEQUENCE:" in playlist and "#EXT-X-ENDLIST" not in playlist

        name = segments_in(playlist)[-1]
        seg = await running.client.get(f"{url}/{name}")
        assert seg.status == 200
        assert seg.headers["Content-Type"] == "video/mp2t"
        assert seg.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        body = await seg.read()
        with av.open(io.BytesIO(body)) as container:
            codecs = sorted(s.codec_context.name for s in container.streams)
            frames = sum(1 for p in container.demux(video=0) for _ in p.decode())
        assert codecs == ["aac", "h264"]
        assert frames >= 1
        broadcast = running.app[BROADCASTS].running[running.conference]
        assert broadcast.program.source == "warsaw"  # item 1 has the floor: [warsaw]
        # The site's own frames reached the transcoder (not only the filler), whatever
        # the machine's load does to the frame rate.
        assert broadcast.transcoder is not None
        assert broadcast.transcoder.stats["video_out"] >= 30

        assert (await host.command("ros.end"))["type"] == "ack"
        await until(
            lambda: "#EXT-X-ENDLIST" in (directory / "index.m3u8").read_text(),
            "the playlist to end",
        )
        assert running.app[BROADCASTS].running == {}
        assert not list(directory.glob("*.tmp"))
    finally:
        await host.close()
        await asyncio.gather(*(b.close() for b in bots))


async def test_no_broadcast_unless_the_agenda_enables_it(confsvc_app: Any, tmp_path: Path) -> None:
    running = await confsvc_app(broadcast_dir=tmp_path / "hls")  # the sample: broadcast off
    host = await running.ws("host")
    try:
        assert (await host.command("ros.start"))["type"] == "ack"
        assert running.app[BROADCASTS].running == {}
        resp = await running.client.get(f"/c/{running.conference}/broadcast/index.m3u8")
        assert resp.status == 404
        assert not (tmp_path / "hls").exists()
    finally:
        await host.close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("index.m3u8.tmp", "no broadcast file 'index.m3u8.tmp' (index.m3u8 or seg-RUN-N.ts)"),
        ("..%2Fconfsvc.db", "no broadcast file '../confsvc.db' (index.m3u8 or seg-RUN-N.ts)"),
        (
            "seg-0123abcd-17.ts",
            "segment 'seg-0123abcd-17.ts' is no longer in the broadcast's playlist",
        ),
    ],
)
async def test_only_playlists_and_segments_are_served(
    broadcasting: Any, path: str, message: str
) -> None:
    resp = await broadcasting.client.get(f"/c/{broadcasting.conference}/broadcast/{path}")
    assert resp.status == 404
    assert (await resp.json())["message"] == message


async def test_a_server_without_broadcast_dir_says_so(running: Any) -> None:
    resp = await running.client.get(f"/c/{running.conference}/broadcast/index.m3u8")
    assert resp.status == 404
    body = await resp.json()
    assert body["message"] == "this server does not broadcast (broadcast_dir is not set)"
    assert body["key"] == "broadcast.off"  # translated where shown (errors.json)

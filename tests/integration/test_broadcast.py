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


async def test_files_are_served_from_memory_while_unchanged_on_disk(broadcasting: Any) -> None:
    """Another node's transcoder may write the shared directory: a rename (the muxer's
    temp_file) or a new file is seen at once; ranges and dates go to FileResponse."""
    from confsvc.media.broadcast import FILES

    running = broadcasting
    directory = running.config.broadcast_dir / running.conference
    directory.mkdir(parents=True)
    url = f"/c/{running.conference}/broadcast"
    segment = directory / "seg-0123abcd-1.ts"
    segment.write_bytes(b"G" * 188 * 10)
    playlist = directory / "index.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\nseg-0123abcd-1.ts\n")
    files = running.app[FILES]
    reads = files.reads

    first = await running.client.get(f"{url}/seg-0123abcd-1.ts")
    assert first.status == 200 and await first.read() == b"G" * 1880
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = first.headers["ETag"]
    again = await running.client.get(f"{url}/seg-0123abcd-1.ts")
    assert await again.read() == b"G" * 1880 and again.headers["ETag"] == etag
    assert files.reads == reads + 1 and files.hits >= 1  # the second came from memory

    not_modified = await running.client.get(
        f"{url}/seg-0123abcd-1.ts", headers={"If-None-Match": etag}
    )
    assert not_modified.status == 304 and await not_modified.read() == b""
    ranged = await running.client.get(f"{url}/seg-0123abcd-1.ts", headers={"Range": "bytes=0-9"})
    assert ranged.status == 206 and await ranged.read() == b"G" * 10

    assert "seg-0123abcd-1.ts" in await (await running.client.get(f"{url}/index.m3u8")).text()
    tmp = directory / "index.m3u8.tmp"  # as the HLS muxer writes it: a new file, renamed
    tmp.write_text("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:2\nseg-0123abcd-2.ts\n")
    tmp.replace(playlist)
    text = await (await running.client.get(f"{url}/index.m3u8")).text()
    assert "seg-0123abcd-2.ts" in text and "seg-0123abcd-1.ts" not in text

    segment.unlink()  # gone from disk: gone from the server, memory or not
    gone = await running.client.get(f"{url}/seg-0123abcd-1.ts")
    assert gone.status == 404


def test_the_file_cache_holds_at_most_its_bytes(tmp_path: Path) -> None:
    import os

    from confsvc.media.broadcast import FileCache

    cache = FileCache(max_bytes=250)
    paths = []
    for i in range(5):
        path = tmp_path / f"seg-{i}.ts"
        path.write_bytes(bytes([i]) * 100)
        paths.append(path)
        held = cache.get(str(path), os.stat(path))
        assert held is not None and held[0] == bytes([i]) * 100
    assert cache._bytes <= 250 and len(cache._files) == 2  # the two most recent
    assert list(cache._files) == [str(p) for p in paths[-2:]]

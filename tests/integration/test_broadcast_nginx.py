"""The shipped nginx site file (deploy/nginx/confsvc.conf) serves the HLS broadcast from
the directory confsvc writes, with confsvc's headers, while confsvc itself is not even
running: broadcast readers cost the node nothing (docs/deploy.md, "The broadcast")."""

from __future__ import annotations

import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from confsvc.media.hls import PLAYLIST, HlsSettings, HlsTranscoder
from confsvc.media.pattern import program_packets
from tests.e2e.test_proxy_nginx import (
    NGINX,
    free_port,
    main_conf,
    self_signed,
    site_conf,
    stop,
    wait_for_port,
)

CONFERENCE = "weifang-olsztyn-2020"


def write_broadcast(directory: Path) -> None:
    """3 s of a real broadcast, as the transcoder leaves it mid-conference."""
    now = [100.0]
    t = HlsTranscoder(HlsSettings(directory), clock=lambda: now[0])
    for packet in program_packets(3.2, start=now[0]):
        now[0] = packet.arrival
        t.push(packet)
    # not closed: a live playlist, without EXT-X-ENDLIST


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if not Path(NGINX).exists():
        pytest.skip(f"{NGINX} is not installed (apt-get install nginx)")
    backend, https, http = free_port(), free_port(), free_port()  # backend: nobody there
    cert, key = self_signed(tmp_path)
    broadcast = tmp_path / "broadcast"
    write_broadcast(broadcast / CONFERENCE)
    site = tmp_path / "confsvc.conf"
    site.write_text(site_conf(backend, https, http, cert, key, broadcast))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_conf(tmp_path, site))
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "nginx.stderr").open("w"),
    )
    try:
        wait_for_port(https, proc, "nginx")
        yield f"https://127.0.0.1:{https}/confsvc/c/{CONFERENCE}/broadcast", broadcast
    finally:
        stop(proc, signal.SIGQUIT)


async def test_nginx_serves_the_playlist_and_segments_with_confsvcs_headers(
    nginx: tuple[str, Path],
) -> None:
    url, broadcast = nginx
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
        async with http.get(f"{url}/index.m3u8") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            assert r.headers["Cache-Control"] == "no-cache, max-age=1"
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            playlist = await r.text()
        assert playlist == (broadcast / CONFERENCE / PLAYLIST).read_text()
        name = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        async with http.get(f"{url}/{name}") as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "video/mp2t"
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert await r.read() == (broadcast / CONFERENCE / name).read_bytes()
        async with http.get(f"{url}/index.m3u8.tmp") as r:
            assert r.status == 502  # not a broadcast file: passed on to confsvc (down here)

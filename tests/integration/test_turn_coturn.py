"""Through a real coturn (Debian's ``coturn``) with ``use-auth-secret``: coturn accepts the
credentials confsvc mints, and a viewer bot that can only use its TURN relay candidate
receives a site's video through coturn. Skips when ``turnserver`` is not installed."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.media import peer as peer_module
from confsvc.media.bot import SiteBot, ViewerBot, parse_link
from confsvc.media.ice import mint_turn_credential
from tests.integration.media_helpers import until

TURNSERVER = shutil.which("turnserver")
TURN_SECRET = "coturn-test-secret-0815"
REALM = "confsvc.test"
LOOP = ["127.0.0.1"]
# An address this machine does not have: a bot told to offer only it gathers no host
# candidate, so its one candidate is the relayed one coturn allocates for it.
NOWHERE = ["192.0.2.10"]

pytestmark = pytest.mark.skipif(
    TURNSERVER is None, reason="turnserver is not installed (apt-get install coturn)"
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Coturn:
    """``turnserver`` on 127.0.0.1 with the TURN REST API scheme, logging to a file."""

    def __init__(self, tmp: Path) -> None:
        assert TURNSERVER is not None
        self.port = free_udp_port()
        self.log = tmp / "turnserver.log"
        low = 49152 + (self.port % 1000) * 10
        self.proc = subprocess.Popen(
            [
                TURNSERVER,
                "-n",  # no configuration file
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                f"--listening-port={self.port}",
                f"--min-port={low}",
                f"--max-port={low + 9}",
                "--use-auth-secret",
                f"--static-auth-secret={TURN_SECRET}",
                f"--realm={REALM}",
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--fingerprint",
                "--verbose",
                f"--log-file={self.log}",
                "--simple-log",
                f"--pidfile={tmp / 'turnserver.pid'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def ready(self) -> None:
        await until(
            lambda: "listener opened on" in self.log_text() or self.proc.poll() is not None,
            "coturn listening",
            10,
        )
        assert self.proc.poll() is None, f"turnserver exited: {self.log_text()[-2000:]}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    server = Coturn(tmp_path)
    try:
        await server.ready()
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    "relay_uses_turn",
    [
        pytest.param(False, id="relay-direct"),
        # The relay's own connection nominated over its TURN allocation: the fan-out
        # sends through aioice's TurnTransport.
        pytest.param(True, id="relay-via-its-own-turn"),
    ],
)
async def test_viewer_receives_video_through_coturn_with_minted_credentials(
    confsvc_app: Any, coturn: Coturn, monkeypatch: pytest.MonkeyPatch, relay_uses_turn: bool
) -> None:
    if not relay_uses_turn:
        # A relay on a public address needs no TURN of its own: only the viewer relays.
        monkeypatch.setattr(peer_module, "ice_servers_for", lambda *a: [])
    running = await confsvc_app(
        ice_servers=[{"urls": coturn.url}], turn_secret=TURN_SECRET, ice_timeout_s=20.0
    )
    site = SiteBot(parse_link(running.link("site", "warsaw")), ice_addresses=LOOP)
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=NOWHERE)
    try:
        await site.start()
        await viewer.start(["warsaw"])
        # What the viewer was given is a minted pair coturn would recompute.
        [turn] = viewer.config["ice_servers"]
        expires, label = turn["username"].split(":", 1)
        assert (turn["username"], turn["credential"]) == mint_turn_credential(
            TURN_SECRET, label, int(expires)
        )
        # Its offer had no host candidate: only coturn's relayed address.
        assert viewer.pc is not None
        candidates = [
            line
            for line in viewer.pc.localDescription.sdp.splitlines()
            if line.startswith("a=candidate:")
        ]
        assert candidates
        assert all(" typ relay " in line for line in candidates)
        await until(lambda: viewer.counts["warsaw"].video_frames >= 30, "30 frames via TURN")
        assert viewer.counts["warsaw"].keyframes >= 1
    finally:
        await asyncio.gather(viewer.close(), site.close())
    log = coturn.log_text()
    assert "ALLOCATE processed, success" in log
    assert TURN_SECRET not in log


async def test_coturn_refuses_a_wrong_secret(confsvc_app: Any, coturn: Coturn) -> None:
    running = await confsvc_app(
        ice_servers=[{"urls": coturn.url}], turn_secret="not-the-secret", ice_timeout_s=3.0
    )
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=NOWHERE)
    try:
        with pytest.raises((ConnectionError, asyncio.TimeoutError)):
            await viewer.start(["warsaw"])
        assert viewer.pc is not None
        sdp = viewer.pc.localDescription.sdp if viewer.pc.localDescription else ""
        assert " typ relay " not in sdp
    finally:
        await viewer.close()

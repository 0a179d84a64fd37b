"""ICE servers as handed out by a running app: pages, ``welcome``, ``rtc.config`` and the
relay's own ``RTCPeerConnection`` carry minted TURN credentials, never the shared secret;
with no ``--ice-server`` every one of them is ``[]``. ``confsvc demo`` as a process: the
secret comes from the environment and reaches neither argv, the page nor the log."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from confsvc.media import peer as peer_module
from confsvc.media.ice import mint_turn_credential
from confsvc.media.peer import Peer
from confsvc.media.setup import RELAY
from tests.conftest import Running
from tests.integration.test_media_cli import SAMPLE, free_port

TURN_SECRET = "turn-shared-secret-do-not-leak-4711"
STUN = "stun:stun.example.org:3478"
TURN = "turn:turn.example.org:3478?transport=udp"
TTL = 3600
BOOT = re.compile(r'<script id="boot" type="application/json">(.*?)</script>', re.S)


def check_minted(servers: Any, label_part: str) -> None:
    """``[stun, turn]`` with a TURN credential that coturn would accept for its username."""
    stun, turn = servers
    assert stun == {"urls": STUN}
    assert turn["urls"] == TURN
    expires, label = turn["username"].split(":", 1)
    assert 0 < int(expires) - time.time() <= TTL
    assert label_part in label
    assert (turn["username"], turn["credential"]) == mint_turn_credential(
        TURN_SECRET, label, int(expires)
    )


async def turn_app(confsvc_app: Any) -> Running:
    running: Running = await confsvc_app(
        ice_servers=[{"urls": STUN}, {"urls": TURN}], turn_secret=TURN_SECRET, turn_ttl_s=TTL
    )
    # The secret is there to leak: what follows checks that it does not.
    assert running.app[RELAY].config.turn_secret == TURN_SECRET
    return running


async def boot_of(running: Running, path: str) -> tuple[str, dict[str, Any]]:
    resp = await running.client.get(path)
    assert resp.status == 200
    html = await resp.text()
    match = BOOT.search(html)
    assert match is not None, f"no boot data in {path}"
    return html, json.loads(match.group(1))


@pytest.mark.parametrize(
    ("role", "site"), [("participant", None), ("site", "warsaw"), ("host", None)]
)
async def test_pages_carry_minted_credentials_not_the_secret(
    confsvc_app: Any, role: str, site: str | None
) -> None:
    running = await turn_app(confsvc_app)
    html, boot = await boot_of(running, f"/j/{running.token(role, site)}")
    check_minted(boot["ice_servers"], f"{running.conference}.{role}")
    assert TURN_SECRET not in html


async def test_public_page_carries_minted_credentials_not_the_secret(confsvc_app: Any) -> None:
    running = await turn_app(confsvc_app)
    html, boot = await boot_of(running, f"/c/{running.conference}/live")
    check_minted(boot["ice_servers"], f"{running.conference}.public")
    assert TURN_SECRET not in html


async def test_welcome_and_rtc_config_carry_minted_credentials_not_the_secret(
    confsvc_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running = await turn_app(confsvc_app)
    client = await running.ws("site", "olsztyn")
    check_minted(client.welcome["ice_servers"], f"{running.conference}.site-olsztyn")
    await client.sock.send_json({"type": "rtc.config", "id": 1})
    reply = await client.expect("rtc.config")
    check_minted(reply["ice_servers"], f"{running.conference}.site-olsztyn")
    await client.close()
    assert client.seen
    assert all(TURN_SECRET not in json.dumps(m) for m in client.seen)
    assert TURN_SECRET not in caplog.text


class RecordingPC(RTCPeerConnection):
    """An ``RTCPeerConnection`` that keeps the configuration it was made with."""

    made: ClassVar[list[RTCConfiguration | None]] = []

    def __init__(self, configuration: RTCConfiguration | None = None) -> None:
        RecordingPC.made.append(configuration)
        super().__init__(configuration)


async def relay_ice_servers(running: Running, monkeypatch: pytest.MonkeyPatch, label: str) -> Any:
    """What the relay's own connection for a peer called ``label`` is configured with."""
    monkeypatch.setattr(peer_module, "RTCPeerConnection", RecordingPC)
    RecordingPC.made.clear()
    relay = running.app[RELAY]
    room = relay.room(running.conference, [])
    peer = Peer(relay, room, key=object(), label=label, notify=lambda m: None)
    await peer.pc.close()
    relay.forget(peer)
    [configuration] = RecordingPC.made
    assert configuration is not None
    return configuration.iceServers


async def test_relay_connection_gets_minted_credentials(
    confsvc_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = await turn_app(confsvc_app)
    stun, turn = await relay_ice_servers(running, monkeypatch, "participant:x/inv_1")
    assert (stun.urls, stun.username, stun.credential) == (STUN, None, None)
    as_sent = {"urls": turn.urls, "username": turn.username, "credential": turn.credential}
    check_minted([{"urls": STUN}, as_sent], "relay.participant-x-inv_1")


async def test_without_ice_servers_nothing_is_handed_out(
    confsvc_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running: Running = await confsvc_app(turn_secret=TURN_SECRET)
    _, boot = await boot_of(running, f"/j/{running.token('participant')}")
    assert boot["ice_servers"] == []
    client = await running.ws("participant")
    assert client.welcome["ice_servers"] == []
    await client.sock.send_json({"type": "rtc.config", "id": 1})
    assert (await client.expect("rtc.config"))["ice_servers"] == []
    await client.close()
    # [] and not None: on None aiortc falls back to Google's STUN server.
    assert await relay_ice_servers(running, monkeypatch, "x") == []


def test_demo_process_takes_the_secret_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CONFSVC_TURN_SECRET": TURN_SECRET}
    argv = [sys.executable, "-m", "confsvc", "demo", "--agenda", str(SAMPLE), "--port", str(port)]
    argv += ["--db", str(tmp_path / "c.db"), "--ice-server", STUN, "--ice-server", TURN, "-v"]
    argv += ["--turn-ttl", str(TTL)]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        links: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while "public" not in links and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith("http"):
                links[parts[0]] = parts[1]
        assert "participant" in links, f"no links printed: {links}"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        assert TURN_SECRET not in cmdline
        with urllib.request.urlopen(links["participant"], timeout=10) as resp:
            html = resp.read().decode()
        match = BOOT.search(html)
        assert match is not None
        check_minted(json.loads(match.group(1))["ice_servers"], ".participant")
        assert TURN_SECRET not in html
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "serving on" in err
    assert TURN_SECRET not in err

"""Janus 1.1 VideoRoom as a side-by-side baseline for ``bench/relay.py``.

``JanusServer`` writes a configuration into a temporary directory (VideoRoom only, the
plain HTTP API on a free loopback port, no STUN, ``event_loops = 2``), starts ``janus``
and stops it by its PID. Janus never gathers a loopback address (``src/ice.c`` skips
``IFF_LOOPBACK`` interfaces), so its ICE is pinned (``ice_enforce_list``) to this
machine's own address and its clients offer that one: the kernel delivers datagrams to
a local address over ``lo`` too, and nothing leaves the machine. ``JanusSite`` publishes the same
synthetic VP8 + Opus as confsvc's ``SiteBot`` (``confsvc.media.pattern``);
``JanusViewer`` subscribes to one publisher with an aiortc connection that counts the
encoded frames as ``ViewerBot`` does (``aiortc_internals.tap_receiver``): its receivers
still decrypt, depacketize and send RTCP receiver reports, REMB and NACKs, as against
confsvc. Nothing here is part of confsvc: only the benchmark uses it.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from confsvc.media import aiortc_internals as internals
from confsvc.media import pattern
from confsvc.media.bot import SiteCounts
from confsvc.media.peer import close_connection, codec_preferences, ice_configuration

ROOM = 1234
LIB = Path("/usr/lib/x86_64-linux-gnu/janus")


def own_address() -> str | None:
    """This machine's IPv4 address on its default route (no packet is sent), or ``None``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))  # TEST-NET-2: only the route is looked up
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def janus_missing() -> str | None:
    """Why the Janus baseline cannot run here, or ``None`` if it can."""
    if shutil.which("janus") is None:
        return "janus is not installed (Debian package janus)"
    if not (LIB / "plugins" / "libjanus_videoroom.so").exists():
        return f"no VideoRoom plugin in {LIB / 'plugins'}"
    if not (LIB / "transports" / "libjanus_http.so").exists():
        return f"no HTTP transport in {LIB / 'transports'}"
    if own_address() is None:
        return "no address but loopback here, and Janus never gathers loopback candidates"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _configs(port: int, rtp_ports: str, address: str) -> dict[str, str]:
    plugins = sorted(p.name for p in (LIB / "plugins").glob("libjanus_*.so"))
    transports = sorted(p.name for p in (LIB / "transports").glob("libjanus_*.so"))
    no_plugins = ",".join(p for p in plugins if p != "libjanus_videoroom.so")
    no_transports = ",".join(t for t in transports if t != "libjanus_http.so")
    return {
        "janus.jcfg": f"""general: {{
  configs_folder = "CFG"
  plugins_folder = "{LIB / "plugins"}"
  transports_folder = "{LIB / "transports"}"
  events_folder = "{LIB / "events"}"
  loggers_folder = "{LIB / "loggers"}"
  debug_level = 2
  session_timeout = 0
  event_loops = 2
}}
media: {{
  rtp_port_range = "{rtp_ports}"
  ipv6 = false
}}
nat: {{
  nice_debug = false
  ice_enforce_list = "{address}"
}}
plugins: {{ disable = "{no_plugins}" }}
transports: {{ disable = "{no_transports}" }}
events: {{ broadcast = false }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
""",
        "janus.transport.http.jcfg": f"""general: {{
  json = "plain"
  base_path = "/janus"
  http = true
  port = {port}
  ip = "127.0.0.1"
  https = false
}}
admin: {{ admin_http = false }}
""",
        "janus.plugin.videoroom.jcfg": f"""general: {{ }}
room-{ROOM}: {{
  description = "bench"
  publishers = 6
  bitrate = 0
  fir_freq = 0
  videocodec = "vp8"
  audiocodec = "opus"
  audiolevel_ext = false
  record = false
}}
""",
    }


class JanusServer:
    """``janus`` with a VideoRoom on loopback, configured in ``workdir``; stop by PID."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        address = own_address()
        if address is None:
            raise RuntimeError("no address for Janus's ICE (it never gathers loopback)")
        self.address = address
        cfg = workdir / "janus"
        cfg.mkdir(parents=True, exist_ok=True)
        first = random.randrange(20000, 50000, 1000)
        for name, text in _configs(self.port, f"{first}-{first + 999}", address).items():
            (cfg / name).write_text(text.replace('"CFG"', f'"{cfg}"'))
        self.log = (cfg / "janus.log").open("w")
        self.proc = subprocess.Popen(
            ["janus", "-C", str(cfg / "janus.jcfg"), "-F", str(cfg)],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ),
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}/janus"
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/info", timeout=1)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"janus did not start (see {cfg / 'janus.log'})") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class JanusHandle:
    """One session with one VideoRoom handle over Janus's HTTP API (long-polled events)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.session = 0
        self.handle = 0
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"transaction": f"{random.getrandbits(48):x}", **body}
        async with self.http.post(f"{self.url}{path}", json=body) as r:
            reply: dict[str, Any] = await r.json(content_type=None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus: {reply.get('error')}")
        return reply

    async def open(self) -> None:
        self.session = (await self._post("", {"janus": "create"}))["data"]["id"]
        attach = {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        self.handle = (await self._post(f"/{self.session}", attach))["data"]["id"]
        self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.session}?maxev=5") as r:
                    events = await r.json(content_type=None)
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                if event.get("janus") == "event":
                    self._events.put_nowait(event)

    async def request(
        self,
        body: dict[str, Any],
        want: str,
        jsep: dict[str, str] | None = None,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Send a plugin message; the plugin's event in answer: the first one that has
        ``want`` (a key of the plugin data, or ``jsep``), other notifications skipped."""
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        await self._post(f"/{self.session}/{self.handle}", message)
        while True:
            event = await asyncio.wait_for(self._events.get(), timeout)
            data = event.get("plugindata", {}).get("data", {})
            if "error" in data:
                raise RuntimeError(f"videoroom: {data['error']}")
            if want in data or want in event:
                return event

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self.session:
            try:
                await self._post(f"/{self.session}", {"janus": "destroy"})
            except (aiohttp.ClientError, RuntimeError):
                pass


class JanusSite:
    """One site publishing the synthetic VP8 + Opus into the room (as ``SiteBot`` does)."""

    def __init__(self, http: aiohttp.ClientSession, server: JanusServer | tuple[str, str],
                 site: str, hz: float) -> None:  # fmt: skip
        url, self.address = (
            (server.url, server.address) if isinstance(server, JanusServer) else server
        )
        self.janus = JanusHandle(http, url)
        self.site = site
        self.hz = hz
        self.pc: RTCPeerConnection | None = None
        self.feed = 0

    async def start(self, kbps: int = 1000, noise: int = 6) -> None:
        await self.janus.open()
        joined = await self.janus.request(
            {"request": "join", "ptype": "publisher", "room": ROOM, "display": self.site}, "id"
        )
        self.feed = int(joined["plugindata"]["data"]["id"])
        loop = asyncio.get_running_loop()
        video, audio = await loop.run_in_executor(
            None,
            lambda: (pattern.video_track(self.site, kbps, noise), pattern.audio_track(self.hz)),
        )
        self.pc = RTCPeerConnection(ice_configuration([]))
        for track in (audio, video):
            t = self.pc.addTransceiver(track, direction="sendonly")
            t.setCodecPreferences(codec_preferences(track.kind))
            if track.kind == "video":
                internals.on_keyframe_request(t.sender, video.restart_loop)
        with internals.local_addresses([self.address]):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"type": "offer", "sdp": self.pc.localDescription.sdp}
        event = await self.janus.request({"request": "publish"}, "jsep", offer)
        await self.pc.setRemoteDescription(RTCSessionDescription(**event["jsep"]))
        await _connected(self.pc)

    async def close(self) -> None:
        if self.pc is not None:
            await close_connection(self.pc)
        await self.janus.close()


async def _connected(pc: RTCPeerConnection, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
            raise ConnectionError(f"the connection to janus is {pc.connectionState}")
        await asyncio.sleep(0.05)


class JanusViewer:
    """An aiortc subscriber of one publisher: counts encoded frames (``SiteCounts``)."""

    def __init__(self, http: aiohttp.ClientSession, server: JanusServer | tuple[str, str],
                 site: str, feed: int) -> None:  # fmt: skip
        url, self.address = (
            (server.url, server.address) if isinstance(server, JanusServer) else server
        )
        self.janus = JanusHandle(http, url)
        self.site = site
        self.feed = feed
        self.pc: RTCPeerConnection | None = None
        self.counts = {site: SiteCounts()}
        self.started = 0.0

    async def start(self) -> None:
        self.started = time.monotonic()
        await self.janus.open()
        event = await self.janus.request(
            {"request": "join", "ptype": "subscriber", "room": ROOM,
             "streams": [{"feed": self.feed}]},
            "jsep",
        )  # fmt: skip
        self.pc = RTCPeerConnection(ice_configuration([]))
        await self.pc.setRemoteDescription(RTCSessionDescription(**event["jsep"]))
        for t in self.pc.getTransceivers():
            internals.tap_receiver(t.receiver, self._counter(t.kind))
        with internals.local_addresses([self.address]):
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = {"type": "answer", "sdp": self.pc.localDescription.sdp}
        await self.janus.request({"request": "start", "room": ROOM}, "started", answer)
        await _connected(self.pc)

    def _counter(self, kind: str) -> Any:
        c = self.counts[self.site]

        def count(data: bytes, timestamp: int, keyframe: bool) -> None:
            if kind == "video":
                if c.first_frame_ms is None:
                    c.first_frame_ms = round((time.monotonic() - self.started) * 1000, 1)
                c.video_frames += 1
                c.keyframes += int(keyframe)
            else:
                c.audio_frames += 1

        return count

    async def close(self) -> None:
        if self.pc is not None:
            await close_connection(self.pc)
        await self.janus.close()

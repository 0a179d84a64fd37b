"""Headless clients that join like a browser does, over the conference WebSocket.

``SiteBot`` publishes the synthetic pattern and tone of ``pattern.py``; ``ViewerBot``
subscribes to every site and counts what arrives, without decoding (it taps the encoded
frames the same way the relay does). Used by ``confsvc bot``, ``confsvc loadtest``, the
demo and the tests. Only the invite link is needed.

With ``reconnect=True`` a bot starts over by itself, as a page does, when its WebSocket
closes or the server says its media connection failed (e.g. ``rtc.state`` failed: the
conference's media home went away, docs/media.md): a new socket, a new offer, retried
every ``RETRY_S`` until one is answered; a viewer's counts carry on across reconnects.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import av
from aiortc import RTCPeerConnection, RTCSessionDescription

from confsvc.aio import cancel_and_wait
from confsvc.core.errors import BadRequest
from confsvc.media import aiortc_internals as internals
from confsvc.media import pattern
from confsvc.media.peer import close_connection, codec_preferences, ice_configuration

log = logging.getLogger(__name__)

RETRY_S = 0.5  # between attempts to reconnect (a new home takes up to a lease to appear)


@dataclass(frozen=True, slots=True)
class Link:
    base: str
    token: str
    conference: str
    role: str
    site: str | None

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.base.startswith("https") else "ws"
        return f"{scheme}{self.base[self.base.index(':') :]}/c/{self.conference}/ws"


def parse_link(url: str) -> Link:
    """``http://host:port[/PREFIX]/j/<token>``; the token's payload names conference, role
    and site. A prefix (``--public-url https://example.org/confsvc/``) stays in ``base``."""
    parts = urlsplit(url)
    prefix, sep, token = parts.path.rpartition("/j/")
    if parts.scheme not in ("http", "https") or not sep or not token or "/" in token:
        raise BadRequest(f"not an invite link: {url!r} (expected http://HOST/j/TOKEN)")
    try:
        payload = token.split(".")[0]
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        conference, role, site = str(body["c"]), str(body["r"]), body.get("s")
    except (ValueError, KeyError, IndexError):
        raise BadRequest("the invite link's token cannot be read") from None
    return Link(f"{parts.scheme}://{parts.netloc}{prefix}", token, conference, role, site)


@dataclass
class SiteCounts:
    video_frames: int = 0
    audio_frames: int = 0
    keyframes: int = 0
    first_frame_ms: float | None = None
    video_bytes: int = 0
    audio_bytes: int = 0
    first_at: float | None = None
    last_at: float | None = None
    decoded_frames: int = 0  # only with ViewerBot(decode=True)
    decode_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "keyframes": self.keyframes,
            "first_frame_ms": self.first_frame_ms,
        }


@dataclass
class BotBase:
    link: Link
    ice_addresses: list[str] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    ws: aiohttp.ClientWebSocketResponse | None = None
    pc: RTCPeerConnection | None = None
    config: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    state: str = "new"
    started: float = 0.0
    reconnect: bool = False
    reconnects: int = 0  # times it started over (reconnect=True)
    lost_at: float | None = None  # monotonic time it last found its connection gone
    seq: int | None = None  # the highest seq seen: a reconnect resumes from it
    # On a shared audience link, the person this bot is (welcome.you.person_token): sent
    # again in each hello, so a reconnect stays that person (its keys, votes, questions).
    person_token: str | None = None
    _reader: asyncio.Task[None] | None = None
    _waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = field(default_factory=dict)
    _live: bool = False
    _lost: asyncio.Event = field(default_factory=asyncio.Event)
    _supervisor: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        self.started = time.monotonic()
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(
            self.link.ws_url, heartbeat=20, timeout=aiohttp.ClientWSTimeout(ws_close=2.0)
        )
        hello: dict[str, Any] = {"type": "hello", "token": self.link.token}
        if self.seq is not None:
            hello["seq"] = self.seq  # only what it missed (docs/protocol.md, "Resuming")
        if self.person_token is not None:  # the same person on a shared audience link
            hello["person"] = self.person_token
        await self.ws.send_json(hello)
        self._reader = asyncio.create_task(self._read())
        welcome = await self.expect("welcome")
        you = welcome.get("you") or {}
        if isinstance(you.get("person_token"), str):
            self.person_token = you["person_token"]
        await self.ws.send_json({"type": "rtc.config"})
        self.config = await self.expect("rtc.config")

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            seq = data.get("seq")
            if isinstance(seq, int) and (self.seq is None or seq > self.seq):
                self.seq = seq
            self.messages.append(data)
            del self.messages[:-200]
            kind = data.get("type")
            if kind == "rtc.state":
                self.state = data.get("state", self.state)
                if self.state == "failed" or (
                    self.state == "closed" and data.get("reason") != "left"
                ):
                    self._gone(f"rtc.state {self.state}: {data.get('reason')}")
            for fut in self._waiters.pop(kind, []):
                if not fut.done():
                    fut.set_result(data)
            if kind == "error":
                for waiters in self._waiters.values():
                    for fut in waiters:
                        if not fut.done():
                            fut.set_exception(BadRequest(f"server: {data.get('message')}"))
                self._waiters.clear()
        for waiters in self._waiters.values():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(ConnectionError("the WebSocket closed"))
        self._gone("the WebSocket closed")

    @property
    def live(self) -> bool:
        """Its media connection is up (after a reconnect: the new one)."""
        return self._live

    def _gone(self, why: str) -> None:
        """The media connection that was up is gone: the supervisor starts over."""
        if not self._live:
            return
        self._live = False
        self.lost_at = time.monotonic()
        log.info("%s bot: %s", self.link.role, why)
        self._lost.set()

    async def _connect(self) -> None:
        """Open the socket and negotiate (the subclass's start)."""
        raise NotImplementedError

    async def _up(self) -> None:
        """Connect; with ``reconnect``, keep connecting again whenever it is lost."""
        await self._connect()
        self._live = True
        if self.reconnect and self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="bot-reconnect")

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            self._lost.clear()
            self.reconnects += 1
            while True:
                await self._teardown()
                try:
                    await self._connect()
                except (
                    ConnectionError,
                    OSError,
                    TimeoutError,
                    BadRequest,
                    aiohttp.ClientError,
                ) as exc:
                    log.info(
                        "%s bot: reconnecting failed (%s); again in %.1f s",
                        self.link.role,
                        exc,
                        RETRY_S,
                    )
                    await asyncio.sleep(RETRY_S)
                    continue
                self._live = True
                break

    async def expect(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(kind, []).append(fut)
        return await asyncio.wait_for(fut, timeout)

    async def _negotiate(self, publish: bool, subscribe: list[str]) -> dict[str, Any]:
        assert self.pc is not None and self.ws is not None
        with internals.local_addresses(self.ice_addresses):
            await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.ws.send_json(
            {
                "type": "rtc.offer",
                "sdp": self.pc.localDescription.sdp,
                "publish": publish,
                "subscribe": subscribe,
            }
        )
        connected = asyncio.ensure_future(self.expect("rtc.state"))
        try:
            answer = await self.expect("rtc.answer")
            await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            state = await connected
        finally:
            connected.cancel()
        if state.get("state") != "connected":
            raise ConnectionError(f"media connection {state.get('state')}: {state.get('reason')}")
        return answer

    async def _receive_from(
        self, sites: list[str] | None
    ) -> tuple[list[str], list[tuple[str, str, Any]]]:
        """Open the socket and a connection with a recvonly audio and video section per site.

        ``sites`` ``None`` means every site of the conference. Returns the sites and the
        ``(site, kind, transceiver)`` sections, in offer order.
        """
        await self._open()
        wanted = sites if sites is not None else [s["id"] for s in self.config["sites"]]
        self.pc = RTCPeerConnection(ice_configuration(self.config.get("ice_servers", [])))
        sections = []
        for site in wanted:
            for kind in ("audio", "video"):
                t = self.pc.addTransceiver(kind, direction="recvonly")
                t.setCodecPreferences(codec_preferences(kind))
                sections.append((site, kind, t))
        return wanted, sections

    async def _teardown(self) -> None:
        """Close the connection, the socket and the session (the bot may connect again)."""
        self._live = False
        pc, ws, session, reader = self.pc, self.ws, self.session, self._reader
        self.pc = self.ws = self.session = self._reader = None
        self._waiters = {}
        if pc is not None:
            try:
                await close_connection(pc)
            except TimeoutError:
                log.warning(
                    "%s bot: the old media connection did not close in time", self.link.role
                )
        if ws is not None:
            await ws.close()
        await cancel_and_wait(reader)
        if session is not None:
            await session.close()

    async def close(self) -> None:
        await cancel_and_wait(self._supervisor)
        self._supervisor = None
        await self._teardown()


class SiteBot(BotBase):
    """Publishes a test pattern with the city's name and a tone."""

    video: pattern.EncodedLoopTrack | None = None
    audio: pattern.EncodedLoopTrack | None = None
    _pattern: tuple[int, int, str] = (1000, 0, "en")

    async def start(self, *, kbps: int = 1000, noise: int = 0, lang: str = "en") -> None:
        if self.link.role != "site" or not self.link.site:
            raise BadRequest("a site bot needs a site link")
        self._pattern = (kbps, noise, lang)
        await self._up()

    async def _connect(self) -> None:
        kbps, noise, lang = self._pattern
        await self._open()
        if self.video is None or self.audio is None:
            site = next((s for s in self.config["sites"] if s["id"] == self.link.site), None)
            names = site["name"] if site else {}
            city = str(names.get(lang) or names.get("en") or self.link.site)
            hz = 330.0 + 110.0 * [s["id"] for s in self.config["sites"]].index(self.link.site)
            loop = asyncio.get_running_loop()
            self.video, self.audio = await loop.run_in_executor(
                None, lambda: (pattern.video_track(city, kbps, noise), pattern.audio_track(hz))
            )
        elif self.pc is None and self.reconnects:
            self.video, self.audio = self.video.fresh(), self.audio.fresh()
        video, audio = self.video, self.audio
        assert video is not None and audio is not None
        self.pc = RTCPeerConnection(ice_configuration(self.config.get("ice_servers", [])))
        for track in (audio, video):
            t = self.pc.addTransceiver(track, direction="sendonly")
            t.setCodecPreferences(codec_preferences(track.kind))
            if track.kind == "video":
                internals.on_keyframe_request(t.sender, video.restart_loop)
        await self._negotiate(True, [])


@dataclass
class ViewerBot(BotBase):
    """Subscribes to every site and counts encoded frames per site.

    With ``decode=True`` it also decodes every video frame (PyAV's libvpx) and counts the
    frames that decoded and the ones that failed: what a browser would show.
    """

    decode: bool = False
    counts: dict[str, SiteCounts] = field(default_factory=dict)
    receivers: dict[tuple[str, str], Any] = field(default_factory=dict)
    _sites: list[str] | None = None

    async def start(self, sites: list[str] | None = None) -> None:
        self._sites = sites
        await self._up()

    async def _connect(self) -> None:
        wanted, sections = await self._receive_from(self._sites)
        for s in wanted:  # counts carry on across reconnects
            self.counts.setdefault(s, SiteCounts())
        self.receivers = {}
        for site, kind, t in sections:
            internals.tap_receiver(t.receiver, self._counter(site, kind))
            self.receivers[(site, kind)] = t.receiver
        await self._negotiate(False, wanted)

    def _counter(self, site: str, kind: str) -> Any:
        c = self.counts[site]
        decoder = av.CodecContext.create("libvpx", "r") if self.decode and kind == "video" else None

        def count(data: bytes, timestamp: int, keyframe: bool) -> None:
            now = time.monotonic()
            size = len(data)
            if decoder is not None:
                try:
                    c.decoded_frames += len(decoder.decode(av.Packet(data)))
                except av.error.FFmpegError:
                    c.decode_errors += 1
            if kind == "video":
                if c.first_frame_ms is None:
                    c.first_frame_ms = round((now - self.started) * 1000, 1)
                    c.first_at = now
                c.video_frames += 1
                c.video_bytes += size
                c.keyframes += int(keyframe)
                c.last_at = now
            else:
                c.audio_frames += 1
                c.audio_bytes += size

        return count

    async def packets(self, site: str, kind: str) -> tuple[int, int]:
        """(received, lost) RTP packets of one slot, from the receiver's RTCP statistics."""
        received = lost = 0
        for stat in (await self.receivers[(site, kind)].getStats()).values():
            if stat.type == "inbound-rtp":
                received += stat.packetsReceived
                lost += max(0, stat.packetsLost)
        return received, lost

    def report(self) -> dict[str, Any]:
        return {"sites": {site: c.as_dict() for site, c in self.counts.items()}}


@dataclass
class RtpTally:
    """One received SSRC, from clear RTP headers: packets, frames (marker bits), loss."""

    site: str
    kind: str
    packets: int = 0
    frames: int = 0
    first_seq: int | None = None
    highest: int = 0  # extended sequence number (wraps counted)

    def add(self, seq: int, marker: bool) -> None:
        self.packets += 1
        if self.kind == "audio" or marker:
            self.frames += 1
        if self.first_seq is None:
            self.first_seq = self.highest = seq
            return
        # Extend the 16-bit number to the one nearest the highest seen so far.
        candidate = (self.highest & ~0xFFFF) | seq
        if candidate < self.highest - 0x8000:
            candidate += 0x10000
        elif candidate > self.highest + 0x8000:
            candidate -= 0x10000
        self.highest = max(self.highest, candidate)

    def lost(self) -> int:
        if self.first_seq is None:
            return 0
        return max(0, self.highest - self.first_seq + 1 - self.packets)


@dataclass
class LightViewerBot(BotBase):
    """A viewer for load tests: ICE and DTLS as a browser, but media is only counted.

    Incoming RTP never reaches aiortc (``aiortc_internals.tap_incoming_rtp``): frames are
    counted from the clear SRTP header (marker bit) and loss from sequence numbers, so
    one process can stand in for hundreds of viewers. It cannot see keyframes (that
    needs decryption): use ``ViewerBot`` for those checks.
    """

    counts: dict[str, SiteCounts] = field(default_factory=dict)
    tallies: dict[int, RtpTally] = field(default_factory=dict)
    unknown_packets: int = 0
    _sites: list[str] | None = None

    async def start(self, sites: list[str] | None = None) -> None:
        self._sites = sites
        await self._up()

    async def _connect(self) -> None:
        wanted, _sections = await self._receive_from(self._sites)
        for s in wanted:  # counts carry on across reconnects; tallies are per connection
            self.counts.setdefault(s, SiteCounts())
        self.tallies = {}
        answer = await self._negotiate(False, wanted)
        slots = answer.get("slots", {})
        for media in internals.parse_sdp(answer["sdp"]).media:
            slot = slots.get(media.rtp.muxId)
            if slot is None or not media.ssrc or slot["site"] not in self.counts:
                continue
            self.tallies[int(media.ssrc[0].ssrc)] = RtpTally(slot["site"], slot["kind"])
        internals.tap_incoming_rtp(self.pc, self._on_rtp)

    def _on_rtp(self, data: bytes) -> None:
        tally = self.tallies.get(int.from_bytes(data[8:12], "big"))
        if tally is None:
            self.unknown_packets += 1  # e.g. a retransmission on an RTX SSRC
            return
        marker = data[1] & 0x80 != 0
        tally.add(int.from_bytes(data[2:4], "big"), marker)
        c = self.counts[tally.site]
        if tally.kind == "audio":
            c.audio_frames += 1
            c.audio_bytes += len(data)
        elif marker:
            now = time.monotonic()
            if c.first_frame_ms is None:
                c.first_frame_ms = round((now - self.started) * 1000, 1)
                c.first_at = now
            c.video_frames += 1
            c.last_at = now
        else:
            c.video_bytes += len(data)

    async def packets(self, site: str, kind: str) -> tuple[int, int]:
        """(received, lost) RTP packets of one slot, from sequence numbers."""
        for tally in self.tallies.values():
            if tally.site == site and tally.kind == kind:
                return tally.packets, tally.lost()
        return 0, 0

    def report(self) -> dict[str, Any]:
        return {"sites": {site: c.as_dict() for site, c in self.counts.items()}}


async def run_bot(
    url: str,
    seconds: float,
    ice_addresses: list[str],
    on_live: Callable[[str], None] | None = None,
    reconnect: bool = True,
) -> dict[str, Any]:
    """``confsvc bot``: publish (site link) or subscribe (any other link) for ``seconds``.

    ``on_live(what)`` is called once the media connection is up (before the ``seconds``).
    With ``reconnect`` (the default, as a page does) a lost socket or a failed media
    connection is started over; the result counts the ``reconnects``.
    """
    link = parse_link(url)
    bot: SiteBot | ViewerBot
    if link.role == "site":
        bot = SiteBot(link, ice_addresses=ice_addresses, reconnect=reconnect)
        try:
            await bot.start()
            if on_live is not None:
                on_live(f"site {link.site} is publishing")
            await asyncio.sleep(seconds)
            assert bot.video is not None and bot.audio is not None
            return {
                "site": link.site,
                "state": bot.state,
                "sent": {"video_frames": bot.video.sent, "audio_frames": bot.audio.sent},
                "reconnects": bot.reconnects,
            }
        finally:
            await bot.close()
    bot = ViewerBot(link, ice_addresses=ice_addresses, reconnect=reconnect)
    try:
        await bot.start()
        if on_live is not None:
            on_live("receiving")
        await asyncio.sleep(seconds)
        return {**bot.report(), "reconnects": bot.reconnects}
    finally:
        await bot.close()


async def run_loadtest(
    urls: list[str],
    participants: int,
    seconds: float,
    ice_addresses: list[str],
    warmup: float = 2.0,
    per_link: int = 8,
    light: bool = False,
) -> dict[str, Any]:
    """N viewer bots, ``per_link`` on each link: per-subscriber frame rates and loss.

    A link allows ``Config.max_connections_per_invite`` (8) connections: give enough links.
    ``light`` uses ``LightViewerBot``s (counted from RTP headers, no decryption), so that
    one process can stand in for hundreds of viewers.
    """
    if participants > per_link * len(urls):
        raise BadRequest(
            f"{participants} participants need {-(-participants // per_link)} links "
            f"({per_link} connections per link); pass --link several times"
        )
    links = [parse_link(u) for u in urls]
    kind: type[ViewerBot | LightViewerBot] = LightViewerBot if light else ViewerBot
    bots = [kind(links[i // per_link], ice_addresses=ice_addresses) for i in range(participants)]
    try:
        for i in range(0, len(bots), 8):
            await asyncio.gather(*(b.start() for b in bots[i : i + 8]))
        await asyncio.sleep(warmup)
        before = [{s: (c.video_frames, c.audio_frames) for s, c in b.counts.items()} for b in bots]
        rtp0 = [{s: await b.packets(s, "video") for s in b.counts} for b in bots]
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        span = time.monotonic() - t0
        rows = []
        for i, b in enumerate(bots):
            row: dict[str, Any] = {}
            for s, c in b.counts.items():
                v0, a0 = before[i][s]
                got, lost = await b.packets(s, "video")
                got, lost = got - rtp0[i][s][0], lost - rtp0[i][s][1]
                row[s] = {
                    "video_fps": round((c.video_frames - v0) / span, 1),
                    "audio_fps": round((c.audio_frames - a0) / span, 1),
                    "video_loss_pct": round(100 * lost / (got + lost), 2) if got + lost else 0.0,
                }
            rows.append(row)
        return {"subscribers": rows, "seconds": round(span, 1)}
    finally:
        await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)

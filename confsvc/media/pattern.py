"""A synthetic site for bots: a test pattern with the city's name and a tone, made with PyAV.

Both are encoded once (VP8 640x480, a 2 s loop starting on a keyframe; Opus, a 1 s tone)
and then replayed as encoded packets, so a bot costs almost no CPU and the relay sees
what a browser sends. A keyframe request restarts the video loop at its keyframe.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
import zlib
from fractions import Fraction

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from confsvc.media.aiortc_internals import EncodedPacket
from confsvc.media.program import ProgramPacket

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms

# A 5x7 bitmap font: enough for city names and digits (other characters become blanks).
_FONT = {
    "A": "01110100011000111111100011000110001",
    "B": "11110100011000111110100011000111110",
    "C": "01110100011000010000100001000101110",
    "D": "11110100011000110001100011000111110",
    "E": "11111100001000011110100001000011111",
    "F": "11111100001000011110100001000010000",
    "G": "01110100011000010111100011000101111",
    "H": "10001100011000111111100011000110001",
    "I": "01110001000010000100001000010001110",
    "J": "00111000100001000010000101001001100",
    "K": "10001100101010011000101001001010001",
    "L": "10000100001000010000100001000011111",
    "M": "10001110111010110101100011000110001",
    "N": "10001110011010110011100011000110001",
    "O": "01110100011000110001100011000101110",
    "P": "11110100011000111110100001000010000",
    "Q": "01110100011000110001101011001001101",
    "R": "11110100011000111110101001001010001",
    "S": "01111100001000001110000010000111110",
    "T": "11111001000010000100001000010000100",
    "U": "10001100011000110001100011000101110",
    "V": "10001100011000110001100010101000100",
    "W": "10001100011000110101101011010101010",
    "X": "10001100010101000100010101000110001",
    "Y": "10001100010101000100001000010000100",
    "Z": "11111000010001000100010001000011111",
    "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110",
    "2": "01110100010000100010001000100011111",
    "3": "11111000100010000010000011000101110",
    "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110",
    "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000",
    "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100",
    ":": "00000011000110000000011000110000000",
    "-": "00000000000000011111000000000000000",
}


def _text_mask(text: str, scale: int) -> np.ndarray:
    glyphs = [_FONT.get(ch.upper(), "0" * 35) for ch in text]
    mask = np.zeros((7, max(1, len(glyphs) * 6)), dtype=bool)
    for i, g in enumerate(glyphs):
        mask[:, i * 6 : i * 6 + 5] = np.array([c == "1" for c in g]).reshape(7, 5)
    return np.kron(mask, np.ones((scale, scale), dtype=bool))


def _draw(img: np.ndarray, text: str, x: int, y: int, scale: int, color: tuple[int, ...]) -> None:
    m = _text_mask(text, scale)
    h = min(m.shape[0], img.shape[0] - y)
    w = min(m.shape[1], img.shape[1] - x)
    if h > 0 and w > 0:
        img[y : y + h, x : x + w][m[:h, :w]] = color


def pattern_frames(city: str, count: int = 2 * FPS, noise: int = 0) -> list[np.ndarray]:
    """RGB frames: a colour per city, the city's name, a moving bar and a frame counter.

    ``noise`` (0-255) adds film grain so the encoder has bits to spend (benchmarks).
    """
    rng = np.random.default_rng(zlib.crc32(city.encode()))
    hue = zlib.crc32(city.encode()) % 360
    base = np.array(
        [127 + 100 * math.cos(math.radians(hue + k * 120)) for k in range(3)], dtype=np.uint8
    )
    frames = []
    for n in range(count):
        img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
        img[:] = base
        img[:, :, 0] = (img[:, :, 0].astype(np.int32) + np.arange(WIDTH)[None, :] // 8) % 256
        x = int(n * (WIDTH - 40) / max(1, count - 1))
        img[HEIGHT - 80 : HEIGHT - 40, x : x + 40] = 255
        name = city[:16]
        scale = max(4, min(10, (WIDTH - 40) // max(1, 6 * len(name))))
        _draw(img, name, 20, 120, scale, (255, 255, 255))
        _draw(img, f"{n:02d}", 20, 300, 6, (0, 0, 0))
        if noise:
            grain = rng.integers(0, noise, size=(HEIGHT, WIDTH, 1), dtype=np.uint8)
            img = (img.astype(np.int16) + grain - noise // 2).clip(0, 255).astype(np.uint8)
        frames.append(img)
    return frames


@functools.lru_cache(maxsize=16)
def encode_video(city: str, kbps: int = 1000, noise: int = 0) -> list[bytes]:
    """The loop as VP8 frames; the first is the only keyframe."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height = WIDTH, HEIGHT
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, FPS)
    ctx.framerate = Fraction(FPS, 1)
    ctx.bit_rate = kbps * 1000
    ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "g": "100000"}
    out: list[bytes] = []
    for n, rgb in enumerate(pattern_frames(city, noise=noise)):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = n
        out.extend(bytes(p) for p in ctx.encode(frame))
    out.extend(bytes(p) for p in ctx.encode(None))
    return out


@functools.lru_cache(maxsize=16)
def encode_tone(hz: float = 440.0, seconds: float = 1.0) -> list[bytes]:
    """A tone as 20 ms Opus packets (a whole number of periods, so the loop is seamless)."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate = AUDIO_RATE
    ctx.layout = "mono"
    ctx.format = "s16"
    ctx.bit_rate = 48000
    ctx.time_base = Fraction(1, AUDIO_RATE)
    total = int(AUDIO_RATE * seconds)
    t = np.arange(total) / AUDIO_RATE
    wave = (8000 * np.sin(2 * math.pi * hz * t)).astype(np.int16)
    out: list[bytes] = []
    for i in range(0, total, AUDIO_SAMPLES):
        frame = av.AudioFrame.from_ndarray(
            wave[i : i + AUDIO_SAMPLES].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts = i
        out.extend(bytes(p) for p in ctx.encode(frame))
    out.extend(bytes(p) for p in ctx.encode(None))
    return out


class EncodedLoopTrack(MediaStreamTrack):
    """Replays encoded packets in real time; ``recv`` yields ``EncodedPacket`` (no encoding)."""

    def __init__(self, kind: str, packets: list[bytes], rate: float, clock: int, step: int):
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._period = 1.0 / rate
        self._time_base = Fraction(1, clock)
        self._step = step
        self._n = 0
        self._i = 0
        self._start: float | None = None
        self.sent = 0

    def restart_loop(self) -> None:
        """Keyframe request: the next frame is the loop's first (a keyframe)."""
        self._i = 0

    def fresh(self) -> EncodedLoopTrack:
        """A new track of the same packets, from the loop's start (closing a connection
        ends its tracks: a bot that reconnects sends a fresh one, without encoding again)."""
        return EncodedLoopTrack(
            self.kind, self._packets, 1.0 / self._period, self._time_base.denominator, self._step
        )

    async def recv(self) -> EncodedPacket:  # type: ignore[override,unused-ignore]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * self._period - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._packets[self._i])
        packet.pts = self._n * self._step
        packet.time_base = self._time_base
        self._n += 1
        self._i = (self._i + 1) % len(self._packets)
        self.sent += 1
        return packet


def video_track(city: str, kbps: int = 1000, noise: int = 0) -> EncodedLoopTrack:
    packets = list(encode_video(city, kbps, noise))
    return EncodedLoopTrack("video", packets, FPS, VIDEO_CLOCK, VIDEO_CLOCK // FPS)


def audio_track(hz: float = 440.0) -> EncodedLoopTrack:
    return EncodedLoopTrack("audio", list(encode_tone(hz)), 50, AUDIO_RATE, AUDIO_SAMPLES)


def program_packets(
    seconds: float,
    *,
    site: str = "weifang",
    start: float = 0.0,
    timestamp0: int = 0,
    kinds: tuple[str, ...] = ("video", "audio"),
    noise: int = 0,
) -> list[ProgramPacket]:
    """A site's pattern and tone as the program carries them, in arrival order: what a
    broadcast test or bench feeds its transcoder without a room (``arrival`` from
    ``start``, RTP timestamps from ``timestamp0``)."""
    video = encode_video(site.capitalize(), noise=noise) if "video" in kinds else []
    tone = encode_tone() if "audio" in kinds else []
    out = []
    for n in range(int(seconds * FPS) if video else 0):
        data = video[n % len(video)]
        out.append(
            ProgramPacket(
                "video", data, timestamp0 + n * 3000, n % len(video) == 0, start + n / FPS, site
            )
        )
    for n in range(int(seconds * 50) if tone else 0):
        data = tone[n % len(tone)]
        ts = timestamp0 + n * AUDIO_SAMPLES
        out.append(ProgramPacket("audio", data, ts, True, start + n * 0.02, site))
    out.sort(key=lambda p: p.arrival)
    return out

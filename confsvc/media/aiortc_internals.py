"""Every use of aiortc's and aioice's private names, in one place (checked on aiortc 1.16.0).

aiortc has no public hook for encoded frames, for keyframe requests or for choosing the
local ICE addresses. This module provides exactly those, and nothing else reaches into
aiortc. ``tests/unit/test_media_internals.py`` fails loudly when an upgrade moves any of
the names below; read MEDIA-NOTES.md before changing them.

Private names used:
- ``RTCRtpReceiver._RTCRtpReceiver__decoder_queue`` (replaced by a tap before ``receive()``
  starts the decoder thread, which then only ever gets its stop sentinel) and
  ``_RTCRtpReceiver__decoder_thread`` (must still be ``None`` when the tap goes in);
- ``RTCRtpReceiver._send_rtcp_pli(ssrc)`` (sending a PLI; wrapped per instance to learn
  about frames the jitter buffer dropped, i.e. loss before the server);
- ``RTCRtpSender._send_keyframe()`` (called on a subscriber's PLI/FIR; redirected);
- ``aiortc.jitterbuffer.JitterFrame`` (``.data``, ``.timestamp``);
- ``aioice.ice.get_host_addresses`` (which local addresses are offered);
- ``aiortc.sdp.SessionDescription`` (parsing offers to validate them).
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, TypeAlias

import aioice.ice
import aiortc
import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterFrame
from aiortc.sdp import SessionDescription

CHECKED_AIORTC = "1.16.0"

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"

EncodedPacket: TypeAlias = "av.Packet[Any]"
FrameCallback = Callable[[EncodedPacket, bool], None]


class InternalsMoved(RuntimeError):
    """aiortc changed underneath us: the relay cannot forward encoded frames."""


def check_version() -> None:
    if aiortc.__version__ != CHECKED_AIORTC:
        raise InternalsMoved(
            f"confsvc.media was checked against aiortc {CHECKED_AIORTC}, found "
            f"{aiortc.__version__}: run tests/unit/test_media_internals.py and update "
            "confsvc/media/aiortc_internals.py"
        )


def is_vp8_keyframe(data: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the first byte of the frame tag is 0 for a key frame."""
    return len(data) > 0 and (data[0] & 0x01) == 0


class _Tap(queue.Queue):  # type: ignore[type-arg]
    """Stands in for the receiver's decoder queue: frames go to the relay, not the decoder.

    ``put`` is called on the event loop by ``RTCRtpReceiver._handle_rtp_packet`` with
    ``(codec, JitterFrame)``; ``None`` is the decoder thread's stop sentinel and is
    queued for real so the (idle) thread exits.
    """

    def __init__(self, on_frame: FrameCallback) -> None:
        super().__init__()
        self.on_frame: FrameCallback | None = on_frame
        self._time_bases: dict[int, Fraction] = {}

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            self.on_frame = None
            super().put(None)
            return
        callback = self.on_frame
        if callback is None:
            return
        codec, frame = item
        rate = codec.clockRate
        tb = self._time_bases.get(rate)
        if tb is None:
            tb = self._time_bases[rate] = Fraction(1, rate)
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = tb
        keyframe = codec.mimeType.lower() == "video/vp8" and is_vp8_keyframe(frame.data)
        callback(packet, keyframe)


def tap_receiver(
    receiver: RTCRtpReceiver,
    on_frame: FrameCallback,
    on_loss: Callable[[], None] | None = None,
) -> Callable[[int], Any]:
    """Make ``receiver`` hand its encoded frames to ``on_frame(packet, is_keyframe)``.

    Must run before ``receive()`` (i.e. from the ``track`` event or right after
    ``setRemoteDescription``). ``on_loss`` is called whenever the receiver's jitter buffer
    gave up on a frame (it then sends a PLI itself). Returns ``send_pli(ssrc)``, a
    coroutine function that asks the publisher for a keyframe.
    """
    if not hasattr(receiver, _DECODER_QUEUE) or not hasattr(receiver, _DECODER_THREAD):
        raise InternalsMoved("RTCRtpReceiver has no __decoder_queue / __decoder_thread")
    if getattr(receiver, _DECODER_THREAD) is not None:
        raise InternalsMoved("the decoder thread already runs: the track event came too late")
    setattr(receiver, _DECODER_QUEUE, _Tap(on_frame))
    original = receiver._send_rtcp_pli
    if on_loss is not None:

        async def pli_on_loss(media_ssrc: int) -> None:
            on_loss()
            await original(media_ssrc)

        receiver._send_rtcp_pli = pli_on_loss  # type: ignore[method-assign]
    return original


def release_decoder(receiver: RTCRtpReceiver) -> None:
    """Let a tapped receiver's idle decoder thread exit now.

    aiortc stops it in ``RTCRtpReceiver.stop()``, but a ``pc.close()`` that stalls on an
    earlier transceiver never gets there, and a non-daemon thread left waiting keeps
    the process from exiting. Sending the stop sentinel first is harmless: aiortc's own
    stop sends another and joins a thread that has already ended.
    """
    thread = getattr(receiver, _DECODER_THREAD, None)
    tap = getattr(receiver, _DECODER_QUEUE, None)
    if isinstance(tap, _Tap) and thread is not None and thread.is_alive():
        tap.put(None)


def untap_receiver(receiver: RTCRtpReceiver) -> None:
    """Stop delivering frames (the relay lets go of a publisher before closing it)."""
    tap = getattr(receiver, _DECODER_QUEUE, None)
    if isinstance(tap, _Tap):
        tap.on_frame = None


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the remote end sends PLI or FIR for what ``sender`` sends.

    On the ``pack()`` path aiortc's own handling only sets a flag nobody reads.
    """
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise InternalsMoved("RTCRtpSender._send_keyframe is gone")
    sender._send_keyframe = callback  # type: ignore[method-assign]


def parse_sdp(text: str) -> SessionDescription:
    return SessionDescription.parse(text)


# -- which local addresses ICE offers ---------------------------------------------------

_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "confsvc_ice_addresses", default=None
)
_original_get_host_addresses = aioice.ice.get_host_addresses


def _policy_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _ADDRESSES.get()
    if chosen is None:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


def install_address_policy() -> None:
    """Idempotent: aioice asks us which host addresses to gather (default: all, as before)."""
    if not hasattr(aioice.ice, "get_host_addresses"):
        raise InternalsMoved("aioice.ice.get_host_addresses is gone")
    aioice.ice.get_host_addresses = _policy_host_addresses


@contextlib.contextmanager
def local_addresses(addresses: list[str] | tuple[str, ...] | None) -> Iterator[None]:
    """ICE gathering inside this block (same task or tasks it starts) offers only these.

    Unlike aioice's default, loopback addresses are allowed (tests, benchmarks).
    ``None`` or empty means every interface.
    """
    install_address_policy()
    token = _ADDRESSES.set(tuple(addresses) if addresses else None)
    try:
        yield
    finally:
        _ADDRESSES.reset(token)


__all__ = [
    "CHECKED_AIORTC",
    "InternalsMoved",
    "JitterFrame",
    "check_version",
    "is_vp8_keyframe",
    "local_addresses",
    "on_keyframe_request",
    "parse_sdp",
    "tap_receiver",
    "untap_receiver",
]

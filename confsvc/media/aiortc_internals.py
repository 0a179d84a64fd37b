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
- that ``aioice.ice.Connection.get_component_candidates`` binds each host candidate with
  ``asyncio.get_running_loop().create_datagram_endpoint(..., local_addr=(address, 0))``
  (``local_ports`` wraps that loop method to bind in a configured port range instead);
- ``aiortc.sdp.SessionDescription`` (parsing offers to validate them);
- ``aioice.ice.Connection.query_consent`` (replaced: checks retransmitted, consent ending
  30 s after the last answer, RFC 7675), using its ``build_request``, ``_nominated``,
  ``remote_password``, ``_query_consent_task`` and ``close()``, and
  ``aioice.stun.TransactionError``.

The fast fan-out (``confsvc.media.fanout``) sends RTP it built itself on a sender's
behalf, so it also needs (see ``Wire``, ``SenderHooks`` and ``vp8_packetize``):
- ``RTCRtpSender._ssrc`` / ``._rtx_ssrc`` (the SSRCs announced in the answer);
- ``RTCRtpSender._retransmit(seq)`` (called on NACK; redirected to the fan-out's history);
- ``RTCRtpSender.__packet_count`` / ``__octet_count`` / ``__rtp_timestamp`` /
  ``__ntp_timestamp`` (what the sender's own RTCP sender reports say);
- ``RTCDtlsTransport._state`` / ``State.CONNECTED`` / ``_tx_srtp`` (the SRTP context),
  ``.transport`` (the ``RTCIceTransport``) and its ``_connection._nominated[1]`` (the
  nominated aioice pair: ``.protocol.transport`` and ``.remote_addr``);
- ``Vp8Encoder._packetize(buffer, picture_id)`` (VP8 payload descriptors, RFC 7741);
- asyncio's ``_SelectorDatagramTransport._sock`` (the UDP socket, for ``sendmsg`` with
  Linux's UDP_SEGMENT; without it the transport's ``sendto`` is used);
- ``pylibsrtp.Session._srtp`` and ``pylibsrtp._binding`` (``ffi``, ``lib.srtp_protect``):
  ``srtp_protector`` calls libsrtp on the session's own context with a buffer of its own,
  without pylibsrtp's per-call Python (about 2 µs of the 5-7 µs a packet costs here);
  ``native_srtp`` hands the same function's address and context to ``confsvc.media._wire``
  (C: a frame's headers, SRTP and one system call), after checking cffi's type of it.

Load-test viewers (``tap_incoming_rtp``) use aioice's ``Connection._protocols`` and
replace each ``StunProtocol.datagram_received``.

The relay's own connections read incoming RTCP the same way (``read_rtcp_fast``): in the
datagram callback, decrypted with ``RTCDtlsTransport._rx_srtp`` and handed to
``RTCDtlsTransport._handle_rtcp_data`` (run eagerly), counted in its
``__rx_packets`` / ``__rx_bytes``; STUN, DTLS and RTP still go aiortc's way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import logging
import os
import queue
import random
import socket
import struct
import sys
from collections.abc import Callable, Coroutine, Iterator
from fractions import Fraction
from typing import Any, TypeAlias

import aioice.ice
import aioice.stun
import aiortc
import av
import pylibsrtp
import pylibsrtp._binding
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.sdp import SessionDescription

CHECKED_AIORTC = "1.16.0"
log = logging.getLogger(__name__)

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"

_U16 = struct.Struct("=H")
_RTP_HEADER = struct.Struct("!BBHII")
EncodedPacket: TypeAlias = "av.Packet[Any]"
# (encoded frame, RTP timestamp in the codec's clock rate, is a VP8 keyframe)
FrameCallback = Callable[[bytes, int, bool], None]


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

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            self.on_frame = None
            super().put(None)
            return
        callback = self.on_frame
        if callback is None:
            return
        codec, frame = item
        data = frame.data
        keyframe = codec.mimeType.lower() == "video/vp8" and is_vp8_keyframe(data)
        callback(data, frame.timestamp, keyframe)


def encoded_packet(data: bytes, pts: int, clock_rate: int) -> EncodedPacket:
    """What ``RTCRtpSender``'s ``pack()`` path takes: an ``av.Packet`` with pts and time base."""
    packet = av.Packet(data)
    packet.pts = pts
    packet.time_base = Fraction(1, clock_rate)
    return packet


def tap_receiver(
    receiver: RTCRtpReceiver,
    on_frame: FrameCallback,
    on_loss: Callable[[], None] | None = None,
) -> Callable[[int], Any]:
    """Make ``receiver`` hand its encoded frames to ``on_frame(data, timestamp, is_keyframe)``.

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


# -- sending RTP built elsewhere, on a sender's behalf (the fast fan-out) ----------------

# A connection whose socket has this much queued in user space is not keeping up.
WIRE_BACKLOG_BYTES = 256 * 1024
_SENDER = "_RTCRtpSender__"  # name-mangled private attributes
_SENDER_PACKETS = _SENDER + "packet_count"
_SENDER_OCTETS = _SENDER + "octet_count"
_SENDER_RTP_TS = _SENDER + "rtp_timestamp"
_SENDER_NTP_TS = _SENDER + "ntp_timestamp"
_DTLS_TX_PACKETS = "_RTCDtlsTransport__tx_packets"
_DTLS_TX_BYTES = "_RTCDtlsTransport__tx_bytes"
# Linux UDP generic segmentation offload: one sendmsg carries several datagrams of one size
# (the last may be shorter) to one address; the kernel splits them. <linux/udp.h>
_SOL_UDP = 17
_UDP_SEGMENT = 103
_GSO_MAX_SEGMENTS = 64
_GSO_MAX_BYTES = 60_000
# What a kernel or route without UDP segmentation answers (anything else is the route's).
_GSO_REFUSED = {errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP}


class _Gso:
    """Whether this kernel takes UDP_SEGMENT; switched off for good at the first refusal."""

    enabled = hasattr(socket.socket, "sendmsg") and sys.platform == "linux"


def _closing(transport: Any) -> bool:
    """A datagram transport's ``is_closing()``; aioice's ``TurnTransport`` (a candidate
    pair over the relay's own TURN allocation) has none, and drops data once closed."""
    is_closing = getattr(transport, "is_closing", None)
    return bool(is_closing()) if is_closing is not None else False


_SRTP_BUFFER = 2048  # bytes: an RTP packet here is at most ~1,350 before its SRTP tag
# libsrtp 2's srtp_protect, as pylibsrtp 1.0's cffi declares it: what _wire.c calls.
_SRTP_PROTECT_TYPE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


def _load_native() -> Any:
    """``confsvc.media._wire`` (built from ``_wire.c`` when the package is installed), or
    ``None``: no C compiler at install, or ``CONFSVC_NATIVE_WIRE=0`` (the Python path)."""
    if os.environ.get("CONFSVC_NATIVE_WIRE", "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    try:
        from confsvc.media import _wire  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _wire


NATIVE = _load_native()


def native_srtp(session: pylibsrtp.Session) -> tuple[int, int] | None:
    """(address of libsrtp's ``srtp_protect``, the session's ``srtp_t``) for ``_wire``, or
    ``None`` when there is no ``_wire`` or pylibsrtp's layout is not the one checked."""
    if NATIVE is None:
        return None
    binding = pylibsrtp._binding
    ffi = getattr(binding, "ffi", None)
    lib = getattr(binding, "lib", None)
    srtp = getattr(session, "_srtp", None)
    if ffi is None or lib is None or srtp is None:
        return None
    try:
        function = ffi.addressof(lib, "srtp_protect")
        if ffi.typeof(function).cname != _SRTP_PROTECT_TYPE:
            return None
        return int(ffi.cast("uintptr_t", function)), int(ffi.cast("uintptr_t", srtp[0]))
    except (AttributeError, TypeError, ffi.error):
        return None


def srtp_protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """``session.protect``, the same libsrtp context, without pylibsrtp's per-call Python.

    pylibsrtp checks types, allocates an ``int *`` and copies through a buffer slice on
    every call (~2 µs here); this keeps its own buffer and length cell and calls
    ``srtp_protect`` directly. What it returns is byte for byte what ``session.protect``
    would (``tests/unit/test_media_internals.py``). Only for the event loop's thread.
    Falls back to ``session.protect`` if pylibsrtp's layout is not the one checked.
    """
    binding = pylibsrtp._binding
    ffi = getattr(binding, "ffi", None)
    srtp_protect: Any = getattr(getattr(binding, "lib", None), "srtp_protect", None)
    srtp = getattr(session, "_srtp", None)
    if ffi is None or srtp is None or srtp_protect is None:
        return session.protect
    buffer = ffi.new("char[]", _SRTP_BUFFER)
    view = ffi.buffer(buffer)
    length = ffi.new("int *")
    context = srtp[0]
    memmove = ffi.memmove
    limit = _SRTP_BUFFER - int(getattr(pylibsrtp, "SRTP_MAX_TRAILER_LEN", 144))
    errors = getattr(pylibsrtp, "ERRORS", [])

    def protect(packet: bytes) -> bytes:
        n = len(packet)
        if n > limit:
            return session.protect(packet)  # refuses it as pylibsrtp does (ValueError)
        memmove(buffer, packet, n)
        length[0] = n
        rc = srtp_protect(context, buffer, length)
        if rc:
            raise pylibsrtp.Error(errors[rc] if 0 <= rc < len(errors) else f"libsrtp error {rc}")
        return view[0 : length[0]]  # type: ignore[no-any-return]

    protect.session = session  # type: ignore[attr-defined]  # keeps the context alive
    return protect


class Path:
    """One sender's resolved way out: its SRTP context and its nominated ICE pair's socket."""

    __slots__ = (
        "_buffered",
        "_fd",
        "_is_closing",
        "_native",
        "_sock",
        "_sockaddr",
        "_srtp",
        "addr",
        "dropped",
        "dtls",
        "protect",
        "sent",
        "transport",
    )

    def __init__(
        self,
        dtls: Any,
        protect: Callable[[bytes], bytes],
        transport: Any,
        addr: Any,
        srtp: pylibsrtp.Session | None = None,
    ):
        self.dtls = dtls
        self.protect = protect
        self.transport = transport
        self.addr = addr
        # The UDP socket itself (asyncio's private ``_sock``): asyncio's ``sendto`` wrapper
        # costs a microsecond per packet. A TURN relay's transport has none: use its sendto.
        sock = getattr(transport, "_sock", None)
        self._sock: socket.socket | None = sock if isinstance(sock, socket.socket) else None
        # The C path (``_wire.send_rtp``): the socket's descriptor, the peer's sockaddr and
        # libsrtp's function and context; ``None`` where any is missing (TURN, no _wire).
        self._srtp = srtp  # keeps the context ``_native`` points at alive
        self._native: tuple[int, int] | None = None
        self._fd = -1
        self._sockaddr = b""
        # An IPv6 address with a flow label or scope id (link-local) keeps the Python path:
        # ``sockaddr`` takes a host and a port only.
        plain = isinstance(addr, tuple) and (len(addr) == 2 or not any(addr[2:]))
        sock = self._sock
        native = native_srtp(srtp) if sock is not None and srtp is not None and plain else None
        if sock is not None and native is not None:
            try:
                self._sockaddr = NATIVE.sockaddr(str(addr[0]), int(addr[1]))
            except (ValueError, TypeError, IndexError):
                pass  # not a numeric (host, port): the Python path
            else:
                self._native = native
                self._fd = sock.fileno()
        # Looked up once: aioice's ``TurnTransport`` has neither (and keeps no queue).
        self._is_closing: Callable[[], bool] | None = getattr(transport, "is_closing", None)
        self._buffered: Callable[[], int] | None = getattr(transport, "get_write_buffer_size", None)
        self.sent = 0
        self.dropped = 0

    def usable(self) -> bool:
        is_closing = self._is_closing
        return self.dtls._state is DtlsState.CONNECTED and not (
            is_closing is not None and is_closing()
        )

    def backlog(self) -> int:
        """Bytes the transport holds in user space (the socket was full)."""
        buffered = self._buffered
        return buffered() if buffered is not None else 0

    def send_rtp(
        self, first: int, pt: int, seq: int, ts: int, ssrc: int, ext: bytes, payloads: list[bytes]
    ) -> int:
        """One frame's RTP packets: sequence numbers from ``seq``, the marker on the last,
        ``ext`` after each 12-byte header, then SRTP and the socket (C where it can).
        Returns how many datagrams the kernel refused (also counted in ``dropped``)."""
        native = self._native
        if native is not None and not self.backlog():
            octets, dropped = NATIVE.send_rtp(
                self._fd,
                self._sockaddr,
                native[0],
                native[1],
                first,
                pt,
                seq,
                ts,
                ssrc,
                ext,
                payloads,
            )
            n = len(payloads)
            self.sent += n
            self.dropped += dropped
            self._account(n, octets)
            return int(dropped)
        return self.send_rtp_python(first, pt, seq, ts, ssrc, ext, payloads)

    def native_sender(
        self,
        first: int,
        pt: int,
        ssrc: int,
        ext: bytes,
        ts_origin: int,
        seq: int,
        frames: int,
        history: list[Any] | None,
    ) -> Any:
        """A ``_wire.Sender`` on this path (disarmed), for ``_wire.fan_out`` to send a
        subscriber's frames without Python, or ``None``: no C path here, or an asyncio
        transport without the attributes the Sender checks before each frame."""
        native = self._native
        if native is None or getattr(NATIVE, "Sender", None) is None:
            return None
        transport = self.transport
        if not (
            isinstance(getattr(transport, "_closing", None), bool)
            and isinstance(getattr(transport, "_buffer_size", None), int)
            and getattr(self.dtls, "_state", None) is DtlsState.CONNECTED
        ):
            return None
        return NATIVE.Sender(
            self._fd,
            self._sockaddr,
            native[0],
            native[1],
            self._srtp,
            self.dtls,
            DtlsState.CONNECTED,
            transport,
            first,
            pt,
            ssrc,
            ext,
            ts_origin,
            seq,
            frames,
            history,
        )

    def note_sent(self, packets: int, octets: int, dropped: int) -> None:
        """What a ``_wire.Sender`` sent on this path since it was last asked."""
        self.sent += packets
        self.dropped += dropped
        self._account(packets, octets)

    def send_rtp_python(
        self, first: int, pt: int, seq: int, ts: int, ssrc: int, ext: bytes, payloads: list[bytes]
    ) -> int:
        """``send_rtp`` without ``_wire``: the same datagrams, built and protected one by one."""
        before = self.dropped
        protect = self.protect
        pack = _RTP_HEADER.pack
        last = len(payloads) - 1
        if last == 0:
            self.send_one(protect(pack(first, pt | 0x80, seq, ts, ssrc) + ext + payloads[0]))
            return self.dropped - before
        out = []
        for i, payload in enumerate(payloads):
            out.append(
                protect(pack(first, pt | 0x80 if i == last else pt, seq, ts, ssrc) + ext + payload)
            )
            seq = (seq + 1) & 0xFFFF
        self.send(out)
        return self.dropped - before

    def send_one(self, data: bytes) -> int:
        """``send([data])`` for the common single datagram (audio, RTX)."""
        sock = self._sock
        if sock is None or self.backlog():
            return self.send([data])
        try:
            sock.sendto(data, self.addr)
            total = len(data)
        except OSError:  # full (NACK/PLI recover) or the route went away (ICE consent notices)
            self.dropped += 1
            total = 0
        self.sent += 1
        dtls = self.dtls
        setattr(dtls, _DTLS_TX_PACKETS, getattr(dtls, _DTLS_TX_PACKETS) + 1)
        setattr(dtls, _DTLS_TX_BYTES, getattr(dtls, _DTLS_TX_BYTES) + total)
        return total

    def send(self, datagrams: list[bytes]) -> int:
        """Send already-protected datagrams in order; returns the bytes handed to the kernel."""
        sock = self._sock
        addr = self.addr
        total = 0
        if sock is None or self.backlog():
            for data in datagrams:
                self.transport.sendto(data, addr)
                total += len(data)
            self.sent += len(datagrams)
            self._account(len(datagrams), total)
            return total
        i = 0
        n = len(datagrams)
        while i < n:
            if _Gso.enabled and n - i >= 2:
                j, size = self._gso_run(datagrams, i)
                if j - i >= 2:
                    chunk = b"".join(datagrams[i:j])
                    try:
                        sock.sendmsg([chunk], [(_SOL_UDP, _UDP_SEGMENT, _U16.pack(size))], 0, addr)
                        total += len(chunk)
                    except (BlockingIOError, InterruptedError):
                        self.dropped += j - i  # the socket buffer is full: NACK/PLI recover
                    except OSError as exc:
                        if exc.errno in _GSO_REFUSED:  # no segmentation here: send singly
                            _Gso.enabled = False
                            continue
                        self.dropped += j - i  # e.g. the route went away: ICE consent notices
                    i = j
                    continue
            try:
                sock.sendto(datagrams[i], addr)
                total += len(datagrams[i])
            except (BlockingIOError, InterruptedError):
                self.dropped += 1
            except OSError:
                self.dropped += 1  # e.g. the route went away: ICE consent will notice
            i += 1
        self.sent += n
        self._account(n, total)
        return total

    def _account(self, packets: int, octets: int) -> None:
        """Keep the DTLS transport's own statistics (``getStats``) honest."""
        dtls = self.dtls
        setattr(dtls, _DTLS_TX_PACKETS, getattr(dtls, _DTLS_TX_PACKETS) + packets)
        setattr(dtls, _DTLS_TX_BYTES, getattr(dtls, _DTLS_TX_BYTES) + octets)

    @staticmethod
    def _gso_run(datagrams: list[bytes], i: int) -> tuple[int, int]:
        """The longest run from ``i`` that one UDP_SEGMENT send can carry: same sizes, last <=."""
        size = len(datagrams[i])
        j = i + 1
        total = size
        n = min(len(datagrams), i + _GSO_MAX_SEGMENTS)
        while j < n and total + size <= _GSO_MAX_BYTES:
            length = len(datagrams[j])
            if length > size:
                break
            j += 1
            total += length
            if length < size:
                break
        return j, size


class Wire:
    """One sender's way out: SRTP-protect finished RTP packets, send them on the pair.

    ``prepare()`` is called once per frame and returns the ``Path`` (SRTP context and
    the nominated ICE pair's socket, resolved once and kept while it stays usable), or
    ``None`` while there is none (not connected yet, closed, or the socket is backed up).
    This skips aiortc's per-packet ``RtpPacket``/``serialize``/``_send_rtp``/aioice
    coroutine chain, which is where most of a subscriber's cost went (MEDIA-NOTES.md).
    """

    __slots__ = ("_path", "sender")

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self._path: Path | None = None

    @property
    def path(self) -> Path | None:
        """The path the last ``prepare()`` returned (it may have become unusable since)."""
        return self._path

    def prepare(self) -> Path | None:
        path = self._path
        if path is not None and path.usable() and path.dtls is self.sender.transport:
            if path.backlog() > WIRE_BACKLOG_BYTES:
                return None
            return path
        self._path = None
        dtls = self.sender.transport  # may change with BUNDLE while negotiating
        if dtls._state is not DtlsState.CONNECTED:
            return None
        srtp = dtls._tx_srtp
        connection = getattr(dtls.transport, "_connection", None)
        pair = connection._nominated.get(1) if connection is not None else None
        if srtp is None or pair is None:
            return None
        transport = pair.protocol.transport
        if transport is None or _closing(transport):
            return None
        self._path = Path(dtls, srtp_protector(srtp), transport, pair.remote_addr, srtp)
        return self._path


class SenderHooks:
    """What the fan-out needs from one ``RTCRtpSender`` whose packets it writes itself."""

    __slots__ = ("sender",)

    def __init__(
        self,
        sender: RTCRtpSender,
        on_parameters: Callable[[RTCRtpSendParameters], None],
        on_nack: Callable[[int], None],
    ) -> None:
        for name in ("_ssrc", "_rtx_ssrc", "_retransmit", "send"):
            if not hasattr(sender, name):
                raise InternalsMoved(f"RTCRtpSender.{name} is gone")
        for name in ("packet_count", "octet_count", "rtp_timestamp", "ntp_timestamp"):
            if not hasattr(sender, _SENDER + name):
                raise InternalsMoved(f"RTCRtpSender.__{name} is gone")
        self.sender = sender
        original_send = sender.send

        async def send(parameters: RTCRtpSendParameters) -> None:
            on_parameters(parameters)
            await original_send(parameters)

        async def retransmit(sequence_number: int) -> None:
            on_nack(sequence_number)

        sender.send = send  # type: ignore[method-assign]
        sender._retransmit = retransmit  # type: ignore[method-assign]

    @property
    def ssrc(self) -> int:
        return int(self.sender._ssrc)

    @property
    def rtx_ssrc(self) -> int:
        return int(self.sender._rtx_ssrc)

    def account(self, packets: int, octets: int, rtp_timestamp: int, ntp_timestamp: int) -> None:
        """Feed the sender's own RTCP sender reports (packet and octet counts, clocks)."""
        sender = self.sender
        setattr(sender, _SENDER_PACKETS, getattr(sender, _SENDER_PACKETS) + packets)
        setattr(sender, _SENDER_OCTETS, getattr(sender, _SENDER_OCTETS) + octets)
        setattr(sender, _SENDER_RTP_TS, rtp_timestamp)
        setattr(sender, _SENDER_NTP_TS, ntp_timestamp)

    def counts(self) -> tuple[int, int]:
        """(packets, octets) as the sender's RTCP reports them."""
        sender = self.sender
        return getattr(sender, _SENDER_PACKETS), getattr(sender, _SENDER_OCTETS)


def tap_incoming_rtp(pc: Any, on_rtp: Callable[[bytes], None]) -> int:
    """Hand every RTP datagram ``pc`` receives to ``on_rtp`` instead of aiortc (load tests).

    The datagram is still SRTP-encrypted: only its clear header (sequence number, marker,
    SSRC) can be read. STUN (ICE consent), DTLS and RTCP go on to aioice and aiortc as
    before. Call it once the connection is up; returns how many sockets were tapped.
    This lets one process act as hundreds of viewers: aiortc's receive path (decrypt,
    parse, jitter buffer) costs ~40 µs a packet, this ~1 µs.
    """
    tapped = 0
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        connection = getattr(transceiver.receiver.transport.transport, "_connection", None)
        if connection is None or id(connection) in seen:
            continue
        seen.add(id(connection))
        for protocol in connection._protocols:
            original = protocol.datagram_received

            def datagram_received(
                data: bytes, addr: Any, original: Callable[[bytes, Any], None] = original
            ) -> None:
                # RFC 7983: 128-191 is RTP/RTCP; RTCP packet types are 192-223.
                if len(data) >= 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                    on_rtp(data)
                else:
                    original(data, addr)

            protocol.datagram_received = datagram_received
            tapped += 1
    return tapped


# -- receiving RTCP without aiortc's per-datagram coroutine chain ------------------------

_DTLS_RX_PACKETS = "_RTCDtlsTransport__rx_packets"
_DTLS_RX_BYTES = "_RTCDtlsTransport__rx_bytes"
_RTCP_PSFB = 206
_PSFB_APP = 15  # REMB (draft-alvestrand-rmcat-remb) is the application-layer PSFB
_READER = "_confsvc_rtcp_reader"
_finishing: set[asyncio.Task[None]] = set()


def run_eagerly(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` now, on the caller's stack, as far as it goes without waiting.

    What Python 3.12's eager tasks do, for 3.11: a coroutine that never waits (aiortc's
    RTCP handlers, with the relay's hooks) costs no task and no loop turn. If it does
    wait, a task carries it on from there; its errors are logged.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    task = asyncio.ensure_future(_carry_on(coro, waiting))
    _finishing.add(task)
    task.add_done_callback(_carried)


async def _carry_on(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    while True:
        if waiting is None:  # a bare yield (asyncio.sleep(0))
            await asyncio.sleep(0)
        else:  # the future it awaits: resume it once that is done (it reads the result)
            await asyncio.wait([waiting])
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


def _carried(task: asyncio.Task[None]) -> None:
    _finishing.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("confsvc.media").error("RTCP handling failed", exc_info=task.exception())


def without_remb(rtcp: bytes) -> bytes:
    """A decrypted (compound) RTCP packet without its REMB packets (RFC 4585 PSFB, FMT 15).

    What is malformed is returned as it is, for aiortc's parser to refuse.
    """
    pos, keep, dropped = 0, [], False
    while pos + 4 <= len(rtcp):
        end = pos + (int.from_bytes(rtcp[pos + 2 : pos + 4], "big") + 1) * 4
        if end > len(rtcp):
            return rtcp
        if rtcp[pos + 1] == _RTCP_PSFB and rtcp[pos] & 0x1F == _PSFB_APP:
            dropped = True
        else:
            keep.append(rtcp[pos:end])
        pos = end
    return b"".join(keep) if dropped else rtcp


class RtcpReader:
    """Takes one connection's incoming SRTCP in its datagram callback (``read_rtcp_fast``).

    aiortc queues every datagram, wakes its DTLS transport's task and awaits through
    three layers before its RTCP handlers run; here the datagram is decrypted and its
    packets handled at once, by the same handlers (``_handle_rtcp_data``: receiver
    reports, NACK, PLI/FIR, sender reports, BYE). With ``drop_remb``, REMB packets are
    left out first: the fan-out never adapts a bitrate, so parsing them is waste.
    """

    __slots__ = ("drop_remb", "dtls", "failed", "handled", "remb_dropped")

    def __init__(self, dtls: Any, *, drop_remb: bool) -> None:
        for name in ("_rx_srtp", "_state", "_handle_rtcp_data", _DTLS_RX_PACKETS):
            if not hasattr(dtls, name):
                raise InternalsMoved(f"RTCDtlsTransport.{name} is gone")
        self.dtls = dtls
        self.drop_remb = drop_remb
        self.handled = 0
        self.remb_dropped = 0
        self.failed = 0

    def take(self, data: bytes) -> bool:
        """``True`` if the SRTCP datagram ``data`` was dealt with (or refused) here."""
        dtls = self.dtls
        srtp = dtls._rx_srtp
        if srtp is None or dtls._state is not DtlsState.CONNECTED:
            return False  # aiortc drops it, or it is not ours yet
        setattr(dtls, _DTLS_RX_PACKETS, getattr(dtls, _DTLS_RX_PACKETS) + 1)
        setattr(dtls, _DTLS_RX_BYTES, getattr(dtls, _DTLS_RX_BYTES) + len(data))
        try:
            rtcp = srtp.unprotect_rtcp(data)
        except pylibsrtp.Error:
            self.failed += 1  # what aiortc does too: drop it
            return True
        if self.drop_remb:
            kept = without_remb(rtcp)
            if kept is not rtcp:
                self.remb_dropped += 1
                if not kept:
                    return True
                rtcp = kept
        self.handled += 1
        run_eagerly(dtls._handle_rtcp_data(rtcp))
        return True


def is_srtcp(data: bytes) -> bool:
    """RFC 7983 (RTP/RTCP: first byte 128-191) and RFC 5761 (RTCP types 192-208, as aiortc)."""
    return len(data) >= 8 and 127 < data[0] < 192 and 191 < data[1] < 209


def read_rtcp_fast(dtls: Any, *, drop_remb: bool) -> RtcpReader | None:
    """Read the RTCP that the DTLS transport ``dtls`` receives in its sockets' callbacks.

    Idempotent: one ``RtcpReader`` per transport (all of a connection's senders share one
    with max-bundle), returned again on later calls. Call it once the connection is up
    (its ICE sockets exist); ``None`` while it has none.
    """
    reader = getattr(dtls, _READER, None)
    if isinstance(reader, RtcpReader):
        return reader
    connection = getattr(getattr(dtls, "transport", None), "_connection", None)
    if connection is None or not connection._protocols:
        return None
    reader = RtcpReader(dtls, drop_remb=drop_remb)
    for protocol in connection._protocols:
        original = protocol.datagram_received

        def datagram_received(
            data: bytes,
            addr: Any,
            original: Callable[[bytes, Any], None] = original,
            take: Callable[[bytes], bool] = reader.take,
        ) -> None:
            if not (is_srtcp(data) and take(data)):
                original(data, addr)

        protocol.datagram_received = datagram_received
    setattr(dtls, _READER, reader)
    return reader


def vp8_packetize(frame: bytes, picture_id: int) -> list[bytes]:
    """RTP payloads (VP8 payload descriptor + data) of one frame, as aiortc would send them."""
    return Vp8Encoder._packetize(frame, picture_id)


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


# -- ICE consent freshness (RFC 7675), patient under load -----------------------------------

CONSENT_INTERVAL_S = 5.0  # a check every 4-6 s, as aioice does
CONSENT_RETRANSMISSIONS = 2  # a check waits 0.5 + 1 + 2 s for its answer (aioice: 0.5 s)
CONSENT_EXPIRY_S = 30.0  # RFC 7675: consent ends 30 s after the last answer


_original_query_consent = aioice.ice.Connection.query_consent


async def _patient_query_consent(self: aioice.ice.Connection) -> None:
    """aioice's ``Connection.query_consent``, with retransmissions and RFC 7675's 30 s.

    aioice sends each check once and gives it 0.5 s: a peer whose event loop lags by half
    a second (a busy relay, a load generator) fails every check and, after six, the
    connection closes although both ends are up (the soak's site bots lost consent 10-11
    times in 12 minutes). Here each check is retransmitted (a late answer to any copy
    counts: same transaction) and consent expires only when no check was answered for
    ``CONSENT_EXPIRY_S``, as RFC 7675 section 5.1 says.
    """
    assert self.remote_password is not None
    answered = asyncio.get_running_loop().time()
    while True:
        await asyncio.sleep(CONSENT_INTERVAL_S * (0.8 + 0.4 * random.random()))
        for pair in list(self._nominated.values()):
            request = self.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(
                    request,
                    pair.remote_addr,
                    integrity_key=self.remote_password.encode("utf8"),
                    retransmissions=CONSENT_RETRANSMISSIONS,
                )
                answered = asyncio.get_running_loop().time()
            except aioice.stun.TransactionError:
                pass
        if asyncio.get_running_loop().time() - answered >= CONSENT_EXPIRY_S:
            log.info("ICE consent expired: no check answered for %.0f s", CONSENT_EXPIRY_S)
            self._query_consent_task = None
            await self.close()
            return


def install_consent_policy() -> None:
    """Idempotent: every aioice connection of this process checks consent patiently."""
    connection = aioice.ice.Connection
    for name in ("query_consent", "build_request", "close"):
        if not hasattr(connection, name):
            raise InternalsMoved(f"aioice.ice.Connection.{name} is gone")
    connection.query_consent = _patient_query_consent  # type: ignore[method-assign]


@contextlib.contextmanager
def local_addresses(addresses: list[str] | tuple[str, ...] | None) -> Iterator[None]:
    """ICE gathering inside this block (same task or tasks it starts) offers only these.

    Unlike aioice's default, loopback addresses are allowed (tests, benchmarks).
    ``None`` or empty means every interface. Connections made here check ICE consent
    patiently (``install_consent_policy``).
    """
    install_address_policy()
    install_consent_policy()
    token = _ADDRESSES.set(tuple(addresses) if addresses else None)
    try:
        yield
    finally:
        _ADDRESSES.reset(token)


# -- which local UDP ports ICE binds ------------------------------------------------------

_PORTS: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "confsvc_ice_ports", default=None
)


def bind_udp_in_range(address: str, ports: tuple[int, int]) -> socket.socket:
    """A non-blocking UDP socket bound to ``address`` on a free port within ``ports``
    (first, last), tried from a random start so nodes sharing a range rarely collide.
    ``OSError(EADDRINUSE)`` naming the range when every port is taken."""
    first, last = ports
    count = last - first + 1
    start = random.randrange(count)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for i in range(count):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((address, first + (start + i) % count))
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise
        sock.setblocking(False)
        return sock
    raise OSError(
        errno.EADDRINUSE,
        f"every UDP port in {first}-{last} on {address} is taken: widen --rtc-ports",
    )


def _install_port_policy(loop: asyncio.AbstractEventLoop) -> None:
    """Idempotent per loop: a wrapper around the loop's ``create_datagram_endpoint`` that,
    inside ``local_ports`` only, binds unbound-port (``local_addr=(addr, 0)``) endpoints in
    the range. aioice (0.13) has no port option; every other caller is passed through."""
    if getattr(loop, "_confsvc_port_policy", False):
        return
    original = loop.create_datagram_endpoint

    async def create_datagram_endpoint(
        protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **kw: Any
    ) -> Any:
        ports = _PORTS.get()
        if (
            ports is not None
            and local_addr is not None
            and local_addr[1] == 0
            and remote_addr is None
            and kw.get("sock") is None
        ):
            try:
                sock = bind_udp_in_range(local_addr[0], ports)
            except OSError as exc:  # aioice logs it at info only and skips the address
                logging.getLogger("confsvc.media").warning("ICE: %s", exc.strerror or exc)
                raise
            try:
                return await original(protocol_factory, sock=sock, **kw)
            except BaseException:
                sock.close()
                raise
        return await original(
            protocol_factory, local_addr=local_addr, remote_addr=remote_addr, **kw
        )

    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign]
    loop._confsvc_port_policy = True  # type: ignore[attr-defined]


@contextlib.contextmanager
def local_ports(ports: tuple[int, int] | None) -> Iterator[None]:
    """ICE host candidates gathered inside this block (same task or tasks it starts) bind
    a UDP port within ``ports`` (first, last). ``None`` means any (aioice's ephemeral)."""
    if ports is not None:
        _install_port_policy(asyncio.get_running_loop())
    token = _PORTS.set(ports)
    try:
        yield
    finally:
        _PORTS.reset(token)


__all__ = [
    "CHECKED_AIORTC",
    "InternalsMoved",
    "JitterFrame",
    "Path",
    "RtcpReader",
    "SenderHooks",
    "Wire",
    "check_version",
    "encoded_packet",
    "is_vp8_keyframe",
    "local_addresses",
    "local_ports",
    "on_keyframe_request",
    "parse_sdp",
    "read_rtcp_fast",
    "run_eagerly",
    "srtp_protector",
    "tap_incoming_rtp",
    "tap_receiver",
    "untap_receiver",
    "vp8_packetize",
    "without_remb",
]

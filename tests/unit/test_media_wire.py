"""``confsvc.media._wire``, the fan-out's send in C, against the Python path it replaces.

Both paths get the same frame on two SRTP sessions with the same key; what reaches a real
UDP socket must be byte for byte the same (SRTP is deterministic for a key, SSRC and
index), and it must decrypt to the headers ``Leg.send`` means. Skipped, with the reason,
where the package was installed without a C compiler (the Python path is then the one
in use, and tests/unit/test_media_fanout.py covers it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from pylibsrtp import Policy, Session

from confsvc.media import aiortc_internals as internals

pytestmark = pytest.mark.skipif(
    internals.NATIVE is None,
    reason="confsvc.media._wire is not built (no C compiler at install) or CONFSVC_NATIVE_WIRE=0",
)

PROFILES = {
    "SRTP_PROFILE_AEAD_AES_256_GCM": 44,
    "SRTP_PROFILE_AEAD_AES_128_GCM": 28,
    "SRTP_PROFILE_AES128_CM_SHA1_80": 30,
}
EXT = b"\xbe\xde\x00\x01\x10\x32\x00\x00"  # the mid block Leg writes (mid "2")


class FakeDtls:
    def __init__(self) -> None:
        from aiortc.rtcdtlstransport import State

        self._state = State.CONNECTED
        self._RTCDtlsTransport__tx_packets = 0
        self._RTCDtlsTransport__tx_bytes = 0


@pytest.fixture(autouse=True)
def gso_restored() -> Iterator[None]:
    native = internals.NATIVE
    before = native.gso() if native is not None else True
    yield
    if native is not None:
        native.gso(before)


def sessions(profile: str) -> tuple[Session, Session, Session]:
    key = os.urandom(PROFILES[profile])
    code = getattr(Policy, profile)

    def session(direction: int) -> Session:
        return Session(Policy(key=key, ssrc_type=direction, srtp_profile=code))

    return (
        session(Policy.SSRC_ANY_OUTBOUND),
        session(Policy.SSRC_ANY_OUTBOUND),
        session(Policy.SSRC_ANY_INBOUND),
    )


async def two_paths(profile: str) -> tuple[internals.Path, internals.Path, Session, Any]:
    """A native path and a Python one on twin sessions, each to its own receiving socket."""
    loop = asyncio.get_running_loop()
    ours, theirs, reader = sessions(profile)
    made = []
    for srtp, native in ((ours, True), (theirs, False)):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        path = internals.Path(
            FakeDtls(),
            internals.srtp_protector(srtp),
            transport,
            receiver.getsockname(),
            srtp if native else None,
        )
        made.append((path, receiver, transport))
    assert made[0][0]._native is not None, "the native path was not taken"
    assert made[1][0]._native is None
    return made[0][0], made[1][0], reader, made


def close(made: Any) -> None:
    for _path, receiver, transport in made:
        transport.close()
        receiver.close()


def frames() -> list[tuple[int, list[bytes]]]:
    """(first sequence number, payloads): a wrap, GSO runs, a mixture, a 70-packet frame."""
    return [
        (65533, [bytes([i]) * 1100 for i in range(4)] + [b"\x04" * 300]),
        (2, [b"opus" * 40]),
        (3, [b"a" * 100, b"b" * 900, b"c" * 900, b"d" * 50, b"e" * 900]),
        (8, [bytes([i % 256]) * 1000 for i in range(70)]),
    ]


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("gso", [True, False], ids=["gso", "sendmmsg"])
async def test_the_c_path_sends_what_the_python_path_sends(profile: str, gso: bool) -> None:
    assert internals.NATIVE is not None
    internals.NATIVE.gso(gso)
    native, python, reader, made = await two_paths(profile)
    try:
        for seq, payloads in frames():
            for path in (native, python):
                path.send_rtp(0x90, 96, seq, 90000 * seq & 0xFFFFFFFF, 0xCAFEBABE, EXT, payloads)
        count = sum(len(p) for _, p in frames())
        got_native = [made[0][1].recv(65535) for _ in range(count)]
        got_python = [made[1][1].recv(65535) for _ in range(count)]
        assert got_native == got_python
        # ... and that is the RTP Leg.send means: marker on each frame's last packet.
        i = 0
        for seq, payloads in frames():
            for k, payload in enumerate(payloads):
                clear = reader.unprotect(got_native[i])
                first, second, number, ts, ssrc = struct.unpack("!BBHII", clear[:12])
                assert (first, second & 0x7F, ssrc) == (0x90, 96, 0xCAFEBABE)
                assert second >> 7 == (k == len(payloads) - 1)
                assert number == (seq + k) & 0xFFFF and ts == (90000 * seq) & 0xFFFFFFFF
                assert clear[12:20] == EXT and clear[20:] == payload
                i += 1
        assert native.sent == python.sent == count and native.dropped == 0
        assert native.dtls._RTCDtlsTransport__tx_packets == count
        assert native.dtls._RTCDtlsTransport__tx_bytes == sum(map(len, got_native))
    finally:
        close(made)


async def test_a_dead_socket_counts_every_datagram_as_dropped() -> None:
    native, _python, _reader, made = await two_paths("SRTP_PROFILE_AES128_CM_SHA1_80")
    try:
        dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        native._fd = dead.fileno()
        dead.close()  # EBADF, as a socket closed under us
        native.send_rtp(0x80, 96, 1, 0, 1, b"", [b"x" * 500] * 3)
        assert native.dropped == 3 and native.sent == 3
        assert native.dtls._RTCDtlsTransport__tx_bytes == 0
    finally:
        close(made)


async def test_bad_arguments_are_refused_with_the_reason_and_nothing_is_sent() -> None:
    assert internals.NATIVE is not None
    wire = internals.NATIVE
    native, _python, _reader, made = await two_paths("SRTP_PROFILE_AES128_CM_SHA1_80")
    try:
        fd, addr = native._fd, native._sockaddr
        function, context = native._native or (0, 0)
        with pytest.raises(TypeError, match="payloads must be a list"):
            wire.send_rtp(fd, addr, function, context, 0x80, 96, 1, 0, 1, b"", (b"x",))
        with pytest.raises(TypeError, match="a payload is not bytes"):
            wire.send_rtp(fd, addr, function, context, 0x80, 96, 1, 0, 1, b"", ["x"])
        with pytest.raises(ValueError, match="too long"):
            wire.send_rtp(fd, addr, function, context, 0x80, 96, 1, 0, 1, b"", [b"x" * 3000])
        with pytest.raises(ValueError, match="no SRTP context"):
            wire.send_rtp(fd, addr, 0, 0, 0x80, 96, 1, 0, 1, b"", [b"x"])
        with pytest.raises(ValueError, match="not a numeric address"):
            wire.sockaddr("confsvc.example", 5000)
        with pytest.raises(ValueError, match="out of range"):
            wire.sockaddr("127.0.0.1", 70000)
        assert len(wire.sockaddr("::1", 5000)) == 28  # sockaddr_in6
        made[0][1].setblocking(False)
        with pytest.raises(BlockingIOError):
            made[0][1].recv(65535)  # nothing went out
    finally:
        close(made)


def test_a_libsrtp_other_than_the_one_checked_falls_back_to_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, _theirs, _reader = sessions("SRTP_PROFILE_AES128_CM_SHA1_80")
    assert internals.native_srtp(ours) is not None
    monkeypatch.setattr(internals, "_SRTP_PROTECT_TYPE", "int(*)(void *, size_t)")
    assert internals.native_srtp(ours) is None


async def test_a_scoped_ipv6_peer_keeps_the_python_path() -> None:
    """A link-local peer's scope id would be lost in ``sockaddr(host, port)``."""
    loop = asyncio.get_running_loop()
    ours, _theirs, _reader = sessions("SRTP_PROFILE_AES128_CM_SHA1_80")
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        scoped = ("fe80::1", 5000, 0, 2)
        path = internals.Path(FakeDtls(), internals.srtp_protector(ours), transport, scoped, ours)
        assert path._native is None
        plain = ("127.0.0.1", 5000)
        path = internals.Path(FakeDtls(), internals.srtp_protector(ours), transport, plain, ours)
        assert path._native is not None
    finally:
        transport.close()

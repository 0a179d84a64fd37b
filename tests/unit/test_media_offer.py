"""Offer checks, the codec filter and the ICE address policy: garbage in, BadRequest out."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection
from hypothesis import given, settings
from hypothesis import strategies as st

from confsvc.core.errors import BadRequest
from confsvc.media import aiortc_internals as internals
from confsvc.media.offer import check_offer, filter_candidates, keep_codecs


async def browser_like_offer(sections: int = 2) -> str:
    pc = RTCPeerConnection()
    for i in range(sections):
        pc.addTransceiver("audio" if i % 2 == 0 else "video", direction="recvonly")
    with internals.local_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@pytest.fixture
def offer() -> str:
    return asyncio.run(browser_like_offer())


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_any_text_is_either_an_offer_or_a_bad_request(text: str) -> None:
    try:
        sections = check_offer(text, max_sections=8)
    except BadRequest as exc:
        assert exc.message
    else:
        assert all(s.kind in ("audio", "video") for s in sections)


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_offers_with_garbage_after_a_valid_header_are_refused_cleanly(junk: bytes) -> None:
    text = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + junk.decode("latin-1")
    try:
        sections = check_offer(text, max_sections=8)
    except BadRequest as exc:
        assert exc.message
        assert exc.as_dict()["code"] == "bad_request"
    else:
        # Garbage that happens to parse still yields only audio and video sections.
        assert 1 <= len(sections) <= 8
        assert all(s.kind in ("audio", "video") for s in sections)


def test_a_real_offer_is_read_section_by_section(offer: str) -> None:
    sections = check_offer(offer, max_sections=8)
    assert [(s.kind, s.sends, s.receives) for s in sections] == [
        ("audio", False, True),
        ("video", False, True),
    ]


def test_too_many_sections_and_non_strings_are_refused(offer: str) -> None:
    with pytest.raises(BadRequest, match="at most 1"):
        check_offer(offer, max_sections=1)
    with pytest.raises(BadRequest, match="must be a string"):
        check_offer({"sdp": 1}, max_sections=8)
    with pytest.raises(BadRequest, match="larger than"):
        check_offer("v=0\r\n" + "a=x\r\n" * 20000, max_sections=8)


def test_sections_without_ice_credentials_or_fingerprint_are_refused(offer: str) -> None:
    no_ice = "\r\n".join(x for x in offer.splitlines() if not x.startswith("a=ice-pwd"))
    with pytest.raises(BadRequest, match="ICE credentials"):
        check_offer(no_ice, max_sections=8)
    no_dtls = "\r\n".join(x for x in offer.splitlines() if not x.startswith("a=fingerprint"))
    with pytest.raises(BadRequest, match="fingerprint"):
        check_offer(no_dtls, max_sections=8)


def test_loopback_policy_keeps_only_loopback_udp_candidates() -> None:
    sdp = "\r\n".join(
        [
            "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
            "a=candidate:2 1 udp 2130706431 192.168.1.5 5001 typ host",
            "a=candidate:3 1 tcp 2130706431 127.0.0.1 9 typ host tcptype active",
            "a=candidate:4 1 udp 2130706431 abcd.local 5002 typ host",
        ]
    )
    assert filter_candidates(sdp, ["127.0.0.1"]).splitlines() == [
        "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"
    ]
    # With every interface, loopback candidates are the ones dropped.
    kept = filter_candidates(sdp, []).splitlines()
    assert [x.split()[0] for x in kept] == ["a=candidate:2", "a=candidate:4"]


def test_codec_filter_keeps_only_vp8_with_its_rtx_and_opus() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:0 PCMU/8000",
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103",
            "a=rtpmap:96 VP8/90000",
            "a=rtcp-fb:96 nack pli",
            "a=rtpmap:97 rtx/90000",
            "a=fmtp:97 apt=96",
            "a=rtpmap:102 H264/90000",
            "a=fmtp:102 profile-level-id=42e01f",
            "a=rtpmap:103 rtx/90000",
            "a=fmtp:103 apt=102",
        ]
    )
    assert keep_codecs(sdp).split("\r\n") == [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
    ]

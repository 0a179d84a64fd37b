"""Hostile or broken clients: each gets a clear error or is cleaned up; nothing leaks."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc import RTCPeerConnection

from confsvc.media import aiortc_internals as internals
from confsvc.media.bot import ViewerBot, parse_link
from confsvc.media.peer import codec_preferences
from confsvc.media.setup import RELAY
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401

SITES = ["warsaw", "olsztyn", "weifang"]


async def make_offer(sends: bool = False, sites: int = 3, strip_candidates: bool = False) -> str:
    pc = RTCPeerConnection()
    for _ in range(sites):
        for kind in ("audio", "video"):
            t = pc.addTransceiver(kind, direction="sendonly" if sends else "recvonly")
            t.setCodecPreferences(codec_preferences(kind))
    with internals.local_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    if strip_candidates:
        sdp = "\r\n".join(x for x in sdp.splitlines() if not x.startswith("a=candidate:"))
    return sdp


async def offer(ws: Any, sdp: Any, **extra: Any) -> dict[str, Any]:
    await ws.sock.send_json({"type": "rtc.offer", "id": 7, "sdp": sdp, **extra})
    while True:
        msg = await ws.recv()
        if msg.get("id") == 7:
            return msg


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("hello", "does not start with v=0"),
        (42, "sdp must be a string"),
        ("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "only audio and video"),
        ("v=0\r\no=- 1 1 IN IP4 x\r\nm=audio 1 RTP/AVP 0\r\n", "ICE credentials"),
    ],
)
async def test_malformed_sdp_gets_an_error_and_the_socket_stays_open(
    running: Any, sdp: Any, message: str
) -> None:
    ws = await running.ws("participant")
    reply = await offer(ws, sdp, subscribe=SITES)
    assert reply["type"] == "error" and reply["code"] == "bad_request"
    assert message in reply["message"]
    await ws.sock.send_json({"type": "ping", "id": 8})
    assert (await ws.expect("pong"))["id"] == 8
    assert running.app[RELAY].stats()["peers"] == 0
    await ws.close()


async def test_a_participant_may_not_publish(running: Any) -> None:
    ws = await running.ws("participant")
    reply = await offer(ws, await make_offer(sends=True, sites=1), publish=True)
    assert reply["code"] == "forbidden"
    assert reply["message"] == "role participant may not publish media; only a site may"
    # Sending sections without asking to publish is refused just the same.
    reply = await offer(ws, await make_offer(sends=True, sites=1), publish=False)
    assert reply["code"] == "forbidden"
    assert "only a site may send media" in reply["message"]
    assert running.app[RELAY].stats()["peers"] == 0
    await ws.close()


async def test_the_public_gets_no_media_and_subscribe_is_checked(running: Any) -> None:
    public = await running.ws(None)
    reply = await offer(public, await make_offer(), subscribe=SITES)
    assert reply["code"] == "forbidden"
    await public.close()
    ws = await running.ws("moderator")
    reply = await offer(ws, await make_offer(), subscribe=["warsaw", "gdansk"])
    assert (reply["code"], reply["field"]) == ("bad_request", "subscribe")
    assert reply["message"] == "no site 'gdansk' in the agenda"
    reply = await offer(ws, await make_offer(sites=3), subscribe=["warsaw"])
    assert "matches no site in subscribe" in reply["message"]
    await ws.close()


async def test_a_full_relay_refuses_new_connections_with_a_reason(running: Any) -> None:
    relay = running.app[RELAY]
    relay.max_peers = 1
    first = ViewerBot(parse_link(running.link("participant")), ice_addresses=["127.0.0.1"])
    await first.start()
    ws = await running.ws("participant")
    reply = await offer(ws, await make_offer(), subscribe=SITES)
    assert reply["code"] == "rate_limited"
    assert reply["message"] == "the media relay is full (1 connections)"
    assert relay.stats()["peers"] == 1
    await ws.close()
    await first.close()
    await until(lambda: relay.stats()["peers"] == 0, "the first peer freed")


async def test_too_many_media_connections_of_one_person_are_refused(confsvc_app: Any) -> None:
    running = await confsvc_app(max_connections_per_invite=2)
    token = running.token("participant")
    a = await running.ws(None, token=token)
    person = a.welcome["you"]["person_token"]  # one person on the shared link, two sockets
    b = await running.ws(None, token=token, person=person)
    assert (await offer(a, await make_offer(), subscribe=SITES))["type"] == "rtc.answer"
    assert (await offer(b, await make_offer(), subscribe=SITES))["type"] == "rtc.answer"
    # The WebSocket layer refuses this person's third socket outright.
    sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
    await sock.send_json({"type": "hello", "token": token, "person": person})
    refused = await sock.receive_json()
    assert refused["code"] == "forbidden" and "2 open connections" in refused["message"]
    await sock.close()
    for ws in (a, b):
        await ws.close()
    await until(lambda: running.app[RELAY].stats()["peers"] == 0, "peers freed")


async def test_ice_that_never_connects_times_out_and_is_freed(running: Any) -> None:
    relay = running.app[RELAY]
    relay.ice_timeout_s = 0.5
    ws = await running.ws("participant")
    reply = await offer(ws, await make_offer(strip_candidates=True), subscribe=SITES)
    assert reply["type"] == "rtc.answer"
    assert relay.stats()["peers"] == 1
    state = await ws.expect("rtc.state")
    assert state["state"] == "failed"
    assert state["reason"] == "the media connection did not connect within 0.5 s"
    await until(lambda: relay.stats()["peers"] == 0, "the peer freed")
    assert relay.stats()["tracks"] == 0
    await ws.close()


async def test_a_vanished_client_is_cleaned_up(running: Any) -> None:
    relay = running.app[RELAY]
    bot = ViewerBot(parse_link(running.link("participant")), ice_addresses=["127.0.0.1"])
    await bot.start()
    assert relay.stats()["peers"] == 1
    # No rtc.leave, no WebSocket close frame: the TCP connection just disappears.
    assert bot.ws is not None
    bot.ws._response.connection.transport.abort()  # type: ignore[union-attr]
    await until(lambda: relay.stats()["peers"] == 0, "the vanished client's peer freed")
    assert relay.stats()["tracks"] == 0
    await bot.close()


async def test_leave_frees_the_peer_and_a_second_offer_replaces_the_first(running: Any) -> None:
    relay = running.app[RELAY]
    ws = await running.ws("participant")
    assert (await offer(ws, await make_offer(), subscribe=SITES))["type"] == "rtc.answer"
    assert (await offer(ws, await make_offer(), subscribe=SITES))["type"] == "rtc.answer"
    assert relay.stats()["peers"] == 1 and relay.stats()["tracks"] == 6
    await ws.sock.send_json({"type": "rtc.leave", "id": 9})
    left = await ws.expect("rtc.state")
    assert (left["state"], left["reason"]) == ("closed", "left")
    assert relay.stats()["peers"] == 0 and relay.stats()["tracks"] == 0
    await ws.close()

"""``--rtc-ports FIRST-LAST``: the relay's ICE sockets bind within the range, so a firewall
can be opened for exactly those UDP ports; media still flows."""

from __future__ import annotations

import errno
import random
import socket
from typing import Any

import pytest

from confsvc.cli.main import build_parser, config_from
from confsvc.media import aiortc_internals as internals
from confsvc.media.bot import SiteBot, ViewerBot, parse_link
from confsvc.media.setup import RELAY
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401

LOOP = ["127.0.0.1"]


def free_udp_range(size: int) -> tuple[int, int]:
    """A range of ``size`` UDP ports on 127.0.0.1 that are free right now (bounded tries)."""
    for _ in range(50):
        first = random.randrange(20000, 60000 - size)
        socks = []
        try:
            for port in range(first, first + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return (first, first + size - 1)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free UDP port range found in 50 tries")


def relay_candidate_ports(app: Any) -> list[int]:
    ports = []
    for peer in app[RELAY].peers.values():
        seen = set()
        for t in peer.pc.getTransceivers():
            gatherer = t.receiver.transport.transport.iceGatherer
            if id(gatherer) in seen:
                continue
            seen.add(id(gatherer))
            ports += [c.port for c in gatherer.getLocalCandidates()]
    return ports


async def test_relay_candidates_fall_in_the_rtc_port_range_and_media_flows(
    confsvc_app: Any,
) -> None:
    first, last = free_udp_range(8)
    r = await confsvc_app(rtc_ports=(first, last))
    site = SiteBot(parse_link(r.link("site", "warsaw")), ice_addresses=LOOP)
    viewer = ViewerBot(parse_link(r.link("participant")), ice_addresses=LOOP)
    await site.start()
    try:
        await viewer.start(["warsaw"])
        try:
            await until(lambda: viewer.counts["warsaw"].video_frames >= 5, "5 video frames")
            ports = relay_candidate_ports(r.app)
            assert len(ports) == 2  # one host candidate per peer on 127.0.0.1
            assert [p for p in ports if not first <= p <= last] == []
        finally:
            await viewer.close()
    finally:
        await site.close()


async def test_without_a_range_the_relay_binds_ephemeral_ports(confsvc_app: Any) -> None:
    r = await confsvc_app()
    site = SiteBot(parse_link(r.link("site", "warsaw")), ice_addresses=LOOP)
    await site.start()
    try:
        ports = relay_candidate_ports(r.app)
        assert len(ports) == 1 and ports[0] > 0
    finally:
        await site.close()


def test_a_full_range_is_an_error_naming_it() -> None:
    first, last = free_udp_range(1)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", first))
    try:
        with pytest.raises(OSError) as exc:
            internals.bind_udp_in_range("127.0.0.1", (first, last))
        assert exc.value.errno == errno.EADDRINUSE
        assert exc.value.strerror == (
            f"every UDP port in {first}-{last} on 127.0.0.1 is taken: widen --rtc-ports"
        )
    finally:
        taken.close()


@pytest.mark.parametrize(
    ("text", "ports"), [("40000-40100", (40000, 40100)), ("3478", (3478, 3478))]
)
def test_rtc_ports_flag(text: str, ports: tuple[int, int]) -> None:
    args = build_parser().parse_args(["serve", "--agenda", "a.yaml", "--rtc-ports", text])
    assert config_from(args, []).rtc_ports == ports


@pytest.mark.parametrize("text", ["40100-40000", "0-10", "40000-70000", "high"])
def test_rtc_ports_flag_refuses_a_bad_range(text: str, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--agenda", "a.yaml", "--rtc-ports", text])
    assert "argument --rtc-ports:" in capsys.readouterr().err

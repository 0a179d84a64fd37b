"""The bench's ``pack`` and ``reencode`` modes (``bench/relay_modes.py``) still plug into the
relay, and ``pack`` gates through its per-subscriber queue as the fan-out does.

bench/ is not a package: the module is loaded from its file, as ``bench/relay.py``'s
server child imports it.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from confsvc.config import Config
from confsvc.media import relay as relay_mod
from confsvc.media.relay import Relay
from confsvc.media.room import SiteFeed

DELTA = b"\x11xx"  # VP8 frame tag bit 0 = 1: an inter frame
BENCH = Path(__file__).resolve().parents[2] / "bench" / "relay_modes.py"


@pytest.fixture(scope="module")
def modes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("relay_modes", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def pack_room(modes: ModuleType) -> Any:
    relay = Relay(Config(ice_addresses=["127.0.0.1"]), forwarding=modes.Pack())
    return relay.room("conf", [])


async def started_track(modes: ModuleType, room: Any, site: str, kind: str) -> Any:
    track = modes.Pack().subscribe(room, site, kind, sender=None)
    task = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # the sender's first read marks the track started
    task.cancel()
    return track


def drain(track: Any) -> list[bool]:
    out = []
    while not track._queue.empty():
        p = track._queue.get_nowait()
        assert p is not None
        out.append(bytes(p)[0] & 1 == 0)
    return out


async def test_pack_mode_gates_the_same_way_through_its_queue(modes: ModuleType) -> None:
    room = await pack_room(modes)
    feed = SiteFeed(room, "warsaw", object())
    track = await started_track(modes, room, "warsaw", "video")
    assert track.leg is None
    feed.on_video(DELTA, 0, False)
    feed.on_video(b"\x10key", 3000, True)
    feed.on_video(DELTA, 6000, False)
    assert drain(track) == [True, False]


async def test_a_pack_mode_subscriber_that_falls_behind_restarts_on_a_keyframe(
    modes: ModuleType,
) -> None:
    room = await pack_room(modes)
    feed = SiteFeed(room, "warsaw", object())
    track = await started_track(modes, room, "warsaw", "video")
    feed.on_video(b"\x10k", 0, True)
    for i in range(1, modes.QUEUE_FRAMES + 5):
        feed.on_video(DELTA, i * 3000, False)
    assert track.gate.need_keyframe
    feed.on_video(b"\x10k", 999000, True)
    assert drain(track)[0] is True


def test_the_bench_modes_are_chosen_by_name_once_registered(
    modes: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_mod, "FORWARDINGS", dict(relay_mod.FORWARDINGS))
    config = Config(ice_addresses=["127.0.0.1"])
    with pytest.raises(ValueError) as refused:
        Relay.named(config, "pack")
    assert str(refused.value) == "unknown relay mode 'pack' (one of passthrough)"
    modes.register()
    assert [
        Relay.named(config, m).stats()["mode"] for m in ("passthrough", "pack", "reencode")
    ] == [
        "passthrough",
        "pack",
        "reencode",
    ]


async def test_reencode_mode_refuses_a_site_that_is_not_publishing(modes: ModuleType) -> None:
    from confsvc.core.errors import BadRequest

    forwarding = modes.Reencode()
    relay = Relay(Config(ice_addresses=["127.0.0.1"]), forwarding=forwarding)
    room = relay.room("conf", [])
    with pytest.raises(BadRequest) as refused:
        forwarding.subscribe(room, "warsaw", "video", sender=None)
    assert str(refused.value) == "re-encode mode: site 'warsaw' is not publishing yet"
    await relay.close()

"""Two RedisBus instances on a real Redis (CONFSVC_TEST_REDIS), a channel of the test's
own: the events travel as published, a message past the cap carries only its seq, and
a node does not hear itself."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from confsvc.bus import Tidings
from confsvc.bus.redis import RedisBus
from confsvc.core.events import Event

pytestmark = pytest.mark.redis


def _event(seq: int, text: str = "") -> Event:
    return Event(seq=seq, type="q.asked", at=1_700_000_000.25, actor="p-1", data={"text": text})


async def test_events_travel_on_redis_and_a_big_message_carries_only_its_seq(
    redis_url: str,
) -> None:
    channel = f"confsvc:test:{secrets.token_hex(4)}"
    a = RedisBus(redis_url, channel=channel, max_message_bytes=4096)
    b = RedisBus(redis_url, channel=channel, max_message_bytes=4096)
    heard: dict[str, asyncio.Queue[Tidings]] = {"a": asyncio.Queue(), "b": asyncio.Queue()}

    async def on_a(t: Tidings) -> None:
        await heard["a"].put(t)

    async def on_b(t: Tidings) -> None:
        await heard["b"].put(t)

    a.on_publish(on_a)
    b.on_publish(on_b)
    await a.start()
    await b.start()
    try:
        await a.ping()
        await b.ping()
        small = [_event(4, "Czy szczepionka 中文?"), _event(5, "next")]
        await a.publish("conf-x", small)
        got = await asyncio.wait_for(heard["b"].get(), 10)
        assert got == Tidings(conference="conf-x", seq=5, node=a.node, events=tuple(small))
        await a.publish("conf-x", [_event(6, "x" * 5000)])
        got = await asyncio.wait_for(heard["b"].get(), 10)
        assert (got.seq, got.events) == (6, None)
        await b.publish("conf-x", [_event(7)])  # a hears b; b never hears itself
        got = await asyncio.wait_for(heard["a"].get(), 10)
        assert got.seq == 7 and got.events == (_event(7),)
        # A barrier: Redis delivers in order, so b's own message would come before this.
        await a.publish("conf-x", [_event(8)])
        assert (await asyncio.wait_for(heard["b"].get(), 10)).seq == 8
        assert heard["a"].qsize() == 0 and heard["b"].qsize() == 0
    finally:
        await a.close()
        await b.close()

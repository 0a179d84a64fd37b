"""Redis pub/sub bus: several confsvc nodes serving the same conferences."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis

from confsvc.bus import MAX_MESSAGE_BYTES, BusError, Handler, MalformedMessage, decode, encode
from confsvc.core.events import Event
from confsvc.store import describe

log = logging.getLogger(__name__)

CHANNEL = "confsvc:events"


# Reconnecting: the first retry after BACKOFF_FIRST_S, doubling up to BACKOFF_MAX_S, each
# with jitter (nodes that lost Redis together do not return together). The cap keeps
# cross-node updates back to normal within 2 s of Redis returning; meanwhile the store
# poll (Hubs.poll, 1 s) carries them.
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 1.0
# How long ``start`` waits for the first subscription before serving without it.
START_WAIT_S = 2.0
# A publish past this is given up (logged): the event is stored, the poll carries it.
PUBLISH_TIMEOUT_S = 1.0
# A Redis that hangs (SIGSTOP, a frozen VM, a dead link without RST) keeps the socket open
# and says nothing: after HEALTH_S without a message the listener sends PING on its
# subscription, and a PONG must come within PONG_TIMEOUT_S, or the subscription counts as
# lost and is made again. Subscribing is bounded the same way (a stopped server still
# accepts connections: the kernel does).
HEALTH_S = 1.0
PONG_TIMEOUT_S = 1.0
SUBSCRIBE_TIMEOUT_S = 2.0


class Silent(Exception):
    """Redis kept the connection open but did not answer in time."""


Reconnected = Callable[[], Awaitable[None]]


class RedisBus:
    """Publishes ``(conference, seq, events)`` and listens for other nodes' on one channel
    (``confsvc.bus.encode``: the events themselves up to ``max_message_bytes``).

    The listener is supervised: when Redis goes away it is logged and counted
    (``losses``), the node keeps serving (other nodes' updates come through the store
    poll), and it reconnects with backoff and resubscribes by itself; after each
    subscription the ``on_reconnect`` handlers catch up from the store (``reconnects``
    counts the returns). A node also starts while Redis is down: ``/readyz`` names the
    bus until the first subscription.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        backoff_max_s: float = BACKOFF_MAX_S,
        health_s: float = HEALTH_S,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.url = url
        self.max_message_bytes = max_message_bytes
        self.channel = channel
        self.health_s = health_s
        self.node = secrets.token_hex(4)
        self.backoff_max_s = backoff_max_s
        self._redis: aioredis.Redis = aioredis.from_url(url, socket_connect_timeout=2)
        self._handlers: list[Handler] = []
        self._reconnected: list[Reconnected] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._delay = BACKOFF_FIRST_S
        self._subscribed_before = False
        self._last_error = "not subscribed yet"
        self.losses = 0  # subscriptions lost
        self.reconnects = 0  # subscriptions made again after a loss

    def __repr__(self) -> str:
        return f"RedisBus({self.node}, {describe(self.url)})"

    def on_publish(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def on_reconnect(self, handler: Reconnected) -> None:
        """Called after every subscription: catch up on what was published meanwhile."""
        self._reconnected.append(handler)

    async def publish(self, conference: str, events: Sequence[Event]) -> None:
        if not events:
            return
        msg = encode(conference, self.node, events, self.max_message_bytes)
        try:
            # Bounded: the hub publishes while it holds its lock, and a Redis that hangs
            # (not down: stopped) would otherwise hold it for as long as it hangs.
            await asyncio.wait_for(self._redis.publish(self.channel, msg), PUBLISH_TIMEOUT_S)
        except (OSError, aioredis.RedisError, TimeoutError) as exc:
            # The store has the event; other nodes see it on their next catch-up.
            log.warning("%r: publish failed: %s", self, exc)

    async def start(self) -> None:
        """Start the supervised listener; wait a little for the first subscription, but
        serve without it (degraded, ``/readyz`` says so) when Redis is down."""
        self._task = asyncio.create_task(self._supervise(), name=f"redis-bus-{self.node}")
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait([ready], timeout=START_WAIT_S)
        if not ready.done():
            ready.cancel()
            log.warning(
                "%r: cannot reach Redis (%s); serving without it, the store poll carries "
                "other nodes' updates; reconnecting",
                self,
                self._last_error,
            )

    async def _supervise(self) -> None:
        while True:
            try:
                await self._listen()
                error = "the subscription ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the listener: reconnect, never die
                error = str(exc) or type(exc).__name__
            self._last_error = error
            if self._ready.is_set():
                self._ready.clear()
                self.losses += 1
                log.warning("%r: lost Redis (%s); reconnecting", self, error)
            await asyncio.sleep(self._delay * random.uniform(0.5, 1.0))
            self._delay = min(self._delay * 2, self.backoff_max_s)

    async def _listen(self) -> None:
        pubsub: Any = self._redis.pubsub()
        try:
            try:
                await asyncio.wait_for(pubsub.subscribe(self.channel), SUBSCRIBE_TIMEOUT_S)
            except TimeoutError:
                raise Silent(f"no answer to SUBSCRIBE within {SUBSCRIBE_TIMEOUT_S:g} s") from None
            self._ready.set()
            self._delay = BACKOFF_FIRST_S
            if self._subscribed_before:
                self.reconnects += 1
                log.warning("%r: Redis is back; resubscribed, catching up", self)
            self._subscribed_before = True
            for caught_up in self._reconnected:
                try:
                    await caught_up()
                except Exception:
                    log.exception("%r: catch-up after subscribing failed", self)
            async for message in self._messages(pubsub):
                if message.get("type") != "message":
                    continue
                try:
                    tidings = decode(message["data"])
                except (MalformedMessage, KeyError) as exc:
                    log.warning("%r: ignored a malformed message (%s)", self, exc)
                    continue
                if tidings.node == self.node:
                    continue
                for handler in self._handlers:
                    try:
                        await handler(tidings)
                    except Exception:
                        log.exception("%r: handler failed", self)
        finally:
            try:
                await asyncio.wait_for(pubsub.aclose(), PONG_TIMEOUT_S)
            except (OSError, aioredis.RedisError, TimeoutError):
                pass  # the connection is gone already (or hangs: it is dropped all the same)

    async def _messages(self, pubsub: Any) -> AsyncIterator[dict[str, Any]]:
        """The subscription's messages; ``Silent`` when Redis stops answering (a PING
        after ``health_s`` of quiet gets no PONG within ``PONG_TIMEOUT_S``)."""
        loop = asyncio.get_running_loop()
        pinged_at: float | None = None
        while True:
            wait = self.health_s if pinged_at is None else PONG_TIMEOUT_S
            # Bounded twice: get_message's own timeout, and ours should it not keep it.
            message = await asyncio.wait_for(pubsub.get_message(timeout=wait), wait + 1.0)
            if message is not None:
                pinged_at = None  # anything at all says the connection is alive
                if message.get("type") != "pong":
                    yield message
                continue
            if pinged_at is not None and loop.time() - pinged_at >= PONG_TIMEOUT_S:
                raise Silent(f"no answer to PING within {PONG_TIMEOUT_S:g} s")
            if pinged_at is None:
                await asyncio.wait_for(pubsub.ping(), PONG_TIMEOUT_S)
                pinged_at = loop.time()

    async def ping(self) -> None:
        """Connected: the listener is subscribed and Redis answers PING (bounded by the caller)."""
        where = describe(self.url)
        if self._task is None or self._task.done():
            raise BusError(f"Redis at {where}: the listener is not running")
        if not self._ready.is_set():
            raise BusError(f"Redis at {where}: not subscribed ({self._last_error}); reconnecting")
        try:
            await self._redis.ping()
        except (OSError, aioredis.RedisError) as exc:
            raise BusError(f"Redis at {where}: {exc}") from exc

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()

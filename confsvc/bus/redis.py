"""Redis pub/sub bus: several confsvc nodes serving the same conferences."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

import redis.asyncio as aioredis

from confsvc.bus import BusError, Handler
from confsvc.store import describe

log = logging.getLogger(__name__)

CHANNEL = "confsvc:events"


class RedisBus:
    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self.node = secrets.token_hex(4)
        self._redis: aioredis.Redis = aioredis.from_url(url)
        self._handlers: list[Handler] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def on_publish(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, conference: str, seq: int) -> None:
        msg = json.dumps({"c": conference, "s": seq, "n": self.node})
        try:
            await self._redis.publish(self.channel, msg)
        except (OSError, aioredis.RedisError) as exc:
            # The store has the event; other nodes see it on their next catch-up.
            log.warning("RedisBus(%s): publish failed: %s", self.node, exc)

    async def start(self) -> None:
        try:
            await asyncio.wait_for(self._redis.ping(), 10)
        except (OSError, aioredis.RedisError, TimeoutError) as exc:
            await self._redis.aclose()
            raise BusError(f"cannot reach Redis at {describe(self.url)}: {exc}") from exc
        self._task = asyncio.create_task(self._listen(), name=f"redis-bus-{self.node}")
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait([ready, self._task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if not self._ready.is_set():
            ready.cancel()
            await self.close()
            raise BusError(f"cannot subscribe on Redis at {describe(self.url)}")

    async def _listen(self) -> None:
        pubsub: Any = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    body = json.loads(message["data"])
                    if body.get("n") == self.node:
                        continue
                    conference, seq = str(body["c"]), int(body["s"])
                except (ValueError, KeyError, TypeError):
                    log.warning("RedisBus(%s): ignored a malformed message", self.node)
                    continue
                for handler in self._handlers:
                    try:
                        await handler(conference, seq)
                    except Exception:
                        log.exception("RedisBus(%s): handler failed", self.node)
        finally:
            await pubsub.aclose()

    async def ping(self) -> None:
        """Connected: the listener is subscribed and Redis answers PING (bounded by the caller)."""
        where = describe(self.url)
        if self._task is None or not self._ready.is_set():
            raise BusError(f"Redis at {where}: not subscribed")
        if self._task.done():
            exc = None if self._task.cancelled() else self._task.exception()
            raise BusError(f"Redis at {where}: the subscription ended: {exc or 'stopped'}")
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
            except (OSError, aioredis.RedisError) as exc:
                # Redis went away earlier; ``ping`` (``/readyz``) has been saying so.
                log.warning("RedisBus(%s): the subscription had ended: %s", self.node, exc)
        await self._redis.aclose()

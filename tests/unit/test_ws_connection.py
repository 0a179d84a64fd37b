"""The WebSocket's parts without a socket: the rate limit's bucket on a test clock, and
``Connection.close``, the one awaited close every closer shares."""

from __future__ import annotations

import asyncio
from typing import Any

from confsvc.core.events import Principal
from confsvc.core.roles import Role
from confsvc.http.wsconn import Connection, TokenBucket
from confsvc.http.wsframes import text_frame


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_one_per_period_of_its_clock() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token at 2 a second
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_a_clock_set_back_takes_no_tokens_away() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 2, clock=clock)
    assert bucket.take()
    clock.now -= 30
    assert [bucket.take(), bucket.take()] == [True, False]


def test_text_frames_carry_the_length_in_the_header() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    assert text_frame("x" * 200)[:4] == b"\x81\x7e\x00\xc8"


class FakeWs:
    def __init__(self) -> None:
        self.closed = False
        self.codes: list[tuple[int, bytes]] = []
        self.release = asyncio.Event()

    async def close(self, *, code: int, message: bytes) -> bool:
        self.codes.append((code, message))
        await self.release.wait()  # the peer's close reply
        self.closed = True
        return True


class FakeHub:
    id = "c-1"


def _conn(ws: FakeWs) -> Connection:
    who = Principal(role=Role.HOST, invite="h-1")
    return Connection(ws, FakeHub(), who, transport=None)  # type: ignore[arg-type]


async def test_close_waits_until_the_socket_is_closed_and_is_shared() -> None:
    ws = FakeWs()
    conn = _conn(ws)
    first = conn.start_close(4001, b"this link has expired")
    closing: Any = asyncio.ensure_future(conn.close())  # the handler's exit
    await asyncio.sleep(0)
    assert (conn.closed, ws.closed, closing.done()) == (True, False, False)
    ws.release.set()
    await closing
    assert first.done() and ws.closed
    assert ws.codes == [(4001, b"this link has expired")]  # one close, the first's code


async def test_close_of_a_closed_socket_sends_nothing() -> None:
    ws = FakeWs()
    ws.closed = True
    conn = _conn(ws)
    await conn.close()
    assert (conn.closed, ws.codes) == (True, [])


class BufferingTransport:
    """A peer that reads nothing: every write stays in the buffer."""

    def __init__(self) -> None:
        self.buffered = 0

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.buffered += len(data)


async def test_a_welcome_larger_than_the_limit_does_not_cut_the_client_off() -> None:
    """A staff welcome with ~1,000 questions is about a megabyte; the live messages that
    follow it before the client has read it must still go out. A client that then stops
    reading is closed once the limit is passed on top of that."""
    from confsvc.http.wsconn import WRITE_BUFFER_LIMIT
    from confsvc.http.wsframes import flusher

    ws = FakeWs()
    transport = BufferingTransport()
    conn = _conn(ws)
    conn.transport = transport
    conn.deliver('{"type":"welcome","items":"' + "x" * (WRITE_BUFFER_LIMIT + 200_000) + '"}')
    flusher.flush()
    for n in range(50):
        conn.deliver(f'{{"type":"q.changed","n":{n}}}')
        flusher.flush()
    assert not conn.closed and ws.codes == []
    assert transport.buffered > WRITE_BUFFER_LIMIT

    ws.release.set()
    while not conn.closed:  # a reader that never reads: the limit is passed, then closed
        conn.deliver('{"type":"q.changed","pad":"' + "y" * 100_000 + '"}')
        flusher.flush()
        await asyncio.sleep(0)
    assert ws.codes == [(1008, b"too slow: messages piled up")]
    assert transport.buffered <= 2 * WRITE_BUFFER_LIMIT + 400_000

"""ICE consent freshness (RFC 7675) that survives a peer whose event loop lags.

Two real aioice connections on loopback; one end gets every datagram 0.8 s late (a busy
relay or load generator). aioice's own check gives each request 0.5 s and no
retransmission, so it loses consent although both ends are up; confsvc's
(``aiortc_internals.install_consent_policy``) retransmits and keeps it. A peer that stops
answering altogether still loses consent. The intervals are shortened for the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aioice
import aioice.ice
import pytest

from confsvc.media import aiortc_internals as internals

LAG_S = 0.8


async def until(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)


async def connected_pair() -> tuple[aioice.Connection, aioice.Connection]:
    a = aioice.Connection(ice_controlling=True)
    b = aioice.Connection(ice_controlling=False)
    with internals.local_addresses(["127.0.0.1"]):
        await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for this, other in ((a, b), (b, a)):
        this.remote_username = other.local_username
        this.remote_password = other.local_password
        for candidate in other.local_candidates:
            await this.add_remote_candidate(candidate)
        await this.add_remote_candidate(None)
    await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 10)
    return a, b


def late(connection: aioice.Connection, seconds: float | None) -> None:
    """Every datagram ``connection`` receives arrives ``seconds`` late (``None``: never)."""
    loop = asyncio.get_running_loop()
    for protocol in connection._protocols:
        original = protocol.datagram_received

        def delayed(data: bytes, addr: Any, original: Any = original) -> None:
            if seconds is not None:
                loop.call_later(seconds, original, data, addr)

        protocol.datagram_received = delayed  # type: ignore[method-assign]


@pytest.fixture
async def quick(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    # A check every ~0.3 s; aioice's own gives up after 3 failures, ours after 2.5 s.
    monkeypatch.setattr(internals, "CONSENT_INTERVAL_S", 0.3)
    monkeypatch.setattr(internals, "CONSENT_EXPIRY_S", 2.5)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)
    yield


async def test_a_lagging_peer_keeps_consent(quick: None) -> None:
    internals.install_consent_policy()
    a, b = await connected_pair()
    try:
        late(a, LAG_S)  # a's answers come late, and so do b's to a's checks
        consent = a._query_consent_task
        assert consent is not None
        # Ten check intervals and more than the expiry: consent holds.
        await asyncio.sleep(12 * 0.3 + 2.5)
        assert not a._closed and not consent.done()
        assert a._nominated, "the nominated pair is still there"
    finally:
        await a.close()
        await b.close()


async def test_aioices_own_check_would_have_closed_the_same_connection(
    quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: without the policy the lag above ends the connection."""
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", internals._original_query_consent)
    monkeypatch.setattr(internals, "install_consent_policy", lambda: None)
    a, b = await connected_pair()
    try:
        late(a, LAG_S)
        await until(lambda: bool(a._closed), "aioice closes the lagging connection")
    finally:
        await a.close()
        await b.close()


async def test_a_peer_that_never_answers_loses_consent(quick: None) -> None:
    internals.install_consent_policy()
    a, b = await connected_pair()
    try:
        late(a, None)  # nothing reaches a any more
        await until(lambda: bool(a._closed), "consent expires after CONSENT_EXPIRY_S")
    finally:
        await a.close()
        await b.close()

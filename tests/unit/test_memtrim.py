"""confsvc.memtrim: malloc_trim gives freed heap pages back, and the trims are counted."""

from __future__ import annotations

import asyncio

import pytest

from confsvc import memtrim
from confsvc.memtrim import Trimmer, resident_bytes
from tests.integration.media_helpers import until

pytestmark = pytest.mark.skipif(
    not Trimmer(60).available, reason="no glibc malloc_trim in this libc"
)


def test_a_fragmented_heap_is_given_back() -> None:
    trimmer = Trimmer(60)
    trimmer.trim()  # what was free before this test
    # 20,000 buffers of 2,000 bytes (C malloc: above Python's small-object size), then
    # every one freed but each eighth: ~14 KB holes among live buffers, which glibc keeps.
    blocks = [bytes(2000) + bytes([i % 251]) for i in range(20_000)]
    kept = blocks[::8]
    del blocks
    before = resident_bytes()
    freed = trimmer.trim()
    assert before > 0
    assert freed > 8 * 2**20, f"gave back only {freed} bytes"
    assert trimmer.trims == 2
    assert trimmer.trimmed_bytes >= freed
    assert trimmer.last_seconds >= 0
    assert len(kept) == 2500  # still alive: the holes were between live buffers


async def test_it_runs_every_few_seconds_until_cancelled() -> None:
    trimmer = Trimmer(0.01)
    task = asyncio.create_task(trimmer.run())
    await until(lambda: trimmer.trims >= 3, "three trims")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert trimmer.trims >= 3


def test_without_malloc_trim_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memtrim, "_MALLOC_TRIM", None)
    trimmer = Trimmer(60)
    assert not trimmer.available
    assert trimmer.trim() == 0
    assert trimmer.trims == 0

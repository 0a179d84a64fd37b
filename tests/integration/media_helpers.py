"""Helpers shared by the media integration tests."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest


async def until(
    cond: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    why: Callable[[], str] | None = None,
) -> None:
    """Wait until ``cond()``; fail naming ``what`` (and ``why()``: the state that explains
    it) after ``timeout`` (a hang guard only)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            detail = f": {why()}" if why is not None else ""
            raise AssertionError(f"timed out waiting for {what}{detail}")
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def collect_garbage() -> Iterator[None]:
    """Import into a test module to collect after each of its tests.

    CPython 3.11.7 (gh-106905): a GC pass that frees many aiortc objects during a later
    compile() (pytest's assertion rewriting) fails with "AST constructor recursion depth
    mismatch". Collect while nothing is compiling.
    """
    yield
    gc.collect()

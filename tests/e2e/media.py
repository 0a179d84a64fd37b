"""Helpers shared by the browser media tests: read a page's media statistics and wait."""

from __future__ import annotations

import asyncio
from typing import Any


async def sample(page: Any) -> dict[str, Any]:
    return await page.evaluate("() => window.confsvc.media.sample()")


async def until(page: Any, cond: Any, what: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll the page's media statistics until ``cond(stats)``; fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await sample(page)
        if cond(stats):
            return stats
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last stats {stats}")
        await asyncio.sleep(0.25)


def frames(stats: dict[str, Any], site: str) -> int:
    return int(stats.get(site, {}).get("framesDecoded", 0))


def audio(stats: dict[str, Any], site: str) -> int:
    return int(stats.get(site, {}).get("audioBytes", 0))

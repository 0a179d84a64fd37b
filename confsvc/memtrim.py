"""Giving the C heap's freed memory back to the operating system.

glibc's malloc keeps what a program frees for its next allocations, and gives back to the
OS only the free memory at the top of a heap. A node that forwards media frees and
allocates tens of thousands of packet buffers a second among the long-lived objects of
its conferences, so free chunks pile up between live ones: the resident size grows while
the memory in use does not (docs/benchmarks.md, "Soak": +0.9 MB a minute of free heap on
the media node, ~0 in use). ``malloc_trim(0)`` returns every whole free page of every
arena (``madvise``), wherever it lies; it runs every ``malloc_trim_s`` seconds (60 by
default, 0 never) in a thread, so the event loop does not wait on it. On another libc
(or no ``malloc_trim``) this does nothing. ``/metrics`` counts the trims and what they
gave back (``confsvc_malloc_trims_total``, ``confsvc_malloc_trimmed_bytes_total``).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from confsvc.aio import cancel_and_wait
from confsvc.http.features import CONFIG

log = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE")


def libc_function(name: str) -> Any:
    """The C library's function ``name`` (a ctypes function), or None: another libc, or
    one without it (``mallinfo2`` is glibc 2.33+). Also ``confsvc.metrics``'s."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def _load() -> Callable[[int], int] | None:
    fn = libc_function("malloc_trim")
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


_MALLOC_TRIM = _load()


def resident_bytes() -> int:
    """This process's resident size (``/proc/self/statm``), 0 where there is none."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class Trimmer:
    """Trims now and then; counts the trims, what they gave back and the last one's time."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.trims = 0
        self.trimmed_bytes = 0
        self.last_seconds = 0.0

    @property
    def available(self) -> bool:
        return _MALLOC_TRIM is not None

    def trim(self) -> int:
        """One trim (blocking; run it in a thread): the resident bytes it gave back."""
        if _MALLOC_TRIM is None:
            return 0
        before = resident_bytes()
        started = time.perf_counter()
        _MALLOC_TRIM(0)
        self.last_seconds = time.perf_counter() - started
        freed = max(0, before - resident_bytes())
        self.trims += 1
        self.trimmed_bytes += freed
        return freed

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.every_s)
            freed = await loop.run_in_executor(None, self.trim)
            log.debug(
                "malloc_trim gave back %d KiB in %.1f ms", freed // 1024, self.last_seconds * 1000
            )


TRIMMER = web.AppKey("memtrim", Trimmer)


def setup(app: web.Application) -> None:
    app[TRIMMER] = Trimmer(app[CONFIG].malloc_trim_s)
    app.cleanup_ctx.append(_trim_ctx)


async def _trim_ctx(app: web.Application) -> AsyncIterator[None]:
    trimmer = app[TRIMMER]
    task = None
    if trimmer.every_s > 0 and trimmer.available:
        task = asyncio.create_task(trimmer.run(), name="malloc-trim")
    try:
        yield
    finally:
        if task is not None:
            await cancel_and_wait(task)


__all__ = ["TRIMMER", "Trimmer", "libc_function", "resident_bytes", "setup"]

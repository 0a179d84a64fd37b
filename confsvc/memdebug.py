"""Finding what grows in a running node: off unless ``CONFSVC_TRACEMALLOC`` is set.

``CONFSVC_TRACEMALLOC=/path/to/file confsvc serve …`` starts :mod:`tracemalloc` (10
frames) when the node starts, and every ``SIGUSR1`` (``kill -USR1 PID``) appends to the
file what was allocated since the previous signal (since the start, the first time): the
top lines by growth, the top tracebacks, the objects the garbage collector sees by type,
and the asyncio tasks by coroutine. Send it once after warm-up and again later: the
second dump is the growth in between (docs/operations.md, "Memory"). Tracing costs memory
and CPU (several times the allocations' cost): for a debugging run, not production.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import os
import signal
import time
import tracemalloc
from pathlib import Path

ENV = "CONFSVC_TRACEMALLOC"
FRAMES = 10
TOP = 25
_IGNORED = (tracemalloc.__file__, "<frozen importlib._bootstrap>", "<unknown>")


def type_counts() -> collections.Counter[str]:
    """The objects the garbage collector tracks, by type name (module-qualified)."""
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        t = type(obj)
        counts[f"{t.__module__}.{t.__qualname__}"] += 1
    return counts


def task_counts() -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    with contextlib.suppress(RuntimeError):  # no running loop
        for task in asyncio.all_tasks():
            coro = task.get_coro()
            counts[getattr(coro, "__qualname__", repr(coro))] += 1
    return counts


class MemoryDebug:
    """Snapshots and what changed between them, written as plain text to ``path``."""

    def __init__(self, path: Path, frames: int = FRAMES) -> None:
        self.path = path
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)
        self.previous = self._snapshot()
        self.types = type_counts()
        self.tasks = task_counts()
        self.started = self.at = time.monotonic()

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        filters = [tracemalloc.Filter(False, name) for name in _IGNORED]
        return tracemalloc.take_snapshot().filter_traces(filters)

    def dump(self) -> str:
        """Append what grew since the last dump; return the text written."""
        now = time.monotonic()
        snap = self._snapshot()
        current, peak = tracemalloc.get_traced_memory()
        out = [
            f"=== pid {os.getpid()} at +{now - self.started:.0f} s "
            f"(since the last dump: {now - self.at:.0f} s); traced {current / 2**20:.1f} MiB, "
            f"peak {peak / 2**20:.1f} MiB",
            "--- lines, by growth since the last dump",
        ]
        for stat in snap.compare_to(self.previous, "lineno")[:TOP]:
            out.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d}  {stat}")
        out.append("--- tracebacks, by growth since the last dump")
        for stat in snap.compare_to(self.previous, "traceback")[: TOP // 3]:
            out.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
            out.extend(f"      {line}" for line in stat.traceback.format(limit=FRAMES))
        types = type_counts()
        out.append("--- objects by type, change since the last dump")
        grown = sorted(((n - self.types.get(t, 0), t, n) for t, n in types.items()), reverse=True)
        out.extend(f"{d:+10d} {n:10d}  {t}" for d, t, n in grown[:TOP] if d)
        tasks = task_counts()
        out.append(f"--- asyncio tasks: {sum(tasks.values())}, by coroutine (change)")
        out.extend(
            f"{n - self.tasks.get(name, 0):+10d} {n:10d}  {name}"
            for name, n in tasks.most_common(TOP)
        )
        text = "\n".join(out) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(text)
        self.previous, self.types, self.tasks, self.at = snap, types, tasks, now
        return text


def install(
    loop: asyncio.AbstractEventLoop, environ: dict[str, str] | None = None
) -> MemoryDebug | None:
    """When ``CONFSVC_TRACEMALLOC`` names a file: trace, and dump on SIGUSR1."""
    path = (os.environ if environ is None else environ).get(ENV)
    if not path:
        return None
    debug = MemoryDebug(Path(path))
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGUSR1, debug.dump)
    return debug

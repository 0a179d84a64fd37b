"""The off-by-default allocation tracer (confsvc/memdebug.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import tracemalloc
from pathlib import Path

from confsvc import memdebug


class Growing:
    pass


def test_off_unless_the_variable_names_a_file() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert memdebug.install(loop, {}) is None
        assert memdebug.install(loop, {memdebug.ENV: ""}) is None
    finally:
        loop.close()


def test_a_dump_names_what_grew_since_the_last_one(tmp_path: Path) -> None:
    out = tmp_path / "trace.txt"
    was_tracing = tracemalloc.is_tracing()
    debug = memdebug.MemoryDebug(out, frames=1)
    try:
        kept = [Growing() for _ in range(5000)]
        first = debug.dump()
        assert "test_memdebug.Growing" in first
        assert "+      5000" in first or "+5000" in first.replace(" ", "")
        assert "test_memdebug.py" in first  # the line that allocated them
        second = debug.dump()  # nothing new: Growing is not among the types that grew
        assert "test_memdebug.Growing" not in second
        assert out.read_text() == first + second
        assert len(kept) == 5000
    finally:
        if not was_tracing:
            tracemalloc.stop()


def test_sigusr1_appends_a_dump(tmp_path: Path) -> None:
    out = tmp_path / "trace.txt"
    was_tracing = tracemalloc.is_tracing()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if not was_tracing:
            tracemalloc.start(1)  # one frame: a quick dump (install keeps a running trace)
        debug = memdebug.install(loop, {memdebug.ENV: str(out)})
        assert debug is not None
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(100):
                await asyncio.sleep(0.01)
                if out.exists():
                    break
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    try:
        asyncio.run(main())
    finally:
        if not was_tracing:
            tracemalloc.stop()
    text = out.read_text()
    assert text.startswith(f"=== pid {os.getpid()}")
    assert "--- asyncio tasks: " in text

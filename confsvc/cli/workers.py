"""``confsvc serve --workers N``: N node processes on one machine, one event loop each.

Each worker is a whole node (``confsvc.cli.main.run_server``): it opens the store and the
bus, serves every page, WebSocket and SSE stream, and runs the media relay of the
conferences whose home it is (``confsvc.media.home``: the same lease as between
machines, so busy conferences spread over the workers and each one's media stays in one
process). All workers listen on ``--port`` with ``SO_REUSEPORT`` (the kernel spreads new
connections over them), and worker *i* (1..N) also on ``port + i`` alone: its
``node_url``, where the other workers forward a conference's media signalling when *i*
is its home. Cross-worker updates go through the bus: give ``--redis`` (without it they
arrive by the store poll, within a second).

The parent only supervises: it forks the workers before any event loop exists, passes
SIGTERM and SIGINT on, and starts a worker again (after ``RESTART_S``) when one dies; its
conferences' media moves to the others once their leases expire.

Not for several machines (run one ``confsvc serve`` per machine, each with its own
``--node-url``) or for Windows (no ``fork``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any

from confsvc.config import Config

log = logging.getLogger("confsvc.cli.workers")

RESTART_S = 1.0


def worker_config(cfg: Config, index: int) -> Config:
    """Worker ``index``'s configuration (1-based): its own node port and URL."""
    port = cfg.port + index
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    if host in ("0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return cfg.model_copy(update={"workers": 1, "node_url": f"http://{host}:{port}"})


def _run_worker(cfg: Config, index: int) -> None:
    """The child: serve until SIGTERM, then leave without running the parent's handlers."""
    import asyncio

    from confsvc.cli.main import run_server

    code = 0
    try:
        _end_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        asyncio.run(run_server(cfg, reuse_port=True, node_port=cfg.port + index))
    except BaseException:
        log.exception("worker %d failed", index)
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)


def _end_with_parent() -> None:
    """SIGTERM to this worker when the supervisor dies (Linux ``PR_SET_PDEATHSIG``), so a
    killed supervisor leaves no worker behind."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM still reaches it
        pass
    if os.getppid() == 1:  # the supervisor died before the call
        os._exit(1)


def _spawn(cfg: Config, index: int) -> int:
    pid = os.fork()
    if pid == 0:
        _run_worker(worker_config(cfg, index), index)
    log.info("worker %d: pid %d, node port %d", index, pid, cfg.port + index)
    return pid


def serve_workers(cfg: Config) -> int:
    """Fork ``cfg.workers`` workers and supervise them until SIGTERM or SIGINT."""
    if cfg.port == 0:
        raise ValueError("--workers needs a fixed --port (the workers share it)")
    workers: dict[int, int] = {}  # pid -> index
    for index in range(1, cfg.workers + 1):
        workers[_spawn(cfg, index)] = index
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failed = False
    while workers:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in workers:
            continue
        index = workers.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            log.info("worker %d stopped (%d)", index, code)
            failed = failed or code not in (0, -signal.SIGTERM)
            continue
        log.warning("worker %d (pid %d) died (%d): starting it again", index, pid, code)
        time.sleep(RESTART_S)
        if not stopping:
            workers[_spawn(cfg, index)] = index
    sys.stdout.flush()
    return 1 if failed else 0

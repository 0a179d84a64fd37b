"""The ``confsvc`` console script: ``main`` plus a quick exit for the servers.

After ``confsvc serve`` or ``confsvc demo`` has stopped (every connection closed, the mail
in flight settled, the store closed), tearing down the interpreter's modules (aiortc, av,
numpy, pydantic) takes another 1–2 s on a loaded machine: outside the 5 s a SIGTERM may
take. So the servers flush what is buffered and leave with ``os._exit``; every other
command exits as usual. ``main`` itself returns, for callers in-process (tests).
"""

from __future__ import annotations

import logging
import os
import sys

from confsvc.cli.main import main

SERVERS = ("serve", "demo")


def entry() -> None:
    code = main()
    if sys.argv[1:2] and sys.argv[1] in SERVERS:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    raise SystemExit(code)

"""The signing secret: made on first run, kept in a file readable by its owner only."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret from ``path`` (or ``CONFSVC_SECRET``), creating it with mode 0600."""
    env = os.environ.get("CONFSVC_SECRET")
    if env:
        return env.encode()
    try:
        data = path.read_bytes().strip()
        if len(data) >= 32:
            if path.stat().st_mode & 0o077:
                log.warning("the secret file %s is readable by others; setting it to 0600", path)
                path.chmod(0o600)
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value + b"\n")
    finally:
        os.close(fd)
    log.info("created a new signing secret in %s", path)
    return value

"""The signing secret of invite links and reply addresses.

From ``CONFSVC_SECRET`` (``Config.secret``), else from ``secret_file``, which must be
readable by its owner only. A node on SQLite makes the file on first start (mode 0600,
beside the SQLite file by default). A node on PostgreSQL never makes one: several nodes
share that store and must sign with one secret, so a missing file refuses the start and
says how to share it (docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
from pathlib import Path

from confsvc.config import Config, ConfigError
from confsvc.config_sources import is_postgres, read_secret_file

log = logging.getLogger(__name__)

MIN_LENGTH = 32


def _from_file(path: Path) -> bytes | None:
    data = read_secret_file(path, "secret_file", missing_ok=True)
    if data is not None and len(data) < MIN_LENGTH:
        raise ConfigError(
            f"secret_file {path} holds {len(data)} characters; a signing secret needs "
            f"{MIN_LENGTH} or more: {_make_one(path)}"
        )
    return data


def _make_one(path: Path) -> str:
    shown = shlex.quote(str(path))
    return (
        f"make one with python3 -c 'import secrets; print(secrets.token_urlsafe(48))' "
        f"> {shown} && chmod 600 {shown}"
    )


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        data = _from_file(path)
        assert data is not None
        return data
    try:
        os.write(fd, value + b"\n")
    finally:
        os.close(fd)
    log.info("created a new signing secret in %s", path)
    return value


def shared_secret_missing(cfg: Config) -> str:
    path = cfg.secret_file
    return (
        f"no signing secret: {path} does not exist, and a node on PostgreSQL does not make "
        "its own, because every node sharing the store must sign and check links with the same "
        f"one: {_make_one(path)} once, copy it to every node and point secret_file (or "
        "--secret-file) at it, or set CONFSVC_SECRET to the same value on every node"
    )


def signing_secret(cfg: Config, *, create: bool = True) -> bytes:
    """The secret ``cfg`` names; made in ``secret_file`` for SQLite when missing (and
    ``create``). Raises ``ConfigError`` saying what to do."""
    if cfg.secret:
        return cfg.secret.encode()
    data = _from_file(cfg.secret_file)
    if data is not None:
        return data
    if is_postgres(cfg.db):
        raise ConfigError(shared_secret_missing(cfg))
    return _create(cfg.secret_file) if create else b""


def describe_secret(cfg: Config) -> str:
    """Where the signing secret comes from (for ``confsvc config show``); raises like
    ``signing_secret`` would at start-up, without making anything."""
    if cfg.secret:
        return "CONFSVC_SECRET"
    if signing_secret(cfg, create=False):
        return f"the file {cfg.secret_file}"
    return f"made in {cfg.secret_file} (mode 0600) on first start"


def load_or_create_secret(path: Path) -> bytes:
    """``CONFSVC_SECRET``, else the secret in ``path``, made (mode 0600) when missing."""
    env = os.environ.get("CONFSVC_SECRET")
    if env:
        return env.encode()
    data = _from_file(path)
    return data if data is not None else _create(path)

"""``confsvc serve`` node processes on their own loopback ports, sharing one store and
signing secret: for the multi-node drills (tests/integration) and bench/failover.py.

Each node logs to ``<workdir>/<name>.log``; ``kill()`` is SIGKILL (the drill), ``stop()``
SIGTERM. Nothing here reads the environment's ``CONFSVC_*``: a node is what it is given.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from confsvc.core.roles import Role, issue_invite

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
CONFERENCE = "weifang-olsztyn-2020"
SITES = ["warsaw", "olsztyn", "weifang"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports_in_a_row(n: int) -> int:
    """A port ``p`` with ``p .. p + n - 1`` all free (``--workers``: the port, then one each)."""
    return next(
        p
        for p in iter(free_port, 0)
        if p + n < 65536 and all(port_is_free(p + i) for i in range(1, n))
    )


def write_secret(workdir: Path, secret: bytes) -> Path:
    path = workdir / "confsvc.secret"
    path.write_bytes(secret + b"\n")
    path.chmod(0o600)
    return path


class Node:
    """One ``confsvc serve`` (or ``--workers N``) on 127.0.0.1:``port``."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        *,
        db: str,
        secret: bytes,
        extra: tuple[str, ...] = (),
        port: int | None = None,
        agenda: Path = SAMPLE,
    ) -> None:
        self.workdir = workdir
        self.name = name
        self.db = db
        self.secret = secret
        self.port = port if port is not None else free_port()
        self.agenda = agenda
        self.extra = extra
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        secret_file = write_secret(self.workdir, self.secret)
        argv = [sys.executable, "-m", "confsvc", "serve", "--agenda", str(self.agenda)]
        argv += ["--db", self.db, "--secret-file", str(secret_file), "--port", str(self.port)]
        if "--workers" not in self.extra:
            argv += ["--node-url", self.base]
        return argv + list(self.extra)

    def start(self, timeout: float = 180.0) -> Node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
        env["PYTHONPATH"] = str(ROOT)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(), cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Until ``/readyz`` answers 200 on ``port`` (a worker's own port, too)."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            dead = self.proc is not None and self.proc.poll() is not None
            if dead or time.monotonic() > deadline:
                self.kill()
                log = self.log.read_text()[-3000:] if self.log.exists() else ""
                raise RuntimeError(f"{self.name} on port {self.port} is not ready:\n{log}")
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def token(
        self, role: str, site: str | None = None, *, conference: str = CONFERENCE, **kw: Any
    ) -> str:
        _, token = issue_invite(
            self.secret, conference=conference, role=Role(role), site=site, now=time.time(), **kw
        )
        return token

    def link(self, role: str, site: str | None = None, *, conference: str = CONFERENCE) -> str:
        return f"{self.base}/j/{self.token(role, site, conference=conference)}"

    def kill(self) -> None:
        """SIGKILL, as a machine or process dies: no lease is given back."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def second_agenda(workdir: Path, conference: str) -> Path:
    """The sample agenda under another conference id (the same sites and items)."""
    path = workdir / f"{conference}.yaml"
    path.write_text(SAMPLE.read_text(encoding="utf-8").replace(CONFERENCE, conference, 1))
    return path

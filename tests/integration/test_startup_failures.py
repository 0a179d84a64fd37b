"""Every start-up failure is one line naming the problem and what to do, exit code 1,
no traceback (``-v`` adds it)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENDA = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confsvc", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_port_in_use(tmp_path: Path, busy_port: int) -> None:
    proc = run(tmp_path, "serve", "--agenda", str(AGENDA), "--port", str(busy_port))
    line = failure_line(proc)
    assert line == (
        f"confsvc serve: error: cannot listen on 127.0.0.1:{busy_port}: the port is in use "
        "by another program; stop it or choose another with --port"
    )


def test_unreachable_postgresql(tmp_path: Path) -> None:
    port = closed_port()
    dsn = f"postgresql://postgres@127.0.0.1:{port}/test"
    secret = tmp_path / "shared.secret"  # a node on PostgreSQL is given the shared secret
    secret.write_text("s" * 48)
    secret.chmod(0o600)
    proc = run(
        tmp_path, "demo", "--db", dsn, "--secret-file", str(secret), "--port", str(closed_port())
    )
    line = failure_line(proc)
    assert line.startswith("confsvc demo: error: cannot connect to PostgreSQL: ")
    assert line.endswith(f"check --db {dsn} and that its server runs")


def test_unreachable_redis_is_not_a_start_up_failure(tmp_path: Path) -> None:
    """Issue 12: a node starts and serves while Redis is down (the store poll carries other
    nodes' updates); ``/readyz`` answers 503 naming the bus until it subscribes."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    port = closed_port()
    argv = ["serve", "--agenda", str(AGENDA), "--redis", url, "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "confsvc", *argv],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status, body = _readyz(proc, port)
        assert status == 503
        assert list(body["down"]) == ["bus"]
        assert body["down"]["bus"].startswith(f"Redis at {url}: not subscribed (")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "cannot reach Redis" in err  # logged once at start, with what to expect


def _readyz(proc: subprocess.Popen[str], port: int) -> tuple[int, dict[str, object]]:
    """``GET /readyz`` once the node listens."""
    for _attempt in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"the node exited: {proc.stderr and proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the node never listened")


def test_unreadable_agenda(tmp_path: Path) -> None:
    proc = run(tmp_path, "serve", "--agenda", "missing.yaml")
    assert failure_line(proc) == "missing.yaml:1:1: cannot read: No such file or directory"


def test_bad_configuration(tmp_path: Path) -> None:
    turn = "turn:127.0.0.1:3478"
    proc = run(tmp_path, "demo", "--ice-server", turn, "--port", str(closed_port()))
    line = failure_line(proc)
    assert line.startswith(f"confsvc demo: error: --ice-server {turn}: a TURN server needs")


def test_verbose_adds_the_traceback(tmp_path: Path, busy_port: int) -> None:
    proc = run(tmp_path, "serve", "--agenda", str(AGENDA), "--port", str(busy_port), "-v")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("confsvc serve: error: cannot listen")


def test_version(tmp_path: Path) -> None:
    proc = run(tmp_path, "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith("confsvc ")
    assert proc.stdout.strip() != "confsvc 0+unknown"

"""The bench's Janus baseline (``bench/janus.py``): its configuration, and a real ``janus``
started and stopped by PID (skipped with the reason where Janus is not installed).

bench/ is not a package: the module is loaded from its file.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "janus.py"


@pytest.fixture(scope="module")
def janus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_janus", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_is_videoroom_over_loopback_http_with_two_event_loops(
    janus: ModuleType,
) -> None:
    configs = janus._configs(18088, "20000-20999", "192.0.2.2")
    core = configs["janus.jcfg"]
    assert "event_loops = 2" in core
    assert 'ice_enforce_list = "192.0.2.2"' in core
    assert "stun_server" not in core and "turn_server" not in core
    disabled = core.split('plugins: { disable = "')[1].split('"')[0].split(",")
    assert "libjanus_videoroom.so" not in disabled
    http = configs["janus.transport.http.jcfg"]
    assert 'ip = "127.0.0.1"' in http and "port = 18088" in http
    room = configs["janus.plugin.videoroom.jcfg"]
    assert f"room-{janus.ROOM}:" in room and 'videocodec = "vp8"' in room


def test_janus_starts_answers_on_loopback_and_stops_by_pid(
    janus: ModuleType, tmp_path: Path
) -> None:
    missing = janus.janus_missing()
    if missing is not None:
        pytest.skip(missing)
    server = janus.JanusServer(tmp_path)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{server.url}/info", timeout=5) as reply:
            info = json.load(reply)
        assert info["janus"] == "server_info"
        assert list(info["plugins"]) == ["janus.plugin.videoroom"]
        assert list(info["transports"]) == ["janus.transport.http"]
    finally:
        server.stop()
    assert server.proc.poll() is not None

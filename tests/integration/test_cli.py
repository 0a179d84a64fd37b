"""The confsvc command line: agenda check/export, invite, demo."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import icalendar
import pytest

from confsvc.cli.main import main
from tests.conftest import SAMPLE


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confsvc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_agenda_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agenda", "check", str(SAMPLE)]) == 0
    assert "ok (3 sites, 8 items" in capsys.readouterr().out


def test_agenda_check_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = SAMPLE.read_text("utf-8").replace("minutes: 8", "minutes: 0", 1)
    text = text.replace("floor: [olsztyn]", "floor: [gdansk]", 1)
    bad.write_text(text, "utf-8")
    missing = tmp_path / "missing.yaml"
    result = run("agenda", "check", str(SAMPLE), str(bad), str(missing))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(
        rf"{re.escape(str(bad))}:\d+:\d+: items\[0\]\.minutes: Input should be greater than 0",
        lines[0],
    )
    assert re.fullmatch(
        rf"{re.escape(str(bad))}:\d+:\d+: items\[1\]\.floor names unknown site 'gdansk'", lines[1]
    )
    assert lines[2].startswith(f"{missing}:1:1: cannot read")


def test_export_ics_is_readable_by_icalendar(tmp_path: Path) -> None:
    out = tmp_path / "a.ics"
    assert main(["agenda", "export", "--format", "ics", "-o", str(out), str(SAMPLE)]) == 0
    cal = icalendar.Calendar.from_ical(out.read_bytes())
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert len(events) == 8
    first = events[0]
    assert first.decoded("dtstart").isoformat() == "2020-05-26T07:00:00+00:00"
    assert (first.decoded("dtend") - first.decoded("dtstart")).total_seconds() == 8 * 60
    assert str(first["summary"]) == "中国驻波兰大使致辞"
    assert len({str(e["uid"]) for e in events}) == 8


def test_export_json_and_frab(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agenda", "export", "--format", "json", str(SAMPLE)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["conference"]["id"] == "weifang-olsztyn-2020"
    assert data["items"][1]["planned_start"] == "2020-05-26T09:08:00+02:00"
    assert main(["agenda", "export", "--format", "frab", str(SAMPLE)]) == 0
    frab = json.loads(capsys.readouterr().out)["schedule"]
    day = frab["conference"]["days"][0]
    talks = next(iter(day["rooms"].values()))
    assert [t["duration"] for t in talks][:3] == ["00:08", "00:07", "00:08"]
    assert talks[0]["start"] == "09:00"
    assert frab["conference"]["acronym"] == "weifang_olsztyn_2020"  # the schema allows no inner -


def test_export_of_bad_agenda_fails_with_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("conference: {}\n", "utf-8")
    result = run("agenda", "export", "--format", "json", str(bad))
    assert result.returncode == 1
    assert f"{bad}:1:13: missing field conference.id" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_prints_links_that_work_then_invite_prints_one(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "confsvc", "demo", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    links: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Open the links"):
                break
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith("http://"):
                links[parts[0]] = parts[1]
        assert set(links) >= {
            "host",
            "moderator",
            "site:warsaw",
            "site:olsztyn",
            "site:weifang",
            "participant",
            "translator",  # the translation desk, every language
            "public",
            "written",  # the mail feature's line (confsvc.assembly.demo_links)
        }
        assert links["written"].endswith("/written?t=" + links["moderator"].rpartition("/j/")[2])
        with urllib.request.urlopen(links["written"], timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(links["host"], timeout=10) as resp:
            assert 'data-cmd="ros.next"' in resp.read().decode()
        with urllib.request.urlopen(links["public"], timeout=10) as resp:
            assert resp.status == 200
        secret = tmp_path / "confsvc.secret"
        assert (secret.stat().st_mode & 0o777) == 0o600
        assert secret.read_text().strip() not in (tmp_path / "confsvc.db").read_bytes().decode(
            "latin-1"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    result = run("invite", "--role", "site", "--site", "weifang", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    label, url = result.stdout.split()
    assert label == "site:weifang"
    assert url.startswith(f"http://127.0.0.1:{port}/j/")
    v6 = run("invite", "--role", "participant", "--host", "::1", "--port", "9", cwd=tmp_path)
    assert v6.returncode == 0, v6.stderr
    assert v6.stdout.split()[1].startswith("http://[::1]:9/j/")  # a usable IPv6 URL
    bad = run("invite", "--role", "site", "--site", "paris", cwd=tmp_path)
    assert bad.returncode == 1
    assert "--site must be one of warsaw, olsztyn, weifang" in bad.stderr
    assert bad.stdout == ""  # a refused link is never printed (nor recorded)
    stray = run("invite", "--role", "host", "--site", "weifang", cwd=tmp_path)
    assert (stray.returncode, stray.stdout) == (1, "")
    assert "--site goes only with --role site" in stray.stderr
    # The server, restarted on the same store and secret, accepts the CLI's link.
    proc = subprocess.Popen(
        [sys.executable, "-m", "confsvc", "serve", "--agenda", str(SAMPLE), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not os.environ.get("CONFSVC_SECRET")


@pytest.mark.parametrize(
    ("host", "given", "expected"),
    [
        ("127.0.0.1", [], ["127.0.0.1"]),
        ("::1", [], ["::1"]),
        ("0.0.0.0", [], []),
        ("127.0.0.1", ["10.1.2.3"], ["10.1.2.3"]),
    ],
)
def test_a_loopback_server_offers_loopback_media_addresses(
    host: str, given: list[str], expected: list[str]
) -> None:
    from confsvc.cli.main import build_parser, config_from

    argv = ["serve", "--agenda", str(SAMPLE), "--host", host]
    for address in given:
        argv += ["--ice-address", address]
    args = build_parser().parse_args(argv)
    assert config_from(args, [SAMPLE]).ice_addresses == expected

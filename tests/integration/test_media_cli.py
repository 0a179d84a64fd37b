"""``confsvc bot`` and ``confsvc loadtest`` against ``confsvc serve``, all as processes.

Three site bots publish; a participant bot prints what it received per site as JSON
(the issue's contract); ``loadtest --light`` reports every subscriber's frame rate.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
SITES = ["warsaw", "olsztyn", "weifang"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def confsvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "confsvc", *args]


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(confsvc(*args), cwd=tmp, capture_output=True, text=True, timeout=90)


class Server:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.proc = subprocess.Popen(
            confsvc("serve", "--agenda", str(SAMPLE), "--port", str(self.port)),
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("confsvc serve did not start") from None
                time.sleep(0.2)

    def link(self, role: str, site: str | None = None) -> str:
        cmd = confsvc("invite", "--role", role, "--port", str(self.port), "--json")
        if site:
            cmd += ["--site", site]
        out = subprocess.run(cmd, cwd=self.tmp, check=True, capture_output=True, text=True)
        return str(json.loads(out.stdout)["url"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def server_with_sites(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    bots: list[subprocess.Popen[str]] = []
    try:
        for site in SITES:
            link = server.link("site", site)
            bots.append(
                subprocess.Popen(
                    confsvc("bot", "--link", link, "--seconds", "300", "--json"),
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        # Each site bot says on stderr when it is publishing (making its test pattern takes
        # a few seconds of CPU): the viewers start after that, however slow the machine.
        for site, bot in zip(SITES, bots, strict=True):
            assert bot.stderr is not None
            line = bot.stderr.readline()
            assert line.strip() == f"confsvc bot: site {site} is publishing", line
        yield server
    finally:
        for bot in bots:
            bot.terminate()
        for bot in bots:
            try:
                bot.wait(15)
            except subprocess.TimeoutExpired:
                bot.kill()
                bot.wait()
        server.stop()


def test_a_participant_bot_prints_frames_from_every_site_bot(
    server_with_sites: Server, tmp_path: Path
) -> None:
    link = server_with_sites.link("participant")
    out = run(tmp_path, "bot", "--link", link, "--seconds", "6", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(report["sites"]) == sorted(SITES)
    assert report["reconnects"] == 0  # it reconnects by default, as a page does; none needed
    for site in SITES:
        got = report["sites"][site]
        assert got["video_frames"] > 0, (site, got)
        assert got["keyframes"] >= 1, (site, got)
        assert got["first_frame_ms"] is not None
        assert set(got) >= {"video_frames", "audio_frames", "keyframes", "first_frame_ms"}


def test_loadtest_light_reports_every_subscriber_per_site(
    server_with_sites: Server, tmp_path: Path
) -> None:
    link = server_with_sites.link("participant")
    args = ["--link", link, "--participants", "6", "--seconds", "3", "--light"]
    out = run(tmp_path, "loadtest", *args)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(report["subscribers"]) == 6
    for row in report["subscribers"]:
        assert sorted(row) == sorted(SITES)
        for site in SITES:
            assert row[site]["video_fps"] > 0, (site, row)
            assert row[site]["video_loss_pct"] >= 0


def test_loadtest_refuses_more_participants_than_its_links_allow(
    server_with_sites: Server, tmp_path: Path
) -> None:
    link = server_with_sites.link("participant")
    out = run(tmp_path, "loadtest", "--link", link, "--participants", "9", "--light")
    assert out.returncode == 1
    assert "9 participants need 2 links" in out.stderr


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_token_in_the_bot_link_never_reaches_its_stderr(fmt: str, tmp_path: Path) -> None:
    server = Server(tmp_path)
    try:
        link = server.link("participant")
        token = link.rpartition("/j/")[2]
        args = ["--link", link, "--seconds", "1", "--log-level", "debug", "--log-format", fmt]
        out = run(tmp_path, "bot", "--json", *args)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    sites = json.loads(out.stdout)["sites"]  # it watched; no site publishes, so no frames
    assert {c["video_frames"] for c in sites.values()} == {0} and sorted(sites) == sorted(SITES)
    logs = [line for line in out.stderr.splitlines() if not line.startswith("confsvc bot: ")]
    if fmt == "json":
        records = [json.loads(line) for line in logs]  # every log line is one object
        messages = [r["message"] for r in records if r["logger"] == "confsvc.bot"]
    else:
        messages = [line.split(" confsvc.bot: ", 1)[1] for line in logs if " confsvc.bot: " in line]
    # The link was logged (so the token could have leaked), with its token masked.
    assert messages == [f"joining with {link.removesuffix(token)}***"]
    assert token not in out.stderr and token.split(".")[-1] not in out.stderr

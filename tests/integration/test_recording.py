"""Recording through the app: three site bots publish, the agenda records the run of
show, the host pauses and resumes, the end stops it; every file decodes with PyAV, the
program has a chapter per item (Matroska and WebVTT); the organiser's page, its signed
downloads and the press kit; nothing is recorded unless the agenda or the host says so."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import av
import pytest

from confsvc.media.bot import SiteBot, parse_link
from confsvc.recording.files import list_files
from tests.conftest import SAMPLE
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401
from tests.integration.test_broadcast import LOOP, SITES


def recording_agenda(directory: Path) -> Path:
    """The sample agenda with ``conference.recording: true``."""
    text, n = re.subn(
        r"(\n  start: [^\n]+\n)", r"\1  recording: true\n", SAMPLE.read_text(), count=1
    )
    assert n == 1
    path = directory / "recording.yaml"
    path.write_text(text)
    return path


def frames_in(path: Path) -> tuple[int, int]:
    """(video frames decoded, audio packets) of a WebM file. A frame the decoder refuses
    is skipped, as a player does (on a loaded machine a frame can arrive broken: it is
    written as received); it must stay rare."""
    video = refused = packets = 0
    with av.open(str(path)) as c:
        if c.streams.video:
            for packet in c.demux(video=0):
                if not packet.size:
                    continue
                packets += 1
                try:
                    video += len(packet.decode())
                except av.error.InvalidDataError:
                    refused += 1
    assert refused <= max(2, packets // 50), (path.name, refused, packets)
    with av.open(str(path)) as c:
        audio = sum(1 for p in c.demux(audio=0) if p.size) if c.streams.audio else 0
    return video, audio


def diagnose(running: Any, caplog: Any = None) -> str:
    """What the recorder, the program and the relay had, for a wait that timed out."""
    from confsvc.media.program import Programs
    from confsvc.media.setup import RELAY
    from confsvc.recording.web import RECORDINGS

    relay = running.app[RELAY]
    programs = [p.stats() for p in Programs.of(relay).programs.values()]
    peers = [r.getMessage() for r in caplog.records if "Peer(" in r.getMessage()] if caplog else []
    return (
        f"recorders {running.app[RECORDINGS].stats()} programs {programs} "
        f"relay {relay.stats()} peers {peers[-12:]}"
    )


async def start_sites(running: Any, sites: list[str]) -> list[SiteBot]:
    """Site bots that connect again when their connection drops, as a page does (on a
    loaded machine ICE consent can lapse; the recorder carries on at the next keyframe)."""
    bots = [
        SiteBot(parse_link(running.link("site", s)), ice_addresses=LOOP, reconnect=True)
        for s in sites
    ]
    await asyncio.gather(*(b.start() for b in bots))
    return bots


async def stop(bots: list[SiteBot]) -> None:
    await asyncio.gather(*(b.close() for b in bots))


@pytest.mark.timeout(300)
async def test_the_agenda_records_every_site_and_the_program_with_chapters(
    confsvc_app: Any, tmp_path: Path, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, "confsvc.media")
    running = await confsvc_app(recording_agenda(tmp_path), recordings=tmp_path / "rec")
    root = tmp_path / "rec"
    bots = await start_sites(running, SITES)
    host = await running.ws("host")
    try:
        assert (await host.command("ros.start"))["type"] == "ack"
        notice = await host.expect("recording")
        assert notice["recording"]["status"] == "recording"

        def sizes() -> dict[str, int]:
            files = list_files(root, running.conference)
            return {f.source or "": f.bytes for f in files if f.kind == "webm"}

        await until(
            lambda: all(sizes().get(s, 0) > 20_000 for s in [*SITES, "program"]),
            "files",
            timeout=90,
            why=lambda: diagnose(running, caplog),
        )
        assert (await host.command("rec.pause"))["type"] == "ack"
        await asyncio.sleep(0.5)
        assert (await host.command("rec.resume"))["type"] == "ack"
        assert (await host.command("ros.next"))["type"] == "ack"
        grown = sizes()["program"]
        await until(
            lambda: sizes()["program"] > grown + 20_000,
            "the program after resuming",
            timeout=90,
            why=lambda: diagnose(running, caplog),
        )
        assert (await host.command("ros.end"))["type"] == "ack"
        await until(
            lambda: any(f.kind == "json" for f in list_files(root, running.conference)),
            "the manifest written at the end",
            timeout=60,
        )
    finally:
        await stop(bots)
        await host.close()
    files = list_files(root, running.conference)
    webm = {f.source: root / running.conference / f.name for f in files if f.kind == "webm"}
    assert sorted(webm) == sorted([*SITES, "program"])
    for source, path in webm.items():
        video, _audio = frames_in(path)
        assert video > 30, source
    _video, audio = frames_in(webm["program"])
    assert audio > 50  # the floor's sound
    with av.open(str(webm["program"])) as c:
        titles = [ch["metadata"]["title"] for ch in c.chapters()]
    assert len(titles) == 2 and all(titles)
    vtt = next(root / running.conference / f.name for f in files if f.kind == "vtt")
    cues = [line for line in vtt.read_text("utf-8").splitlines() if "-->" in line]
    assert len(cues) == 2
    manifest = json.loads(
        next(root / running.conference / f.name for f in files if f.kind == "json").read_text()
    )
    assert manifest["take"] == 1 and set(manifest["files"]) == {*SITES, "program"}


@pytest.mark.timeout(300)
async def test_nothing_is_recorded_unless_enabled_and_the_page_is_the_hosts(
    confsvc_app: Any, tmp_path: Path
) -> None:
    running = await confsvc_app(recordings=tmp_path / "rec")
    bots = await start_sites(running, SITES[:1])
    host = await running.ws("host")
    try:
        assert (await host.command("ros.start"))["type"] == "ack"
        await asyncio.sleep(1.0)
        assert list_files(tmp_path / "rec", running.conference) == []
        moderator = await running.ws("moderator")
        refused = await moderator.command("rec.start")
        assert refused["type"] == "error" and refused["code"] == "forbidden"
        await moderator.close()
        assert (await host.command("rec.start"))["type"] == "ack"
        await until(
            lambda: any(
                f.source == "program" and f.bytes > 20_000
                for f in list_files(tmp_path / "rec", running.conference)
            ),
            "the program file",
            timeout=90,
        )
        assert (await host.command("rec.stop"))["type"] == "ack"
        await until(
            lambda: any(f.kind == "json" for f in list_files(tmp_path / "rec", running.conference)),
            "the take's manifest",
            timeout=60,
        )
    finally:
        await stop(bots)
        await host.close()

    page = await running.client.get(f"/j/{running.token('moderator')}/recordings")
    assert page.status == 403
    page = await running.client.get(f"/j/{running.token('host')}/recordings")
    assert page.status == 200
    html = await page.text()
    links = re.findall(r'href="([^"]+/recordings/(take[^"?]+)\?exp=[^"]+)"', html)
    names = {name for _url, name in links}
    assert any(n.endswith("-program.webm") for n in names)
    url = next(u for u, n in links if n.endswith("-program.webm")).replace("&amp;", "&")
    got = await running.client.get(url, headers={"Range": "bytes=0-99"})
    assert got.status == 206 and len(await got.read()) == 100
    forged = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 32, url)
    assert (await running.client.get(forged)).status == 404

    kit = await running.client.get(f"/j/{running.token('host')}/recordings/presskit.zip")
    assert kit.status == 200
    with zipfile.ZipFile(io.BytesIO(await kit.read())) as z:
        names_in_kit = z.namelist()
    assert "report.html" in names_in_kit and "report.json" in names_in_kit
    assert any(n.startswith("program/") and n.endswith("-program.webm") for n in names_in_kit)

"""The post-session report: figures of a scripted session, privacy of the public view,
the formats, the pages, and the export/import round trip."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from confsvc import scripted
from confsvc.core.agenda import parse_agenda
from confsvc.core.report import build
from confsvc.http.i18n import I18n
from confsvc.report import long_date, render, render_html
from confsvc.store import NewRecord, open_store
from tests.conftest import SAMPLE, Running, artifact

AGENDA = parse_agenda(SAMPLE.read_bytes())


@pytest.fixture(scope="module")
def session() -> scripted.Session:
    return scripted.run(AGENDA)


def test_scripted_session_durations(session: scripted.Session) -> None:
    r = build(session.state, session.now)
    conf = r["conference"]
    assert conf["actual_start"] == AGENDA.conference.start.timestamp()
    # 118 planned minutes + a 2-minute pause + a 3-minute overrun of a 2-minute extension.
    assert conf["actual_s"] == (118 + 2 + 3) * 60
    assert conf["paused_s"] == 120
    actual = {it["id"]: it["actual_s"] for it in r["items"]}
    assert actual["opening-olsztyn"] == 7 * 60  # the pause is not counted
    assert actual["opening-weifang"] == 11 * 60
    over = {it["id"]: it["overrun_s"] for it in r["items"]}
    assert over["opening-weifang"] == 60  # 8 planned + 2 extension, 11 actual
    assert sum(1 for v in over.values() if v) == 1
    speaking = r["speaking"]["per_site"]
    assert speaking == {"warsaw": 13 * 60, "olsztyn": 57 * 60, "weifang": 86 * 60}


def test_scripted_session_counts_reconcile(session: scripted.Session) -> None:
    c = build(session.state, session.now)["counts"]
    assert c["by_track"] == {"live": 3, "pre_session": 2, "written": 1}
    assert c["total"] == 6 == sum(c["by_track"].values())
    assert c["reconciles"] is True
    assert c["answered_live"] == 2
    assert (c["written_published"], c["written_open"]) == (2, 1)


def test_open_written_answers_are_listed_with_expert_and_due(session: scripted.Session) -> None:
    r = build(session.state, session.now)
    assert len(r["open_written"]) == 1
    w = r["open_written"][0]
    assert w["expert"] == AGENDA.experts[0].name
    assert w["due"] == session.now + 7 * 86400  # assigned last, at the very end
    html = render_html(I18n(), r, "en")
    row = re.search(r'<tr class="open-written" data-question="([^"]+)">', html)
    assert row is not None and row.group(1) == w["id"]


def test_public_report_leaks_nothing_private(session: scripted.Session) -> None:
    private = build(session.state, session.now)
    public = build(session.state, session.now, public=True)
    # There is private data that could leak...
    assert any(q["status"] == "rejected" for q in private["questions"])
    assert any(q.get("email") for q in private["questions"])
    # ...and none of it does.
    text = json.dumps(public, ensure_ascii=False)
    assert "a@olsztyn.example.org" not in text
    assert "asked before" not in text  # the rejection reason
    assert all(q["status"] != "rejected" for q in public["questions"])
    # A pending question is there only as a pre-session question with a published answer.
    assert all(
        q["written"] and q["written"]["published_at"]
        for q in public["questions"]
        if q["status"] == "pending"
    )
    assert all("email" not in q and "notes" not in q for q in public["questions"])
    html = render_html(I18n(), public, "pl")
    assert "a@olsztyn.example.org" not in html


def test_every_format_renders_the_same_questions(session: scripted.Session) -> None:
    i18n = I18n()
    data = build(session.state, session.now)
    ids = [q["id"] for q in data["questions"]]
    assert [q["id"] for q in json.loads(render(i18n, data, "json", "en"))["questions"]] == ids
    rows = list(csv.DictReader(io.StringIO(render(i18n, data, "csv", "en"))))
    assert [row["id"] for row in rows] == ids
    assert {row["track"] for row in rows} == {"live", "pre_session", "written"}
    md = render(i18n, data, "md", "zh")
    assert md.startswith("# 潍坊")
    assert all(f"### {qid} " in md for qid in ids)
    html = render(i18n, data, "html", "pl")
    assert html.count('class="item-row"') == len(AGENDA.items)
    assert "<script" not in html  # stands alone, prints, no script needed
    assert "@media print" in html


def test_question_text_is_escaped_in_html_and_svg(session: scripted.Session) -> None:
    s = scripted.run(AGENDA)
    who = scripted.participant("olsztyn", 99)
    s.do(who, "q.ask", text="<script>alert(1)</script> & <b>bold</b>", language="en")
    html = render_html(I18n(), build(s.state, s.now), "en")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


async def test_report_pages_public_and_organiser(running: Running) -> None:
    host = await running.ws("host")
    await host.command("ros.start")
    resp = await running.client.get(f"/c/{running.conference}/report?lang=zh")
    assert resp.status == 200
    html = await resp.text()
    assert "会后报告" in html and "公开版" in html
    assert html.count('class="item-row"') == len(AGENDA.items)
    resp = await running.client.get(f"/j/{running.token('moderator')}/report?format=json")
    assert resp.status == 200
    data = json.loads(await resp.text())
    assert data["public"] is False
    assert data["conference"]["status"] == "running"
    resp = await running.client.get(f"/j/{running.token('participant')}/report")
    assert resp.status == 403
    resp = await running.client.get(f"/c/{running.conference}/report?format=pdf")
    assert resp.status == 400


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confsvc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


async def test_export_import_round_trip_gives_the_identical_report(
    session: scripted.Session, tmp_path: Path
) -> None:
    source = tmp_path / "source.db"
    store = await open_store(str(source))
    await store.append(
        session.state.id,
        0,
        [NewRecord(type=e.type, at=e.at, actor=e.actor, data=e.data) for e in session.log],
    )
    await store.close()
    export = tmp_path / "export.json"
    done = run_cli("export", "--db", str(source), "-o", str(export), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(export.read_text())["events"]) == len(session.log)
    target = tmp_path / "target.db"
    done = run_cli("import", str(export), "--db", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = run_cli("import", str(export), "--db", str(target), cwd=tmp_path)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    reports = []
    for db in (source, target):
        out = run_cli("report", "--db", str(db), "--format", "json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        data.pop("generated_at")
        reports.append(data)
    assert reports[0] == reports[1]
    assert reports[0]["counts"]["total"] == 6


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(format="other"), "not a confsvc conference export"),
        (lambda d: d["events"].pop(3), "event 4: seq is 5, expected 4"),
        (lambda d: d["events"][2].pop("type"), "event 3: malformed"),
    ],
)
def test_bad_export_files_are_refused_and_nothing_is_written(
    session: scripted.Session, tmp_path: Path, mutate: Any, needle: str
) -> None:
    from confsvc.cli.report_cmd import export_data

    data = export_data(session.state.id, session.log)
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    target = tmp_path / "t.db"
    done = run_cli("import", str(path), "--db", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert needle in done.stderr
    assert not target.exists()


@pytest.mark.browser
async def test_report_renders_in_chromium_with_one_bar_per_item(
    running: Running, browser: Any, session: scripted.Session
) -> None:
    html = render_html(I18n(), build(session.state, session.now), "en")
    path = artifact("report.html")
    path.write_text(html, "utf-8")
    page = await browser.new_page()
    await page.goto(path.as_uri())
    assert await page.locator("svg.timeline g.item-row").count() == len(AGENDA.items)
    assert await page.locator("svg.timeline rect.planned").count() == len(AGENDA.items)
    assert await page.locator("svg.timeline circle.on-air").count() == 2
    box = await page.locator("svg.timeline").bounding_box()
    assert box is not None and box["width"] > 300
    await page.screenshot(path=str(artifact("report.png")), full_page=True)
    pdf = artifact("report.pdf")
    await page.pdf(path=str(pdf))
    assert pdf.stat().st_size > 10_000
    await page.close()


def test_report_dates_are_in_the_readers_language(session: scripted.Session) -> None:
    data = build(session.state, session.now)
    i18n = I18n()
    assert "data-date>26 maja 2020<" in render_html(i18n, data, "pl")
    assert "data-date>2020年5月26日<" in render_html(i18n, data, "zh")
    assert "data-date>26 May 2020<" in render_html(i18n, data, "en")


SVG_TAG = re.compile(r"<(?!/)[a-zA-Z]+")


async def _run_a_real_session(running: Running) -> None:
    """A session run today through the service; the sample agenda is dated 26 May 2020."""
    host = await running.ws("host")
    moderator = await running.ws("moderator")
    asker = await running.ws("participant")
    assert (await host.command("ros.start"))["type"] == "ack"
    assert (await host.command("ros.next"))["type"] == "ack"
    assert (await asker.command("q.ask", text="Czy szpitale mają maseczki?"))["type"] == "ack"
    for name, args in [
        ("q.approve", {"id": "q-1"}),
        ("q.on_air", {"id": "q-1", "site": "weifang"}),
        ("q.answer", {"id": "q-1", "site": "weifang"}),
    ]:
        assert (await moderator.command(name, **args))["type"] == "ack", name
    assert (await host.command("ros.next"))["type"] == "ack"
    assert (await host.command("ros.end"))["type"] == "ack"


async def test_report_of_a_session_held_today_draws_the_session(running: Running) -> None:
    await _run_a_real_session(running)
    resp = await running.client.get(f"/j/{running.token('moderator')}/report?lang=en")
    assert resp.status == 200
    html = await resp.text()
    assert len(html.encode()) <= 200_000
    svg = html[html.index("<svg") : html.index("</svg>")]
    # Items, sites, a few ticks: not one tick an hour since 2020.
    assert len(SVG_TAG.findall(svg)) <= 200
    assert svg.count("<line") <= 12
    tz = "Europe/Warsaw"  # the first site's
    today = long_date(time.time(), tz, "en")
    assert re.search(r"data-date>([^<]+)<", html).group(1) == today  # type: ignore[union-attr]
    assert "data-planned-date>Planned: 26 May 2020<" in html
    assert "data-plan-note>The plan is drawn from the actual start.<" in html
    # The plan starts where the session did: the first planned bar and the first actual bar.
    planned = re.findall(r'class="planned" x="([0-9.]+)"', svg)
    actual = re.findall(r'class="actual" x="([0-9.]+)"', svg)
    assert planned[0] == actual[0]
    assert len(planned) == len(AGENDA.items)
    pl = await (await running.client.get(f"/c/{running.conference}/report?lang=pl")).text()
    assert "data-planned-date>Plan: 26 maja 2020<" in pl
    assert re.search(r"data-date>([^<]+)<", pl).group(1) == long_date(time.time(), tz, "pl")  # type: ignore[union-attr]

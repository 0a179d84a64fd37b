"""The public report shows what the public live page showed plus published written
answers, nothing more, in every format, served and from the command line; and every CSV
confsvc writes neutralises formula cells (served and from the command line)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from confsvc import scripted
from confsvc.core import written as W
from confsvc.core.agenda import parse_agenda
from confsvc.core.report import build
from confsvc.csvfile import FORMULA_START
from confsvc.http.i18n import I18n
from confsvc.report import FORMATS, render
from confsvc.store import NewRecord, open_store
from tests.conftest import SAMPLE
from tests.integration.report_leaks import (
    FORMULAS,
    LEAKS,
    PUBLISHED_FORMULA,
    SHOWN,
    leaky_session,
)

AGENDA = parse_agenda(SAMPLE.read_bytes())

# What the live page's public_view has of a question, and the report's own extras.
PUBLIC_QUESTION_KEYS = {
    "id", "track", "source", "status", "text", "language", "translations", "site", "votes",
    "on_air_at", "answered_at", "path", "written", "answer",
}  # fmt: skip


@pytest.fixture(scope="module")
def session() -> scripted.Session:
    return leaky_session(AGENDA)


def _leaks(text: str) -> list[str]:
    return [needle for needle in LEAKS if needle in text]


def _missing(text: str) -> list[str]:
    return [needle for needle in SHOWN if needle not in text]


def test_the_organiser_report_has_the_data_that_could_leak(session: scripted.Session) -> None:
    text = render(I18n(), build(session.state, session.now), "json", "en")
    assert _leaks(text) == LEAKS


def test_public_report_has_only_aired_and_published_questions(session: scripted.Session) -> None:
    data = build(session.state, session.now, public=True)
    by_id = {q.id: q for q in session.state.parts["questions"].items.values()}
    ids = [row["id"] for row in data["questions"]]
    aired = [qid for qid, q in by_id.items() if q.on_air_at is not None]
    published = [qid for qid, w in W.by_id(session.state).items() if w.published_at]
    assert ids == [qid for qid in by_id if qid in set(aired) | set(published)]
    assert len(ids) == len(aired) + len(published) == 10
    assert all(set(row) == PUBLIC_QUESTION_KEYS for row in data["questions"])
    assert data["open_written"] == []
    assert data["counts"]["total"] == 10
    assert data["counts"]["by_status"].get("rejected", 0) == 0
    steps = {step["event"] for row in data["questions"] for step in row["path"]}
    assert steps == {"q.on_air", "q.answered"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_public_report_leaks_nothing_in_any_format(session: scripted.Session, fmt: str) -> None:
    text = render(I18n(), build(session.state, session.now, public=True), fmt, "en")
    assert _leaks(text) == []
    assert _missing(text) == []


def _formula_cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row if c[:1] in FORMULA_START]


def _check_csv(text: str) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    cells = {c for row in rows for c in row}
    assert _formula_cells(text) == []
    assert {"'" + f for f in FORMULAS} <= cells
    assert "'" + PUBLISHED_FORMULA in cells


def test_report_csv_neutralises_formula_cells(session: scripted.Session) -> None:
    for public in (False, True):
        _check_csv(render(I18n(), build(session.state, session.now, public=public), "csv", "en"))


async def _store_session(session: scripted.Session, db: Path) -> None:
    store = await open_store(str(db))
    try:
        records = [NewRecord(type=e.type, at=e.at, actor=e.actor, data=e.data) for e in session.log]
        await store.append(session.state.id, 0, records)
    finally:
        await store.close()


async def test_served_public_report_leaks_nothing_and_csvs_are_neutralised(
    session: scripted.Session, tmp_path: Path, confsvc_app: Any
) -> None:
    await _store_session(session, tmp_path / "confsvc.db")
    running = await confsvc_app()
    for fmt in FORMATS:
        resp = await running.client.get(f"/c/{running.conference}/report?format={fmt}")
        assert resp.status == 200, fmt
        text = await resp.text()
        assert (fmt, _leaks(text), _missing(text)) == (fmt, [], [])
        if fmt == "json":
            assert json.loads(text)["public"] is True
        if fmt == "csv":
            _check_csv(text)
    token = running.token("moderator")
    resp = await running.client.get(f"/j/{token}/report?format=csv")
    assert resp.status == 200
    text = await resp.text()
    _check_csv(text)
    assert "Anna Jawna" in text  # the organiser's report has the names


def _cli(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "confsvc", "report", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_cli_public_report_leaks_nothing_and_csvs_are_neutralised(
    session: scripted.Session, tmp_path: Path
) -> None:
    db = tmp_path / "leaky.db"
    await _store_session(session, db)
    for fmt in FORMATS:
        text = _cli("--db", str(db), "--public", "--format", fmt, cwd=tmp_path)
        assert (fmt, _leaks(text), _missing(text)) == (fmt, [], [])
    _check_csv(_cli("--db", str(db), "--public", "--format", "csv", cwd=tmp_path))
    _check_csv(_cli("--db", str(db), "--format", "csv", cwd=tmp_path))

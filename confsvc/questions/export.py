"""Questions as CSV and JSON, each with its whole history (for staff: e-mails included)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from confsvc.core.conference import ConferenceState
from confsvc.core.questions import post_view, questions, staff_view
from confsvc.csvfile import write_csv

CSV_FIELDS = (
    "id",
    "status",
    "source",
    "language",
    "site",
    "name",
    "email",
    "votes",
    "askers",
    "tags",
    "pinned",
    "asked_at",
    "on_air_at",
    "answered_at",
    "answered_by",
    "reason",
    "merged_into",
    "merged_from",
    "text",
    "original",
    "edits",
    "notes",
    "history",
)


def _iso(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def export_json(state: ConferenceState) -> dict[str, Any]:
    qs = questions(state)
    return {
        "conference": state.id,
        "seq": state.seq,
        "questions": [staff_view(q) for q in qs.items.values()],
        "posts": [post_view(p) for p in qs.posts],
    }


def export_csv(state: ConferenceState) -> str:
    return write_csv(CSV_FIELDS, (_row(staff_view(q)) for q in questions(state).items.values()))


def _row(v: dict[str, Any]) -> list[Any]:
    """One question's cells, in ``CSV_FIELDS`` order."""
    by = v["answered_by"] or {}
    row = {
        **v,
        "asked_at": _iso(v["asked_at"]),
        "on_air_at": _iso(v["on_air_at"]),
        "answered_at": _iso(v["answered_at"]),
        "answered_by": by.get("site") or by.get("expert") or "",
        "tags": " ".join(v["tags"]),
        "pinned": "yes" if v["pinned"] else "",
        "merged_from": " ".join(v["merged_from"]),
        "edits": json.dumps(v["edits"], ensure_ascii=False),
        "notes": json.dumps(v["notes"], ensure_ascii=False),
        "history": json.dumps(v["history"], ensure_ascii=False),
    }
    return [row[f] for f in CSV_FIELDS]

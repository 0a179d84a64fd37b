"""The post-session account: what happened, from the log alone.

Owns the report's figures (actual times, overruns, who held the floor how long, every
question's path and answer, counts that reconcile). Rendering (HTML with an SVG
timeline, Markdown, JSON, CSV) is ``confsvc.report``'s job.

``public=True`` is the report anyone may read (``/c/<id>/report``, ``confsvc report
--public``): what the public live page showed, plus published written answers, nothing
more. A question is in it only if it was on air at some point (the live page showed it
then) or its written answer was published; of such a question it has what the live
page's ``public_view`` has (no asker's name, e-mail, notes, reason, tags, edits, actors)
and, for a written answer, only the published text, its expert and when. Questions that
were approved but never on air, pending, rejected, merged away, or deferred and not yet
published are not in it, and neither are the open written answers. The counts count
what is in it. The schema of both shapes is ``docs/report.schema.json``.
"""

from __future__ import annotations

from typing import Any

from confsvc.core import questions as qmod
from confsvc.core import runofshow
from confsvc.core import written as W
from confsvc.core.conference import ConferenceState
from confsvc.core.floor import floor_state
from confsvc.core.interpretation import report as interpretation_report
from confsvc.core.recording import program_at, report_view
from confsvc.core.translation import current

# Which track a question belongs to; every question is in exactly one.
TRACK_LIVE, TRACK_PRE, TRACK_WRITTEN = "live", "pre_session", "written"


def _items(state: ConferenceState, now: float) -> list[dict[str, Any]]:
    agenda = state.require_agenda()
    r = runofshow.ros(state)
    starts = runofshow.planned_starts(state)
    out = []
    for i, item in enumerate(agenda.items):
        run = r.items[i]
        planned = runofshow.planned_s(state, i)
        actual = runofshow.actual_s(state, i, now) if run.segments else None
        out.append(
            {
                "id": item.id,
                "kind": item.kind,
                "title": item.title,
                "floor": item.floor,
                "speaker": item.speaker,
                "planned_start": starts[i],
                "planned_s": item.minutes * 60.0,
                "extended_s": run.extended_min * 60.0,
                "actual_start": run.actual_start,
                "actual_end": run.actual_end,
                "actual_s": actual,
                "overrun_s": max(0.0, actual - planned) if actual is not None else None,
                "segments": [[s, e if e is not None else now] for s, e in run.segments],
                "program_at": program_at(state, run.actual_start),
            }
        )
    return out


def _floor_spans(state: ConferenceState, now: float) -> list[dict[str, Any]]:
    """Who held the floor when: consecutive spans from the floor log."""
    log = floor_state(state).log
    r = runofshow.ros(state)
    end_all = r.ended_at if r.ended_at is not None else now
    spans = []
    for n, (at, sites) in enumerate(log):
        until = log[n + 1][0] if n + 1 < len(log) else end_all
        if sites and until > at:
            spans.append({"from": at, "until": until, "sites": list(sites)})
    return spans


def _pauses(state: ConferenceState, now: float) -> list[tuple[float, float]]:
    return [
        (float(p0 if p0 is not None else now), float(p1 if p1 is not None else now))
        for p0, p1 in runofshow.ros(state).pauses
    ]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _speaking(
    state: ConferenceState, spans: list[dict[str, Any]], items: list[dict[str, Any]], now: float
) -> dict[str, Any]:
    """Seconds each site held the floor, pauses left out, in all and per item."""
    pauses = _pauses(state, now)
    per_site: dict[str, float] = {s: 0.0 for s in state.require_agenda().site_ids}
    per_item: dict[str, dict[str, float]] = {}
    for span in spans:
        for item in items:
            for seg0, seg1 in item["segments"]:
                t = _overlap(span["from"], span["until"], seg0, seg1)
                if t <= 0:
                    continue
                t -= sum(
                    _overlap(max(span["from"], seg0), min(span["until"], seg1), p0, p1)
                    for p0, p1 in pauses
                )
                for site in span["sites"]:
                    per_site[site] = per_site.get(site, 0.0) + t
                    row = per_item.setdefault(item["id"], {})
                    row[site] = row.get(site, 0.0) + t
    return {"per_site": per_site, "per_item": per_item}


def _track(q: qmod.Question) -> str:
    if q.source == "pre_session":
        return TRACK_PRE
    if q.status == qmod.DEFERRED:
        return TRACK_WRITTEN
    return TRACK_LIVE


def _answer_translations(w: W.WrittenQuestion) -> dict[str, str]:
    """The desk's current translations of the answer, beside the original ``answer``."""
    return current(w.answer_translations, w.answer) if w.answer is not None else {}


def _written_view(
    state: ConferenceState, qid: str, now: float, public: bool
) -> dict[str, Any] | None:
    w = W.entry(state, qid)
    if w is None or not w.candidate:
        return None
    expert = W.experts(state).get(w.expert) if w.expert else None
    if public:
        if w.published_at is None:
            return None
        return {
            "status": w.status,
            "expert": expert.name if expert else None,
            "answer": w.answer,
            "answer_translations": _answer_translations(w),
            "published_at": w.published_at,
            "path": [{"status": W.PUBLISHED, "at": w.published_at}],
        }
    view: dict[str, Any] = {
        "status": w.status,
        "expert": expert.name if expert else w.expert,
        "due": w.due,
        "overdue": w.overdue(now),
        "bounced": w.bounced is not None,
        "path": [{"status": s, "at": at} for s, at in w.path],
        "answer": w.answer,
        "answer_translations": _answer_translations(w),
        "published_at": w.published_at,
        "replies": len(w.replies),
        "bounce_reason": w.bounced,
    }
    return view


PRIVATE_STEPS = frozenset({"q.voted", "q.noted", "q.tagged", "q.pinned", "q.unpinned"})
# The steps the public live page showed as they happened (q.live): on air, off, answered.
PUBLIC_STEPS = frozenset({"q.on_air", "q.off_air", "q.answered"})


def _question_path(q: qmod.Question, public: bool) -> list[dict[str, Any]]:
    """The steps of a question's life (votes left out; in public, only the visible ones)."""
    return [
        {"event": h.type, "at": h.at, **({} if public else {"actor": h.actor})}
        for h in q.history
        if h.type not in PRIVATE_STEPS and (not public or h.type in PUBLIC_STEPS)
    ]


def _was_public(q: qmod.Question, written: dict[str, Any] | None) -> bool:
    """On air at some point (the live page showed it), or its written answer published."""
    if q.status in (qmod.REJECTED, qmod.MERGED):
        return False
    return q.on_air_at is not None or (written is not None and written["published_at"] is not None)


def _public_row(q: qmod.Question, written: dict[str, Any] | None) -> dict[str, Any]:
    """What the live page's ``public_view`` shows of a question, with the report's extras."""
    return {
        "id": q.id,
        "track": _track(q),
        "source": q.source,
        "status": q.status,
        "text": q.text,
        "language": q.language,
        "translations": qmod.desk.translations_view(q),  # the desk's, beside the original
        "site": q.site,
        "votes": len(q.voters),
        "on_air_at": q.on_air_at,
        "answered_at": q.answered_at,
        "path": _question_path(q, True),
        "written": written,
    }


def _questions(state: ConferenceState, now: float, public: bool) -> list[dict[str, Any]]:
    out = []
    for q in qmod.questions(state).items.values():
        written = _written_view(state, q.id, now, public)
        if public and not _was_public(q, written):
            continue
        answer = None
        if q.answered_by is not None:
            answer = {"live": True, **{k: v for k, v in q.answered_by.items()}}
        if written is not None and written["answer"]:
            answer = {"live": False, "text": written["answer"], "expert": written["expert"]}
        if public:
            out.append({**_public_row(q, written), "answer": answer})
            continue
        row: dict[str, Any] = {
            "id": q.id,
            "track": _track(q),
            "source": q.source,
            "status": q.status,
            "text": q.text,
            "language": q.language,
            "translations": qmod.desk.translations_view(q),
            "translation_versions": q.translations,  # every version, who made it and when
            "site": q.site,
            "name": q.name,
            "votes": len(q.voters),
            "tags": list(q.tags),
            "asked_at": q.asked_at,
            "on_air_at": q.on_air_at,
            "answered_at": q.answered_at,
            "merged_into": q.merged_into,
            "path": _question_path(q, public),
            "written": written,
            "answer": answer,
            "email": q.email,
            "original": q.original,
            "notes": list(q.notes),
            "reason": q.reason,
        }
        out.append(row)
    return out


def _counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_track = {TRACK_LIVE: 0, TRACK_PRE: 0, TRACK_WRITTEN: 0}
    by_status: dict[str, int] = {}
    answered_live = published = open_written = 0
    for row in rows:
        by_track[row["track"]] += 1
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        if row["status"] == qmod.ANSWERED:
            answered_live += 1
        w = row["written"]
        if w is not None:
            if w["published_at"] is not None:
                published += 1
            else:
                open_written += 1
    return {
        "total": len(rows),
        "by_track": by_track,
        "by_status": by_status,
        "answered_live": answered_live,
        "written_published": published,
        "written_open": open_written,
        "answered": answered_live + published,
        "reconciles": sum(by_track.values()) == len(rows),
    }


def build(state: ConferenceState, now: float, *, public: bool = False) -> dict[str, Any]:
    """The whole report as plain data (JSON-ready)."""
    agenda = state.require_agenda()
    r = runofshow.ros(state)
    items = _items(state, now)
    spans = _floor_spans(state, now)
    rows = _questions(state, now, public)
    on_air = [
        {
            "id": row["id"],
            "at": row["on_air_at"],
            "site": row["site"],
            "program_at": program_at(state, row["on_air_at"]),
        }
        for row in rows
        if row["on_air_at"] is not None
    ]
    open_written = [
        {"id": row["id"], "text": row["text"], **(row["written"] or {})}
        for row in rows
        if row["written"] is not None and row["written"]["published_at"] is None
    ]
    out = {
        "public": public,
        "generated_at": now,
        "conference": {
            "id": state.id,
            "title": agenda.conference.title,
            "languages": agenda.conference.languages,
            "status": r.status,
            "planned_start": agenda.conference.start.timestamp(),
            "planned_end": runofshow.planned_starts(state)[-1] + agenda.items[-1].minutes * 60.0,
            "actual_start": r.started_at,
            "actual_end": r.ended_at,
            "actual_s": (r.ended_at if r.ended_at is not None else now) - r.started_at
            if r.started_at is not None
            else None,
            "paused_s": sum(p1 - p0 for p0, p1 in _pauses(state, now)),
        },
        "sites": [{"id": s.id, "name": s.name, "timezone": s.timezone} for s in agenda.sites],
        "items": items,
        "pauses": [list(p) for p in _pauses(state, now)],
        "floor": spans,
        "speaking": _speaking(state, spans, items, now),
        "on_air": on_air,
        "recording": report_view(state),
        "questions": rows,
        "counts": _counts(rows),
        "open_written": open_written,
    }
    # Who interpreted when: the organiser's report only (the public page never showed it).
    interpreting = None if public else interpretation_report(state, now)
    if interpreting is not None:
        out["interpretation"] = interpreting
    return out

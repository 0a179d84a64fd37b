"""Rendering the post-session report: HTML (one standalone file, inline SVG timeline and
print CSS), Markdown, JSON and CSV. The figures come from ``confsvc.core.report``."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

from babel.dates import format_date
from markupsafe import Markup

from confsvc.core import report as core_report
from confsvc.core.conference import ConferenceState
from confsvc.csvfile import write_csv
from confsvc.i18n import I18n
from confsvc.report.svg import timeline

FORMATS = ("html", "md", "json", "csv")


def build(state: ConferenceState, now: float, *, public: bool) -> dict[str, Any]:
    return core_report.build(state, now, public=public)


def _labels(i18n: I18n, lang: str) -> dict[str, str]:
    g = i18n.gettext
    return {
        "timeline": g(lang, "Timeline"),
        "planned": g(lang, "Planned"),
        "actual": g(lang, "Actual"),
        "extended": g(lang, "Extension"),
        "pause": g(lang, "Pause"),
        "floor": g(lang, "Floor"),
        "on_air": g(lang, "On air"),
        "channel": g(lang, "Channel"),
    }


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def clock(ts: float | None, tz: str) -> str:
    if ts is None:
        return "—"
    return (
        dt.datetime.fromtimestamp(ts, dt.UTC).astimezone(zoneinfo.ZoneInfo(tz)).strftime("%H:%M:%S")
    )


def stamp(ts: float | None, tz: str) -> str:
    if ts is None:
        return "—"
    moment = dt.datetime.fromtimestamp(ts, dt.UTC).astimezone(zoneinfo.ZoneInfo(tz))
    return moment.strftime("%Y-%m-%d %H:%M")


def long_date(ts: float | None, tz: str, lang: str) -> str:
    """The date in the reader's language: 26 May 2020, 26 maja 2020, 2020年5月26日."""
    if ts is None:
        return "—"
    moment = dt.datetime.fromtimestamp(ts, dt.UTC).astimezone(zoneinfo.ZoneInfo(tz))
    locale = {"zh": "zh_Hans_CN", "pl": "pl_PL"}.get(lang, "en_GB")
    return str(format_date(moment.date(), format="long", locale=locale))


def render_html(
    i18n: I18n,
    data: dict[str, Any],
    lang: str,
    *,
    served: bool = False,
    program_url: Callable[[dict[str, Any]], str | None] | None = None,
) -> str:
    """The report as one HTML page; ``program_url`` links an item's or a question's
    ``program_at`` (take, seconds) to that moment of the program (none: no links)."""
    svg = Markup(timeline(data, lang, _labels(i18n, lang)))  # noqa: S704 - every text in it is escaped
    return i18n.render(
        lang,
        "report.html",
        r=data,
        svg=svg,
        duration=duration,
        clock=clock,
        stamp=stamp,
        long_date=lambda ts, tz: long_date(ts, tz, lang),
        served=served,
        program_url=program_url,
        title_of=lambda loc: loc.get(lang) or loc.get("en") or next(iter(loc.values()), ""),
    )


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


QUESTION_COLUMNS = [
    "id", "track", "source", "status", "site", "language", "votes", "name", "text",
    "translations", "asked_at", "on_air_at", "answered_at", "answer", "expert", "written_status", "due",
]  # fmt: skip


def render_csv(data: dict[str, Any]) -> str:
    """One row a question, through the shared writer (formula cells neutralised)."""
    return write_csv(QUESTION_COLUMNS, (_csv_row(q) for q in data["questions"]))


def _csv_row(q: dict[str, Any]) -> list[Any]:
    written = q["written"] or {}
    answer = q["answer"] or {}
    return [
        q["id"], q["track"], q["source"], q["status"], q["site"], q["language"],
        q["votes"], q.get("name"), q["text"],
        "\n".join(f"{lang}: {text}" for lang, text in q["translations"].items()),
        _iso(q.get("asked_at")), _iso(q["on_air_at"]),
        _iso(q["answered_at"]), answer.get("text", ""), written.get("expert"),
        written.get("status", ""), _iso(written.get("due")),
    ]  # fmt: skip


def _iso(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def render_md(i18n: I18n, data: dict[str, Any], lang: str) -> str:
    g = i18n.gettext
    tz = data["sites"][0]["timezone"] if data["sites"] else "UTC"

    def t(loc: dict[str, str]) -> str:
        return loc.get(lang) or loc.get("en") or next(iter(loc.values()), "")

    conf = data["conference"]
    lines = [f"# {t(conf['title'])}", ""]
    lines.append(
        f"{g(lang, 'Actual start')}: {clock(conf['actual_start'], tz)} · "
        f"{g(lang, 'Actual end')}: {clock(conf['actual_end'], tz)} · "
        f"{g(lang, 'Duration')}: {duration(conf['actual_s'])}"
    )
    lines += ["", f"## {g(lang, 'Agenda')}", ""]
    lines.append(
        f"| {g(lang, 'Item')} | {g(lang, 'Planned')} | {g(lang, 'Actual')} | {g(lang, 'Overrun')} |"
    )
    lines.append("|---|---|---|---|")
    for it in data["items"]:
        lines.append(
            f"| {t(it['title'])} | {duration(it['planned_s'] + it['extended_s'])} | "
            f"{duration(it['actual_s'])} | {duration(it['overrun_s']) if it['overrun_s'] else ''} |"
        )
    lines += ["", f"## {g(lang, 'Speaking time per site')}", ""]
    names = {s["id"]: t(s["name"]) for s in data["sites"]}
    for site, secs in data["speaking"]["per_site"].items():
        lines.append(f"- {names.get(site, site)}: {duration(secs)}")
    c = data["counts"]
    lines += ["", f"## {g(lang, 'Questions')}", ""]
    lines.append(
        f"{g(lang, 'All questions')}: {c['total']} = {g(lang, 'live')} {c['by_track']['live']} + "
        f"{g(lang, 'pre-session')} {c['by_track']['pre_session']} + "
        f"{g(lang, 'written')} {c['by_track']['written']}"
    )
    lines.append("")
    for q in data["questions"]:
        site = names.get(q["site"], q["site"] or "—")
        lines.append(f"### {q['id']} · {site} · {q['language']} · {q['status']} · ▲{q['votes']}")
        lines.append("")
        lines.append("> " + q["text"].replace("\n", "\n> "))
        for code, text in q["translations"].items():  # the desk's, beside the original
            lines += [">", f"> *{g(lang, 'Translation')} ({code}):* " + text.replace("\n", "\n> ")]
        answer = q["answer"] or {}
        if answer.get("text"):
            lines += ["", answer["text"]]
        for code, text in ((q["written"] or {}).get("answer_translations") or {}).items():
            lines += ["", f"*{g(lang, 'Translation')} ({code}):* {text}"]
        lines.append("")
    if data["open_written"]:
        lines += [f"## {g(lang, 'Written answers still open')}", ""]
        for w in data["open_written"]:
            lines.append(
                f"- **{w['id']}** {w.get('expert') or '—'} · {g(lang, 'due')} {_iso(w.get('due'))[:10]}"
            )
    return "\n".join(lines) + "\n"


def render(i18n: I18n, data: dict[str, Any], fmt: str, lang: str) -> str:
    if fmt == "html":
        return render_html(i18n, data, lang)
    if fmt == "md":
        return render_md(i18n, data, lang)
    if fmt == "json":
        return render_json(data)
    if fmt == "csv":
        return render_csv(data)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")

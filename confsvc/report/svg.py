"""The report's timeline as inline SVG: planned vs actual per item, pauses, extensions,
who held the floor when, and the on-air questions placed on it.

Every text goes through ``html.escape``; the result is safe to embed as markup.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from html import escape
from typing import Any

ROW_H = 26
LABEL_W = 230
PLOT_W = 760
TOP = 34


def _title(localized: dict[str, str], lang: str) -> str:
    return localized.get(lang) or localized.get("en") or next(iter(localized.values()), "")


def _short(text: str, limit: int = 30) -> str:
    """Labels must fit beside the plot; the full title is in the bars' tooltips."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Axis steps, smallest first; the first that gives at most MAX_TICKS ticks is used.
STEPS = (300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0)
MAX_TICKS = 12


def plan_shift(report: dict[str, Any]) -> float:
    """Seconds to add to a planned time to draw it from the actual start.

    A session is often run on another day than its agenda says (a rehearsal, a demo, a
    postponed meeting); drawn at their own dates, plan and actual are years apart. So the
    plan is drawn as if it had started when the session did (0 before it started).
    """
    conf = report["conference"]
    if conf["actual_start"] is None:
        return 0.0
    return float(conf["actual_start"]) - float(conf["planned_start"])


def tick_step(span: float) -> float:
    """A step that puts at most MAX_TICKS ticks on ``span`` seconds (whole days past that)."""
    for step in STEPS:
        if span / step <= MAX_TICKS:
            return step
    return 86400.0 * -(-span // (86400.0 * MAX_TICKS))


CHANNEL_NAMES = {"zh": "中文", "pl": "Polski", "en": "English"}


def _lanes(
    out: list[str],
    lanes: list[dict[str, Any]],
    y: int,
    x: Any,
    w: Any,
    labels: dict[str, str],
    palette: list[str],
) -> int:
    """A row per interpretation channel: each turn a bar, coloured by its interpreter."""
    colours: dict[str, str] = {}
    for lane in lanes:
        name = escape(CHANNEL_NAMES.get(lane["channel"], lane["channel"]))
        out.append(
            f'<text x="4" y="{y + 17}" font-size="12" fill="#1d2330">'
            f"{escape(labels.get('channel', 'Channel'))}: {name}</text>"
        )
        for turn in lane["turns"]:
            colour = colours.setdefault(turn["interpreter"], palette[len(colours) % len(palette)])
            out.append(
                f'<rect class="interpreting" data-channel="{escape(lane["channel"])}" '
                f'data-interpreter="{escape(turn["interpreter"])}" x="{x(turn["from"]):.1f}" '
                f'y="{y + 6}" width="{w(turn["from"], turn["until"]):.1f}" height="12" '
                f'fill="{colour}" opacity="0.8"><title>{escape(turn["name"])}</title></rect>'
            )
        y += ROW_H
    return y


def timeline(report: dict[str, Any], lang: str, labels: dict[str, str]) -> str:
    items = report["items"]
    sites = report["sites"]
    shift = plan_shift(report)
    times = [it["planned_start"] + shift for it in items] + [
        it["planned_start"] + shift + it["planned_s"] + it["extended_s"] for it in items
    ]
    for it in items:
        for s, e in it["segments"]:
            times += [s, e]
    t0, t1 = float(min(times)), float(max(times))
    span = max(t1 - t0, 60.0)
    tz = zoneinfo.ZoneInfo(sites[0]["timezone"]) if sites else dt.UTC

    def x(t: float) -> float:
        # Clamped: a floor change or a question from before the start stays on the plot.
        return LABEL_W + min(max((t - t0) / span, 0.0), 1.0) * PLOT_W

    def w(a: float, b: float) -> float:
        return max(x(b) - x(a), 1.0)

    lanes = (report.get("interpretation") or {}).get("lanes", [])
    rows = len(items) + len(sites) + len(lanes) + 1
    height = TOP + rows * ROW_H + 30
    width = LABEL_W + PLOT_W + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(labels["timeline"])}">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#98a2b3"/>'
        "</pattern></defs>",
    ]
    # Time axis: at most MAX_TICKS ticks, whatever the span.
    step = tick_step(span)
    fmt = "%m-%d" if step >= 86400 else "%H:%M"
    tick = t0 - (t0 % step) + step
    while tick < t1:
        label = dt.datetime.fromtimestamp(tick, dt.UTC).astimezone(tz).strftime(fmt)
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{TOP - 6}" x2="{x(tick):.1f}" y2="{height - 24}" '
            f'stroke="#e4e7ec"/><text x="{x(tick):.1f}" y="{TOP - 10}" font-size="11" '
            f'text-anchor="middle" fill="#667085">{escape(label)}</text>'
        )
        tick += step
    y = TOP
    for it in items:
        title = escape(_title(it["title"], lang))
        out.append(f'<g class="item-row" data-item="{escape(it["id"])}">')
        out.append(f'<text x="4" y="{y + 17}" font-size="12" fill="#1d2330">{_short(title)}</text>')
        ps = it["planned_start"] + shift
        px, pw = x(ps), w(ps, ps + it["planned_s"])
        out.append(
            f'<rect class="planned" x="{px:.1f}" y="{y + 3}" width="{max(pw, 1):.1f}" height="8" '
            f'fill="#d0d5dd"><title>{escape(labels["planned"])}: {title}</title></rect>'
        )
        if it["extended_s"]:
            ex = px + pw
            ew = w(ps + it["planned_s"], ps + it["planned_s"] + it["extended_s"])
            out.append(
                f'<rect class="extension" x="{ex:.1f}" y="{y + 3}" width="{max(ew, 1):.1f}" '
                f'height="8" fill="#fec84b"><title>{escape(labels["extended"])}</title></rect>'
            )
        over = (it["overrun_s"] or 0) > 0
        for s, e in it["segments"]:
            colour = "#d92d20" if over else "#1f5fbf"
            out.append(
                f'<rect class="actual" x="{x(s):.1f}" y="{y + 13}" width="{w(s, e):.1f}" '
                f'height="9" fill="{colour}"><title>{escape(labels["actual"])}: {title}</title></rect>'
            )
        out.append("</g>")
        y += ROW_H
    for p0, p1 in report["pauses"]:
        out.append(
            f'<rect class="pause" x="{x(p0):.1f}" y="{TOP}" width="{w(p0, p1):.1f}" '
            f'height="{len(items) * ROW_H}" fill="url(#hatch)" opacity="0.5">'
            f"<title>{escape(labels['pause'])}</title></rect>"
        )
    palette = ["#1f5fbf", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#0ba5ec"]
    for n, site in enumerate(sites):
        name = escape(_title(site["name"], lang))
        out.append(
            f'<text x="4" y="{y + 17}" font-size="12" fill="#1d2330">{escape(labels["floor"])}: {name}</text>'
        )
        for f in report["floor"]:
            if site["id"] in f["sites"]:
                out.append(
                    f'<rect class="floor" data-site="{escape(site["id"])}" x="{x(f["from"]):.1f}" y="{y + 6}" '
                    f'width="{w(f["from"], f["until"]):.1f}" height="12" '
                    f'fill="{palette[n % len(palette)]}" opacity="0.8"><title>{name}</title></rect>'
                )
        y += ROW_H
    y = _lanes(out, lanes, y, x, w, labels, palette)
    out.append(
        f'<text x="4" y="{y + 17}" font-size="12" fill="#1d2330">{escape(labels["on_air"])}</text>'
    )
    for q in report["on_air"]:
        out.append(
            f'<circle class="on-air" data-question="{escape(q["id"])}" cx="{x(q["at"]):.1f}" '
            f'cy="{y + 12}" r="5" fill="#d92d20"><title>{escape(q["id"])}</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)

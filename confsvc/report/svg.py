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


def timeline(report: dict[str, Any], lang: str, labels: dict[str, str]) -> str:
    items = report["items"]
    sites = report["sites"]
    times = [it["planned_start"] for it in items] + [
        it["planned_start"] + it["planned_s"] for it in items
    ]
    for it in items:
        for s, e in it["segments"]:
            times += [s, e]
    t0, t1 = float(min(times)), float(max(times))
    span = max(t1 - t0, 60.0)
    tz = zoneinfo.ZoneInfo(sites[0]["timezone"]) if sites else dt.UTC

    def x(t: float) -> float:
        return LABEL_W + (t - t0) / span * PLOT_W

    rows = len(items) + len(sites) + 1
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
    # Time axis: a tick every 15 minutes (or more, for long sessions).
    step = 900.0 if span <= 4 * 3600 else 3600.0
    tick = t0 - (t0 % step) + step
    while tick < t1:
        label = dt.datetime.fromtimestamp(tick, dt.UTC).astimezone(tz).strftime("%H:%M")
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
        px, pw = x(it["planned_start"]), it["planned_s"] / span * PLOT_W
        out.append(
            f'<rect class="planned" x="{px:.1f}" y="{y + 3}" width="{max(pw, 1):.1f}" height="8" '
            f'fill="#d0d5dd"><title>{escape(labels["planned"])}: {title}</title></rect>'
        )
        if it["extended_s"]:
            ex = px + pw
            ew = it["extended_s"] / span * PLOT_W
            out.append(
                f'<rect class="extension" x="{ex:.1f}" y="{y + 3}" width="{max(ew, 1):.1f}" '
                f'height="8" fill="#fec84b"><title>{escape(labels["extended"])}</title></rect>'
            )
        over = (it["overrun_s"] or 0) > 0
        for s, e in it["segments"]:
            colour = "#d92d20" if over else "#1f5fbf"
            out.append(
                f'<rect class="actual" x="{x(s):.1f}" y="{y + 13}" width="{max((e - s) / span * PLOT_W, 1):.1f}" '
                f'height="9" fill="{colour}"><title>{escape(labels["actual"])}: {title}</title></rect>'
            )
        out.append("</g>")
        y += ROW_H
    for p0, p1 in report["pauses"]:
        out.append(
            f'<rect class="pause" x="{x(p0):.1f}" y="{TOP}" width="{max((p1 - p0) / span * PLOT_W, 1):.1f}" '
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
                    f'width="{max((f["until"] - f["from"]) / span * PLOT_W, 1):.1f}" height="12" '
                    f'fill="{palette[n % len(palette)]}" opacity="0.8"><title>{name}</title></rect>'
                )
        y += ROW_H
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

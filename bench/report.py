"""The post-session report's weight and how fast Chromium draws it.

    .venv/bin/python bench/report.py [--questions 500] [--runs 5]

Two sessions of the sample agenda, both held two hours ago (today, while the agenda is
dated 26 May 2020, as a real session is): ``sample`` is the scripted session (6
questions); ``many`` adds ``--questions`` asked during it (a third answered on air, a
fifth rejected, a tenth deferred, the rest approved). For each, the organiser's HTML in
English: bytes, gzip bytes, SVG elements, and in Chromium (``/usr/bin/chromium``,
headless, 1366x768, from a file): DOM nodes and the median over ``--runs`` of the time
from navigation start to the first frame after ``load`` (``render_ms``). The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confsvc import scripted
from confsvc.core.agenda import parse_agenda
from confsvc.core.report import build
from confsvc.http.i18n import I18n
from confsvc.report import render_html
from confsvc.resources import sample_agenda

CHROMIUM = "/usr/bin/chromium"
SVG_TAG = re.compile(r"<(?!/)[a-zA-Z]+")
# From navigation start to the frame after load: layout and paint of the whole page.
RENDERED_MS = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(
    () => done(performance.now()))))"""


def sessions(n_questions: int) -> dict[str, str]:
    agenda = parse_agenda(Path(sample_agenda()).read_bytes())
    start = time.time() - 2 * 3600
    i18n = I18n()
    sample = scripted.run(agenda, start=start)
    many = scripted.run(agenda, start=start)
    moderator = scripted.MODERATOR
    for n in range(n_questions):
        who = scripted.participant(agenda.site_ids[n % len(agenda.site_ids)], 100 + n)
        text = f"Question {n}: " + "jak długo trwa kwarantanna w szpitalu? " * (1 + n % 4)
        qid = many.do(who, "q.ask", text=text, language="pl")[0].data["id"]
        if n % 5 == 0:
            many.do(moderator, "q.reject", id=qid, reason="duplicate")
            continue
        many.do(moderator, "q.approve", id=qid)
        if n % 3 == 0:
            many.do(moderator, "q.on_air", id=qid, site="weifang")
            many.do(moderator, "q.answer", id=qid, site="weifang")
        elif n % 10 == 1:
            many.do(moderator, "q.defer", id=qid)
    return {
        "sample": render_html(i18n, build(sample.state, sample.now), "en"),
        "many": render_html(i18n, build(many.state, many.now), "en"),
    }


async def measure(pages: dict[str, Path], runs: int) -> dict[str, dict[str, float]]:
    from playwright.async_api import async_playwright

    out: dict[str, dict[str, float]] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        try:
            for name, path in pages.items():
                times = []
                nodes = 0
                for _ in range(runs):
                    page = await browser.new_page(viewport={"width": 1366, "height": 768})
                    await page.goto(path.as_uri(), wait_until="load")
                    times.append(await page.evaluate(RENDERED_MS))
                    nodes = await page.evaluate("document.getElementsByTagName('*').length")
                    await page.close()
                out[name] = {"render_ms": round(statistics.median(times), 1), "dom_nodes": nodes}
        finally:
            await browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    html = sessions(args.questions)
    figures: dict[str, Any] = {"questions_many": args.questions}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, text in html.items():
            paths[name] = Path(tmp) / f"{name}.html"
            paths[name].write_text(text, "utf-8")
            svg = text[text.index("<svg") : text.index("</svg>")]
            figures[f"{name}_bytes"] = len(text.encode())
            figures[f"{name}_gzip_bytes"] = len(gzip.compress(text.encode()))
            figures[f"{name}_svg_elements"] = len(SVG_TAG.findall(svg))
        for name, row in asyncio.run(measure(paths, args.runs)).items():
            figures[f"{name}_render_ms"] = row["render_ms"]
            figures[f"{name}_dom_nodes"] = row["dom_nodes"]
    for key, value in figures.items():
        print(f"{key:28} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

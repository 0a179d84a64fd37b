"""Browser: every page fits a 360 px phone and a 1366 px laptop, in every language.

A session with content (the run of show started, long questions asked, one on air and
translated, one deferred and assigned to an expert) is opened on every page (host,
moderator, site, expert, participant, translator, live, written answers, report) at 360x740 and 1366x768 in en, pl
and zh. Each must not scroll sideways (``document.scrollingElement.scrollWidth <=
innerWidth``), on a laptop must show every table whole (no column scrolled out of its
container, no cell cut), must log no console error and must have no serious or critical axe-core
violation. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from confsvc.core.roles import Role
from tests.conftest import Running, artifact
from tests.unit.interpretation_agenda import TEXT

# The interpreters under people's names: the test agenda's English descriptions
# ("Polish booth, first interpreter") would read as untranslated text on pl and zh pages.
INTERPRETED = (
    TEXT.replace("Polish booth, first interpreter", "Anna Nowak")
    .replace("Polish booth, second interpreter", "Jan Kowalski")
    .replace("English booth", "Li Wei")
)

pytestmark = pytest.mark.browser

SIZES = {"phone": (360, 740), "laptop": (1366, 768)}
EXPERT = "weifang-health-epidemiology"
LONG_PL = (
    "Czy szpitale w Olsztynie mają wystarczająco dużo maseczek i rękawiczek dla personelu, "
    "i jak długo trwa kwarantanna po powrocie z zagranicy?"
)
LONG_ZH = "潍坊的医院如何安排发热门诊和普通门诊的分流？请介绍一下具体的经验和做法。"
UNBROKEN = "https://example.org/" + "a-very-long-address-without-spaces-" * 4

# Elements wider than the viewport, named, so a failure says what to fix.
WIDE = """() => {
  const w = innerWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > w + 1 && r.width > 0) {
      let inScroller = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const s = getComputedStyle(p);
        if (s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') { inScroller = true; break; }
      }
      if (!inScroller) out.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '') + '[' + (el.textContent || el.name || '').trim().slice(0, 20) + ']:' + Math.round(r.right));
    }
  }
  return out.slice(0, 8);
}"""


# On a laptop no table may be cut: its scrolling container (.table-scroll, which lets a
# table scroll on a phone) must show all its columns, and no cell may hold more than it
# shows. (The host's agenda lost its last column at 1366 px in Polish.)
CLIPPED = """() => {
  const out = [], shown = (el) => el.offsetParent !== null;
  for (const box of document.querySelectorAll('.table-scroll')) {
    if (shown(box) && box.scrollWidth > box.clientWidth + 1)
      out.push((box.querySelector('table')?.className || 'table') + ': ' + box.scrollWidth + ' > ' + box.clientWidth);
  }
  for (const cell of document.querySelectorAll('td, th')) {
    if (shown(cell) && cell.scrollWidth > cell.clientWidth + 1)
      out.push('cell [' + cell.textContent.trim().slice(0, 24) + ']: ' + cell.scrollWidth + ' > ' + cell.clientWidth);
  }
  return out.slice(0, 8);
}"""


@pytest.fixture
async def running(confsvc_app: Any, tmp_path: Path) -> Running:
    """The sample agenda with interpretation channels: every page with audio shows its
    channel picker, and the interpreter's booth page is one of the pages."""
    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(INTERPRETED, encoding="utf-8")
    return await confsvc_app(agenda_path=agenda)  # type: ignore[no-any-return]


async def _session(running: Running) -> dict[str, str]:
    host = await running.ws("host")
    mod = await running.ws("moderator")
    asker = await running.ws("participant")
    assert (await host.command("ros.start"))["type"] == "ack"
    assert (await host.command("ros.next"))["type"] == "ack"
    # Recorded (the log says so even on a node without --recordings): the REC notice is
    # on every page, and the host's recordings page lists the take.
    assert (await host.command("rec.start"))["type"] == "ack"
    for text, lang in [(LONG_PL, "pl"), (LONG_ZH, "zh"), (UNBROKEN, "en"), (LONG_PL, "pl")]:
        assert (await asker.command("q.ask", text=text, language=lang))["type"] == "ack"
    steps = [
        ("q.approve", {"id": "q-1"}),
        ("q.on_air", {"id": "q-1", "site": "weifang"}),
        ("q.approve", {"id": "q-2"}),
        ("q.defer", {"id": "q-2"}),
        ("written.assign", {"question": "q-2", "expert": EXPERT, "due": time.time() + 86400}),
        ("q.approve", {"id": "q-3"}),
        # The desk's work: the Polish question on air in Chinese, the original beside it.
        ("q.translate", {"id": "q-1", "language": "zh", "text": LONG_ZH}),
    ]
    for name, args in steps:
        ack = await mod.command(name, **args)
        assert ack["type"] == "ack", (name, ack)
    mod_token = running.token("moderator")
    base, cid = running.base_url, running.conference
    return {
        "host": running.link("host"),
        "moderator": f"{base}/j/{mod_token}",
        "site": running.link("site", site="olsztyn"),
        "expert": running.link("expert", expert=EXPERT, name="Epidemiology"),
        "participant": running.link("participant"),
        "translator": running.link("translator", languages=("zh", "pl"), name="Desk"),
        "interpreter": running.link("interpreter", interpreter="pl-booth-1"),
        "live": f"{base}/c/{cid}/live",
        "written": f"{base}/c/{cid}/written?t={mod_token}",
        "report": f"{base}/j/{mod_token}/report",
        "recordings": f"{base}/j/{running.token('host')}/recordings",
    }


@pytest.fixture(scope="module")
def axe_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe-core from npm, installed for this run (it is not vendored: MPL-2.0, 650 kB)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (apt-get install npm): no axe-core")
    where = tmp_path_factory.mktemp("axe")
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", "axe-core@4"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
    )
    script = where / "node_modules" / "axe-core" / "axe.min.js"
    if done.returncode != 0 or not script.exists():
        pytest.skip(f"npm install axe-core failed: {done.stderr.strip()[-300:]}")
    return Path(script).read_text("utf-8")


# Evaluated through the DevTools protocol, which the pages' CSP (script-src 'self') does
# not cover, so axe needs no exception in the policy; add_script_tag would be refused.
AXE_RUN = """() => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
  .filter(v => v.impact === "serious" || v.impact === "critical")
  .map(v => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")))"""


# Every visible text node and the title, aria-label, placeholder and value of every element
# (not <script>/<style>, nor content people wrote: questions, names, marked data-user).
VISIBLE_TEXT = """() => {
  const page = document.documentElement.lang, out = [];
  const skip = (el) => el.closest('script, style, template, [data-user], [hidden]')
    || el.closest('[lang]').lang !== page;  // another language on purpose: the switcher
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    if (text && n.parentElement && !skip(n.parentElement)) out.push(text);
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder], input[type=button], input[type=submit]')) {
    if (skip(el)) continue;
    for (const a of ['title', 'aria-label', 'placeholder', 'value']) {
      const v = (a !== 'value' || el.type === 'button' || el.type === 'submit') && el.getAttribute(a);
      if (v && v.trim()) out.push(v.trim());
    }
  }
  out.push(document.title.trim());
  return out;
}"""


def _english_texts() -> set[str]:
    """The English catalog's msgids that pl and zh translate differently, and the raw
    values of the enums a page could leak (roles, states): seeing one on a pl or zh page
    means a text was not translated."""
    from babel.messages.pofile import read_po

    from confsvc.http.i18n import LOCALE_DIR

    out: set[str] = set()
    for po in (LOCALE_DIR / "en" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fh:
            ids = {str(m.id) for m in read_po(fh) if m.id}
        for lang in ("pl", "zh"):
            with (LOCALE_DIR / lang / "LC_MESSAGES" / po.name).open("rb") as fh:
                same = {str(m.id) for m in read_po(fh) if m.id and m.string == m.id}
            ids -= same
        out |= {i for i in ids if len(i) > 2 and "{" not in i and "%" not in i}
    return out


# Codes a page must never show as they are: role names, states, units ("min" is Polish too).
RAW_CODES = {r.value for r in Role} | {
    "min",
    "mins",
    "pending",
    "approved",
    "on_air",
    "deferred",
    "assigned",
}


def _with_lang(url: str, lang: str) -> str:
    return url + ("&" if "?" in url else "?") + f"lang={lang}"


# Every page at two sizes with axe-core: minutes, not the default two, on a slow machine.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", ["en", "pl", "zh"])
async def test_every_page_fits_a_phone_and_a_laptop(
    running: Running, browser: Any, lang: str, axe_source: str
) -> None:
    pages = await _session(running)
    english = _english_texts()
    problems: list[str] = []
    for size, (width, height) in SIZES.items():
        ctx = await browser.new_context(
            viewport={"width": width, "height": height},
            permissions=["camera", "microphone"],
        )
        for name, url in pages.items():
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg, errors=errors: (
                    errors.append(f"{msg.text} {msg.location.get('url')}")
                    if msg.type == "error"
                    else None
                ),
            )
            resp = await page.goto(_with_lang(url, lang), wait_until="load")
            assert resp is not None and resp.status == 200, (name, resp and resp.status)
            if await page.locator("[data-conn]").count():
                await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
            await page.evaluate("() => document.fonts.ready.then(() => null)")
            await page.evaluate(
                "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
            )
            if name == "participant":  # a question's language starts as the page's
                assert await page.input_value("[data-q-language]") == lang
            if name in ("participant", "site"):  # the on-air box names the answering site
                box = page.locator("[data-q-onair]:not([hidden]) [data-q-onair-meta]")
                await box.wait_for(timeout=10_000)
                assert await page.get_attribute("[data-q-onair]", "data-answering") == "weifang"
                if lang == "en":
                    assert (await box.text_content() or "").endswith(" · answering: Weifang")
            if lang == "zh" and name in ("participant", "site", "host", "live"):
                # On air in the reader's language (the desk's), the original beside it.
                shown = (
                    "[data-q-onair-text]"
                    if name in ("participant", "site")
                    else "[data-onair-text]"
                )
                original = shown.replace("-text]", "-original]")
                assert await page.text_content(shown) == LONG_ZH
                assert LONG_PL in (await page.text_content(original) or "")
                assert await page.is_visible(original)
            scroll = await page.evaluate("document.scrollingElement.scrollWidth")
            inner = await page.evaluate("innerWidth")
            if scroll > inner:
                problems.append(
                    f"{name} {lang} {size}: {scroll} > {inner} {await page.evaluate(WIDE)}"
                )
            clipped = await page.evaluate(CLIPPED) if size == "laptop" else []
            if clipped:
                problems.append(f"{name} {lang} {size}: a table is cut {clipped}")
            if errors:
                problems.append(f"{name} {lang} {size}: console errors {errors}")
            if lang != "en":
                texts = await page.evaluate(VISIBLE_TEXT)
                words = {w for t in texts for w in t.replace("·", " ").split()}
                left = sorted(
                    {t for t in texts if t in english}
                    | (words & (RAW_CODES - ({"min"} if lang == "pl" else set())))
                )
                if left:
                    problems.append(f"{name} {lang} {size}: English text {left}")
            await page.evaluate(axe_source + "\n;0")
            violations = await page.evaluate(AXE_RUN)
            if violations:
                problems.append(f"{name} {lang} {size}: axe {json.dumps(violations)}")
            await page.screenshot(
                path=str(artifact(f"fit-{name}-{lang}-{size}.png")), full_page=True
            )
            await page.close()
        await ctx.close()
    assert problems == [], "\n".join(problems)

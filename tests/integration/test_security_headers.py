"""Every response carries every security header, errors included; pages run no inline
script; a strict CSP does not break any page in Chromium (issue 11, item 8)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from tests.conftest import Running

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _check_headers(headers: Any, where: str) -> str:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (where, name, dict(headers))
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert "object-src 'none'" in csp or "default-src 'none'" in csp, (where, csp)
    return str(csp)


async def test_every_response_has_every_header_errors_included(running: Running) -> None:
    cid = running.conference
    requests = [
        ("GET", "/", 200),
        ("GET", f"/c/{cid}/live", 200),
        ("GET", f"/c/{cid}/report", 200),
        ("GET", f"/c/{cid}/report?format=json", 200),
        ("GET", f"/api/v1/conferences/{cid}/state", 200),
        ("GET", "/static/css/confsvc.css", 200),
        ("GET", f"/j/{running.token('host')}", 200),
        ("GET", "/no/such/route", 404),  # the router's own 404 (an HTTPException)
        ("POST", "/healthz", 405),  # the router's own 405
        ("GET", "/static/no-such-file.js", 404),
        ("GET", "/j/not-a-token", 403),
        ("GET", "/c/no-such-conference/live", 404),
        ("GET", "/api/v1/conferences/UPPER/state", 404),
        ("GET", f"/c/{cid}/live/photos/p-9", 404),
        ("GET", f"/c/{cid}/report?format=nope", 400),
        ("POST", f"/c/{cid}/posts", 403),
    ]
    for method, path, status in requests:
        async with running.client.request(method, path) as resp:
            assert resp.status == status, (method, path, resp.status)
            csp = _check_headers(resp.headers, f"{method} {path}")
            if resp.content_type == "text/html":
                assert "script-src 'self'" in csp
                assert "'unsafe-eval'" not in csp
                script_src = next(p for p in csp.split("; ") if p.startswith("script-src"))
                assert "'unsafe-inline'" not in script_src
    # A WebSocket handshake refused for its Origin, too.
    async with running.client.get(
        f"/c/{cid}/ws",
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as resp:
        assert resp.status == 403
        _check_headers(resp.headers, "ws 403")


async def test_connect_src_follows_the_public_url(confsvc_app: Any) -> None:
    running = await confsvc_app(public_url="https://conf.example.org/confsvc")
    async with running.client.get("/healthz") as resp:
        csp = resp.headers["Content-Security-Policy"]
        assert "connect-src 'self' wss://conf.example.org;" in csp
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.handlers += [f"{tag} {k}" for k in a if k.startswith("on")]
        if tag == "script":
            executable = a.get("type") not in ("application/json",)
            if executable and "src" not in a:
                self.inline.append(str(a))

    def handle_data(self, data: str) -> None:
        if "javascript:" in data.lower():
            self.handlers.append(data[:60])


async def test_pages_have_no_inline_script_or_handlers(running: Running) -> None:
    cid = running.conference
    pages = [f"/c/{cid}/live", f"/c/{cid}/report", "/", "/j/not-a-token"]
    pages += [
        f"/j/{running.token(role, site)}"
        for role, site in [
            ("host", None),
            ("moderator", None),
            ("site", "olsztyn"),
            ("participant", None),
            ("expert", None),
        ]
    ]
    pages.append(f"/c/{cid}/written?t={running.token('moderator')}")
    for path in pages:
        async with running.client.get(path + ("&" if "?" in path else "?") + "lang=en") as resp:
            html = await resp.text()
        parser = _Scripts()
        parser.feed(html)
        assert parser.inline == [], path
        assert parser.handlers == [], path


CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.mark.browser
async def test_pages_work_under_the_policy_in_chromium(running: Running, browser: Any) -> None:
    ctx = await browser.new_context()
    await ctx.add_init_script(CSP_PROBE)
    page = await ctx.new_page()
    for url in (
        f"{running.base_url}/c/{running.conference}/live?lang=en",
        running.link("host") + "?lang=en",
        running.link("moderator") + "?lang=en",
        f"{running.base_url}/c/{running.conference}/report?lang=en",
    ):
        await page.goto(url, wait_until="load")
        if "/report" not in url:  # pages with a connection get connected under the policy
            await page.wait_for_selector('[data-conn][data-state="connected"]', timeout=15_000)
        assert await page.evaluate("window.__csp") == [], url
    await ctx.close()

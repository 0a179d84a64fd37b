"""``--public-url https://example.org/confsvc/``: every page's URLs carry the prefix, the
WebSocket Origin is checked against the public origin, printed links use the public URL.

confsvc keeps serving at "/" (the proxy strips the prefix, docs/deploy.md says why), so
the test fetches each page and each static file it names at the path without the prefix,
as nginx would forward it.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from confsvc.cli.main import demo_links
from tests.conftest import ROOT, Running

PUBLIC = "https://example.org/confsvc/"
PREFIX = "/confsvc"


class Urls(HTMLParser):
    """Every src/href/action/formaction, the confsvc-base meta and the boot JSON of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.base: str | None = None
        self.boot: dict[str, Any] | None = None
        self._in_boot = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href", "action", "formaction"):
            if a.get(name) is not None:
                self.urls.append((tag, name, str(a[name])))
        if tag == "meta" and a.get("name") == "confsvc-base":
            self.base = a.get("content")
        self._in_boot = tag == "script" and a.get("id") == "boot"

    def handle_data(self, data: str) -> None:
        if self._in_boot:
            self.boot = json.loads(data)
            self._in_boot = False


def parse(html: str) -> Urls:
    p = Urls()
    p.feed(html)
    return p


def strays(urls: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """URLs that would miss the prefix: absolute paths without it, other origins."""
    bad = []
    for tag, attr, value in urls:
        if value.startswith(("?", "#")):  # same page (language switch, anchors)
            continue
        if value.startswith(PUBLIC) or value.startswith(PREFIX + "/"):
            continue
        bad.append((tag, attr, value))
    return bad


async def _pages(r: Running) -> dict[str, str]:
    hub = await r.hub()
    agenda = hub.state.require_agenda()
    expert = agenda.experts[0].id
    mod = r.token("moderator")
    host = r.token("host")
    paths = {
        "index": "/",
        "host": f"/j/{host}",
        "moderator": f"/j/{mod}",
        "site": f"/j/{r.token('site', agenda.sites[0].id)}",
        "expert": f"/j/{r.token('expert', expert=expert)}",
        "participant": f"/j/{r.token('participant')}",
        "live": f"/c/{r.conference}/live",
        "written": f"/c/{r.conference}/written?t={mod}",
        "report": f"/j/{host}/report",
        "public report": f"/c/{r.conference}/report",
        "bad link": "/j/not-a-token",
    }
    return paths


async def test_every_url_in_every_page_carries_the_prefix(confsvc_app: Any) -> None:
    r = await confsvc_app(public_url=PUBLIC)
    seen_static: set[str] = set()
    for name, path in (await _pages(r)).items():
        resp = await r.client.get(path)
        html = await resp.text()
        assert resp.status == (403 if name == "bad link" else 200), (name, resp.status)
        page = parse(html)
        assert strays(page.urls) == [], name
        if name not in ("report", "public report"):  # report.html is a standalone document
            assert page.base == PREFIX, name
        if page.boot is not None:
            assert page.boot["base"] == PREFIX, name
            assert page.boot["ws"] == f"{PREFIX}/c/{r.conference}/ws", name
        for _tag, _attr, value in page.urls:
            if value.startswith(PREFIX + "/static/"):
                seen_static.add(value)
    # What the proxy forwards (prefix stripped) exists: every stylesheet and script.
    assert any(s.endswith(".js") for s in seen_static)
    for value in sorted(seen_static):
        resp = await r.client.get(value[len(PREFIX) :])
        assert resp.status == 200, value


async def test_without_a_public_url_pages_use_root_paths(running: Running) -> None:
    resp = await running.client.get(f"/c/{running.conference}/live")
    page = parse(await resp.text())
    assert page.base == ""
    assert page.boot is not None and page.boot["ws"] == f"/c/{running.conference}/ws"
    assert ("link", "href", "/static/css/confsvc.css") in page.urls


JS_DIR = ROOT / "web" / "static" / "js"
# A string or template literal that starts with one of our absolute paths.
ABSOLUTE = re.compile(r"""(?<![\w.])(url\()?[`'"](/(?:c|j|static|api)/)""")


@pytest.mark.parametrize("path", sorted(JS_DIR.glob("*.js")), ids=lambda p: p.name)
def test_scripts_build_every_path_through_url(path: Path) -> None:
    """A script that writes ``"/c/…"`` without ``url()`` breaks under a prefix."""
    bare = [
        (n, line.strip())
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for m in ABSOLUTE.finditer(line)
        if m.group(1) is None
    ]
    assert bare == []


async def test_websocket_origin_is_the_public_urls_not_the_host_header(
    confsvc_app: Any,
) -> None:
    r = await confsvc_app(public_url=PUBLIC)
    path = f"/c/{r.conference}/ws"
    # nginx's default proxy_set_header Host $proxy_host: Host is the upstream, 127.0.0.1:N.
    sock = await r.client.ws_connect(path, headers={"Origin": "https://example.org"})
    await sock.send_json({"type": "hello"})
    assert (await sock.receive_json(timeout=10))["type"] == "welcome"
    await sock.close()
    host_origin = f"http://{r.client.host}:{r.client.port}"
    for origin in (host_origin, "https://evil.example", "http://example.org"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await r.client.ws_connect(path, headers={"Origin": origin})
        assert exc.value.status == 403, origin


async def test_allow_origin_adds_to_the_public_origin(confsvc_app: Any) -> None:
    r = await confsvc_app(public_url=PUBLIC, allowed_origins=["https://other.example:8443"])
    path = f"/c/{r.conference}/ws"
    for origin in ("https://example.org:443", "https://OTHER.example:8443"):
        sock = await r.client.ws_connect(path, headers={"Origin": origin})
        await sock.close()


async def test_without_a_public_url_the_origin_must_match_host(running: Running) -> None:
    path = f"/c/{running.conference}/ws"
    own = f"http://{running.client.host}:{running.client.port}"
    sock = await running.client.ws_connect(path, headers={"Origin": own})
    await sock.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await running.client.ws_connect(path, headers={"Origin": "https://example.org"})
    assert exc.value.status == 403


async def test_printed_demo_links_use_the_public_url(confsvc_app: Any) -> None:
    r = await confsvc_app(public_url=PUBLIC)
    links = await demo_links(r.app, r.config)
    assert [url for _role, url in links if not url.startswith(PUBLIC)] == []
    assert dict(links)["public"] == f"{PUBLIC}c/{r.conference}/live"


async def test_invite_created_on_the_host_console_carries_the_public_url(
    confsvc_app: Any,
) -> None:
    r = await confsvc_app(public_url=PUBLIC)
    host = await r.ws("host")
    await host.sock.send_json({"type": "invite.create", "id": "x", "role": "participant"})
    msg = await host.expect("invite")
    token = msg["path"].rsplit("/", 1)[1]
    assert msg["path"] == f"{PREFIX}/j/{token}"
    assert msg["url"] == f"{PUBLIC}j/{token}"
    await host.close()


def test_a_bot_follows_an_invite_link_under_a_prefix() -> None:
    from confsvc.media.bot import parse_link

    token = "eyJjIjoiY29uZiIsInIiOiJwYXJ0aWNpcGFudCJ9.sig"  # {"c":"conf","r":"participant"}
    link = parse_link(f"{PUBLIC}j/{token}")
    assert (link.base, link.token, link.conference) == (
        "https://example.org/confsvc",
        token,
        "conf",
    )
    assert link.ws_url == "wss://example.org/confsvc/c/conf/ws"


@pytest.mark.parametrize(
    "text",
    ["example.org/confsvc/", "ftp://example.org/", "https://example.org/?x=1", "https://u:p@h/"],
)
def test_public_url_flag_refuses_what_a_browser_cannot_open(text: str, capsys: Any) -> None:
    from confsvc.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--agenda", "a.yaml", "--public-url", text])
    assert "argument --public-url:" in capsys.readouterr().err

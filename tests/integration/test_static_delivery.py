"""Static files, the favicon and compression: what a browser gets and keeps."""

from __future__ import annotations

import gzip

from tests.conftest import Running

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


async def test_favicon_is_served_at_the_root_and_kept_a_day(running: Running) -> None:
    resp = await running.client.get("/favicon.ico")
    assert resp.status == 200
    body = await resp.read()
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert resp.headers["Cache-Control"] == "public, max-age=86400"
    svg = await running.client.get("/static/favicon.svg")
    assert svg.status == 200
    assert svg.content_type == "image/svg+xml"


async def test_pages_link_the_favicon_under_the_base(running: Running) -> None:
    html = await (
        await running.client.get(running.link("host").removeprefix(running.base_url))
    ).text()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


async def test_static_text_is_gzipped_and_revalidated(running: Running) -> None:
    resp = await running.client.get("/static/css/confsvc.css", headers=GZIP, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert resp.headers["Cache-Control"] == "no-cache"
    text = gzip.decompress(await resp.read()).decode()
    assert ".table-scroll" in text
    again = await running.client.get(
        "/static/css/confsvc.css",
        headers={**GZIP, "If-None-Match": resp.headers["ETag"]},
        auto_decompress=False,
    )
    assert again.status == 304
    assert await again.read() == b""  # not even an empty gzip stream
    assert "Content-Encoding" not in again.headers


async def test_no_gzip_for_a_client_that_does_not_take_it(running: Running) -> None:
    resp = await running.client.get(
        "/static/js/conn.js", headers={"Accept-Encoding": "identity"}, auto_decompress=False
    )
    assert resp.status == 200
    assert "Content-Encoding" not in resp.headers
    assert "export" in await resp.text()


async def test_pages_and_json_are_gzipped_images_are_not(running: Running) -> None:
    page = await running.client.get(
        f"/c/{running.conference}/live", headers=GZIP, auto_decompress=False
    )
    assert page.status == 200
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Content-Security-Policy" in page.headers  # the security headers still there
    assert b"<!doctype html>" in gzip.decompress(await page.read())
    api = await running.client.get("/api/v1/openapi.json", headers=GZIP, auto_decompress=False)
    assert api.headers["Content-Encoding"] == "gzip"
    ico = await running.client.get("/favicon.ico", headers=GZIP, auto_decompress=False)
    assert "Content-Encoding" not in ico.headers

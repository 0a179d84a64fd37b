"""Each page's weight as a browser fetches it: bytes on the wire (gzip) and unpacked.

    .venv/bin/python bench/pages.py

confsvc on the sample agenda (SQLite in a temporary directory, 127.0.0.1, a free port),
the run of show started and two questions asked; each page (host, moderator, site,
expert, participant, live, written answers, organiser report) opened in English in
``/usr/bin/chromium`` at 1366x768 in a fresh context (an empty cache). ``wire`` sums
``encodedBodySize`` of the document and every resource it loaded (compressed bytes,
headers left out), ``unpacked`` sums ``decodedBodySize``. The last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, web

from confsvc.config import Config
from confsvc.core.roles import Role, issue_invite
from confsvc.http.app import create_app
from confsvc.resources import sample_agenda

SECRET = b"bench-secret-bench-secret-bench-secret-0123"
CHROMIUM = "/usr/bin/chromium"
WEIGHT = """() => {
  const all = [performance.getEntriesByType("navigation")[0], ...performance.getEntriesByType("resource")];
  return {wire: all.reduce((n, e) => n + (e.encodedBodySize || 0), 0),
          unpacked: all.reduce((n, e) => n + (e.decodedBodySize || 0), 0), files: all.length};
}"""


async def _command(ws: Any, n: int, name: str, **args: Any) -> None:
    await ws.send_json({"type": "command", "id": n, "name": name, "args": args})
    for _ in range(50):
        msg = await ws.receive_json(timeout=10)
        if msg.get("id") == n:
            assert msg["type"] == "ack", msg
            return
    raise RuntimeError(f"no answer to {name}")


async def main() -> dict[str, Any]:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        agenda = Path(sample_agenda())
        cfg = Config(db=str(Path(tmp) / "c.db"), agendas=[agenda], secret_file=Path(tmp) / "s")
        runner = web.AppRunner(create_app(cfg, secret=SECRET))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        cid = "weifang-olsztyn-2020"

        def token(role: str, **kw: Any) -> str:
            return issue_invite(SECRET, conference=cid, role=Role(role), now=time.time(), **kw)[1]

        async with ClientSession() as http:
            for role, n, name, args in [
                ("host", 1, "ros.start", {}),
                ("participant", 1, "q.ask", {"text": "Czy szpitale mają maseczki?"}),
                ("participant", 1, "q.ask", {"text": "如何追踪密切接触者？"}),
            ]:
                ws = await http.ws_connect(f"{base}/c/{cid}/ws")
                await ws.send_json({"type": "hello", "token": token(role)})
                await ws.receive_json(timeout=10)
                await _command(ws, n, name, **args)
                await ws.close()
        mod = token("moderator")
        pages = {
            "host": f"/j/{token('host')}",
            "moderator": f"/j/{mod}",
            "site": f"/j/{token('site', site='olsztyn')}",
            "expert": f"/j/{token('expert', expert='weifang-health-epidemiology')}",
            "participant": f"/j/{token('participant')}",
            "live": f"/c/{cid}/live",
            "written": f"/c/{cid}/written?t={mod}",
            "report": f"/j/{mod}/report",
        }
        out: dict[str, Any] = {}
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
                )
                for name, path in pages.items():
                    ctx = await browser.new_context(viewport={"width": 1366, "height": 768})
                    page = await ctx.new_page()
                    await page.goto(base + path + ("&" if "?" in path else "?") + "lang=en")
                    await page.wait_for_load_state("load")
                    out[name] = await page.evaluate(WEIGHT)
                    await ctx.close()
                await browser.close()
        finally:
            await runner.cleanup()
    return out


if __name__ == "__main__":
    weights = asyncio.run(main())
    for name, w in weights.items():
        print(f"{name:12} wire {w['wire']:>8} B  unpacked {w['unpacked']:>8} B  files {w['files']}")
    flat = {f"{k}_{m}": v[m] for k, v in weights.items() for m in ("wire", "unpacked")}
    print(json.dumps({"bench": "pages", **flat}))

"""Sticky routing with Debian's nginx: the ``hash $confsvc_conference consistent``
upstream of docs/deploy.md ("Several nodes"), taken from the doc itself, in front of two
``confsvc serve`` nodes sharing a store.

Every request of a conference (``/c/<conference>/…``) reaches one node; other requests
spread over both; when the conference's node is killed, nginx sends its requests to the
other node, which serves them.
"""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SECRET
from tests.e2e.test_proxy_nginx import NGINX, main_conf, stop, wait_for_port
from tests.integration.nodes import CONFERENCE, Node, free_port

DOC = ROOT / "docs" / "deploy.md"


def documented_upstream(ports: list[int]) -> str:
    """The nginx block of docs/deploy.md's "Several nodes", with our nodes' ports."""
    section = DOC.read_text(encoding="utf-8").split("## Several nodes", 1)[1]
    block = re.search(r"```nginx\n(.*?)```", section, re.S)
    assert block is not None, "docs/deploy.md lost its nginx block"
    servers = iter(ports)
    text = re.sub(
        r"server 10\.0\.0\.\d+:8080", lambda _m: f"server 127.0.0.1:{next(servers)}", block[1]
    )
    assert next(servers, None) is None, "the doc's upstream should list two servers"
    return text


def site_conf(port: int, ports: list[int]) -> str:
    return (
        documented_upstream(ports)
        + f"""
server {{
    listen 127.0.0.1:{port};
    location /confsvc/ {{
        proxy_pass http://confsvc/;
        proxy_http_version 1.1;
        add_header X-Confsvc-Upstream $upstream_addr always;
    }}
}}
"""
    )


@pytest.fixture
def sticky(tmp_path: Path) -> Iterator[tuple[str, list[Node]]]:
    if not Path(NGINX).exists():
        pytest.skip(f"{NGINX} is not installed (apt-get install nginx)")
    nodes = [Node(tmp_path, name, db=str(tmp_path / "confsvc.db"), secret=SECRET) for name in "ab"]
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(site_conf(port, [n.port for n in nodes]))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_conf(tmp_path, site))
    nginx = None
    try:
        for node in nodes:
            node.start()
        nginx = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, nginx, "nginx")
        yield f"http://127.0.0.1:{port}/confsvc", nodes
    finally:
        if nginx is not None:
            stop(nginx, signal.SIGQUIT)
        for node in nodes:
            node.kill()


def upstream(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=20) as resp:
        return resp.status, resp.headers.get("X-Confsvc-Upstream", "")


@pytest.mark.timeout(600)  # two node processes start on a machine shared by several runs
def test_a_conference_sticks_to_one_node_and_moves_when_it_dies(
    sticky: tuple[str, list[Node]],
) -> None:
    base, nodes = sticky
    live = f"{base}/c/{CONFERENCE}/live"
    seen = {upstream(live) for _ in range(12)}
    assert len(seen) == 1
    ((status, chosen),) = seen
    assert status == 200
    others = {upstream(f"{base}/healthz")[1] for _ in range(24)}
    assert len(others) == 2  # what names no conference spreads over both nodes

    dying = next(n for n in nodes if chosen.endswith(f":{n.port}"))
    survivor = next(n for n in nodes if n is not dying)
    dying.kill()
    after = [upstream(live) for _ in range(6)]
    # The first tries the dead node, then the survivor ($upstream_addr lists both); the
    # dead node is then marked failed (max_fails=1) and the rest go straight on.
    assert [status for status, _ in after] == [200] * 6
    assert all(addr.endswith(f"127.0.0.1:{survivor.port}") for _, addr in after)
    assert after[-1][1] == f"127.0.0.1:{survivor.port}"

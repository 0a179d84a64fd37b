"""Browser through Debian's nginx with TLS, under a path prefix: the shipped site file
(deploy/nginx/confsvc.conf) in front of ``confsvc demo --bots --public-url
https://127.0.0.1:<port>/confsvc/``. Chromium opens the participant page over https: its
WebSocket connects through the proxy (Origin checked against the public URL, Host is
nginx's upstream), video from the site bots decodes, and the public live page's event
stream shows an update the host makes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ROOT, artifact
from tests.e2e.media import frames, until

pytestmark = pytest.mark.browser

NGINX = "/usr/sbin/nginx"
SITE_FILE = ROOT / "deploy" / "nginx" / "confsvc.conf"
SITES = ["warsaw", "olsztyn", "weifang"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN), made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def site_conf(
    backend: int, https: int, http: int, cert: Path, key: Path, broadcast: Path | None = None
) -> str:
    """deploy/nginx/confsvc.conf with its "# test:" lines pointed at this run."""
    replacements = {
        "backend": f"    server 127.0.0.1:{backend};",
        "http": f"    listen 127.0.0.1:{http};",
        "https": f"    listen 127.0.0.1:{https} ssl http2;",
        "cert": f"    ssl_certificate     {cert};",
        "key": f"    ssl_certificate_key {key};",
        "broadcast": f"    set $confsvc_broadcast {broadcast or cert.parent / 'broadcast'};",
    }
    out, done = [], set()
    for line in SITE_FILE.read_text().splitlines():
        marker = line.partition("# test: ")[2].strip()
        if marker:
            assert marker in replacements and marker not in done, f"unexpected marker {marker!r}"
            done.add(marker)
            line = replacements[marker]
        out.append(line)
    assert done == set(replacements), f"site file lost markers {set(replacements) - done}"
    return "\n".join(out) + "\n"


def main_conf(tmp: Path, site: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers run as root only if we are
    return f"""{user}daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
"""


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_for_port(port: int, proc: subprocess.Popen[Any], what: str) -> None:
    for _ in range(200):  # 20 s at most
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} is not listening on {port}")


class Demo:
    """``confsvc demo --bots`` under the public URL; its printed links by role."""

    def __init__(self, tmp: Path, port: int, public: str) -> None:
        self.links: dict[str, str] = {}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "confsvc",
                "demo",
                "--bots",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--db",
                str(tmp / "confsvc.db"),
                "--public-url",
                public,
                "--trusted-proxy",
                "127.0.0.1",
            ],
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=(tmp / "confsvc.log").open("w"),
            text=True,
        )
        assert self.proc.stdout is not None
        for _ in range(100):
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(
                    f"confsvc demo ended: {(tmp / 'confsvc.log').read_text()[-2000:]}"
                )
            if line.startswith("Open the links"):
                break
            role, _, url = line.strip().partition("  ")
            if url.strip().startswith("http"):
                self.links[role] = url.strip()
        else:
            raise AssertionError("confsvc demo printed no links")


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[str, Demo, Path]]:
    if not Path(NGINX).exists():
        pytest.skip(f"{NGINX} is not installed (apt-get install nginx)")
    backend, https, http = free_port(), free_port(), free_port()
    public = f"https://127.0.0.1:{https}/confsvc/"
    cert, key = self_signed(tmp_path)
    site = tmp_path / "confsvc.conf"
    site.write_text(site_conf(backend, https, http, cert, key))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_conf(tmp_path, site))
    demo = Demo(tmp_path, backend, public)
    nginx = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "nginx.stderr").open("w"),
    )
    try:
        wait_for_port(https, nginx, "nginx")
        yield public, demo, tmp_path
    finally:
        stop(nginx, signal.SIGQUIT)  # graceful: workers finish, master removes its pid file
        stop(demo.proc)
        for name in ("error.log", "access.log", "confsvc.log"):
            if (tmp_path / name).exists():
                shutil.copy(tmp_path / name, artifact(f"proxy-nginx-{name}"))


async def test_participant_page_through_nginx_with_tls_under_a_prefix(
    proxied: tuple[str, Demo, Path], browser: Any
) -> None:
    public, demo, tmp = proxied
    links = demo.links
    assert [u for u in links.values() if not u.startswith(public)] == []
    ctx = await browser.new_context(ignore_https_errors=True)
    page = await ctx.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    await page.goto(links["participant"] + "?lang=en")
    await page.wait_for_function("() => window.confsvc.media.state === 'connected'", timeout=20_000)
    stats = await until(
        page, lambda s: all(frames(s, x) > 5 for x in SITES), "decoded video from every site"
    )
    assert all(frames(stats, x) > 5 for x in SITES)
    conference = links["public"].rstrip("/").split("/")[-2]
    assert set(sockets) == {"wss" + public[len("https") :] + f"c/{conference}/ws"}

    # The public live page: its event stream comes through nginx unbuffered.
    live = await ctx.new_page()
    await live.goto(links["public"] + "?lang=en")
    await live.wait_for_function(
        "() => document.querySelector('[data-conn]').dataset.state === 'connected'"
    )
    assert await live.get_attribute("[data-ros-status]", "data-status") == "planned"
    await host_command(public, links["host"], conference, "ros.start")
    await live.wait_for_function(
        "() => document.querySelector('[data-ros-status]').dataset.status === 'running'"
    )
    await live.screenshot(path=str(artifact("proxy-nginx-live.png")), full_page=True)
    await page.screenshot(path=str(artifact("proxy-nginx-participant.png")), full_page=True)
    await ctx.close()
    # nginx logged the requests it proxied; it wrote its pid file where we told it.
    assert (tmp / "nginx.pid").exists()
    assert "/confsvc/c/" in (tmp / "access.log").read_text()


async def host_command(public: str, host_link: str, conference: str, name: str) -> None:
    """The host's command over the proxied WebSocket, sent with the page's Origin."""
    token = host_link.rsplit("/j/", 1)[1]
    origin = public.split("/confsvc/")[0]
    ws_url = "wss" + public[len("https") :] + f"c/{conference}/ws"
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, ssl=insecure, headers={"Origin": origin}) as ws:
            await ws.send_json({"type": "hello", "token": token})
            for _ in range(20):
                msg = await ws.receive_json(timeout=10)
                if msg["type"] == "welcome":
                    break
            await ws.send_json({"type": "command", "id": 1, "name": name, "args": {}})
            for _ in range(50):
                msg = await asyncio.wait_for(ws.receive_json(), 10)
                if msg.get("id") == 1:
                    assert msg["type"] == "ack", msg
                    return
    raise AssertionError(f"no ack for {name}")

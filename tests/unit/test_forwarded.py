"""X-Forwarded-For / -Proto count only from --trusted-proxy peers; the access log names the client."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from confsvc.cli.main import build_parser, config_from
from confsvc.config import Config
from confsvc.http.accesslog import RedactingAccessLogger
from confsvc.http.app import create_app
from confsvc.http.forwarded import client_address, forwarded_middleware, parse_networks

SECRET = b"forwarded-test-secret-0123456789abcdef"


def test_parse_networks_takes_addresses_and_cidr() -> None:
    nets = parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert [str(n) for n in nets] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]


def test_parse_networks_names_the_bad_entry() -> None:
    with pytest.raises(ValueError) as exc:
        parse_networks(["10.0.0.0/8", "proxy.example"])
    assert str(exc.value) == (
        "not an IP address or CIDR network: 'proxy.example' (e.g. 127.0.0.1 or 10.0.0.0/8)"
    )


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        # Untrusted peer: its claim is ignored.
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # Trusted peer, one hop.
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        # Two proxies of ours: the right-most address that is not ours.
        ("10.0.0.2", "198.51.100.1, 10.0.0.7", "198.51.100.1"),
        # A client that forges a left-most entry does not get to choose its address.
        ("10.0.0.2", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        # Garbage in the chain: stop believing it, keep the peer.
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        # IPv4-mapped peer address counts as the IPv4 one.
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),
        # No header from a trusted proxy: the proxy itself.
        ("10.0.0.2", None, "10.0.0.2"),
    ],
)
def test_client_address(peer: str, header: str | None, expected: str) -> None:
    assert client_address(peer, header, parse_networks(["10.0.0.0/8"])) == expected


def _echo_app(trusted: list[str]) -> web.Application:
    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"remote": request.remote, "scheme": request.scheme})

    app = web.Application(middlewares=[forwarded_middleware(parse_networks(trusted))])
    app.router.add_get("/whoami", whoami)
    return app


HEADERS = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}


async def test_headers_from_a_trusted_proxy_set_remote_and_scheme(aiohttp_client: Any) -> None:
    client = await aiohttp_client(_echo_app(["127.0.0.1"]), server_kwargs={"host": "127.0.0.1"})
    resp = await client.get("/whoami", headers=HEADERS)
    assert await resp.json() == {"remote": "198.51.100.7", "scheme": "https"}


async def test_headers_from_an_untrusted_peer_are_ignored(aiohttp_client: Any) -> None:
    client = await aiohttp_client(_echo_app(["10.0.0.0/8"]), server_kwargs={"host": "127.0.0.1"})
    resp = await client.get("/whoami", headers=HEADERS)
    assert await resp.json() == {"remote": "127.0.0.1", "scheme": "http"}


async def test_no_trusted_proxy_means_headers_are_ignored(aiohttp_client: Any) -> None:
    client = await aiohttp_client(_echo_app([]), server_kwargs={"host": "127.0.0.1"})
    resp = await client.get("/whoami", headers=HEADERS)
    assert await resp.json() == {"remote": "127.0.0.1", "scheme": "http"}


@pytest.mark.parametrize(
    ("trusted", "logged"), [(["127.0.0.0/8"], "198.51.100.7"), (["10.0.0.0/8"], "127.0.0.1")]
)
async def test_access_log_shows_the_client_behind_a_trusted_proxy_only(
    tmp_path: Any, caplog: Any, trusted: list[str], logged: str
) -> None:
    cfg = Config(db=str(tmp_path / "c.db"), secret_file=tmp_path / "s", trusted_proxies=trusted)
    # The runner as run_server builds it: aiohttp hands the access log its own request.
    runner = web.AppRunner(
        create_app(cfg, secret=SECRET),
        access_log_class=RedactingAccessLogger,
        access_log_format='%a "%r" %s',
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/j/secret-token"
                async with session.get(url, headers=HEADERS) as resp:
                    status = resp.status
                    await resp.read()
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert lines == [f'{logged} "GET /j/*** HTTP/1.1" {status}']


def test_trusted_proxy_flag_repeats_and_reaches_the_config() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--agenda",
            "a.yaml",
            "--trusted-proxy",
            "127.0.0.1",
            "--trusted-proxy",
            "10.0.0.0/8",
        ]
    )
    assert config_from(args, []).trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]


def test_trusted_proxy_flag_refuses_a_host_name(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--agenda", "a.yaml", "--trusted-proxy", "nginx"])
    assert "argument --trusted-proxy: not an IP address or CIDR network: 'nginx'" in (
        capsys.readouterr().err
    )

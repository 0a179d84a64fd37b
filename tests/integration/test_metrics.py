"""/metrics: Prometheus text with every family, figures that move with what happens,
a registry per app, and the metrics port."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from confsvc.mail.setup import MAIL
from confsvc.metrics import METRICS
from tests.conftest import Running
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401

FAMILIES = {
    "confsvc_ws_connections": "gauge",
    "confsvc_sse_readers": "gauge",
    "confsvc_bus_losses": "counter",
    "confsvc_bus_reconnects": "counter",
    "confsvc_bus_store_reads": "counter",
    "confsvc_commands": "counter",
    "confsvc_store_append_seconds": "histogram",
    "confsvc_mail_outbox_rows": "gauge",
    "confsvc_mail_outbox_depth": "gauge",
    "confsvc_mail_sent": "counter",
    "confsvc_mail_failed": "counter",
    "confsvc_mail_deferred": "counter",
    "confsvc_mail_bounced": "counter",
    "confsvc_mail_inbound": "counter",
    "confsvc_relay_peers": "gauge",
    "confsvc_media_viewers": "gauge",
    "confsvc_media_forwarded_packets": "counter",
    "confsvc_media_forwarded_bytes": "counter",
    "confsvc_media_rtx": "counter",
    "confsvc_media_nack_missed": "counter",
    "confsvc_media_pli": "counter",
    "confsvc_media_stalls": "counter",
    "confsvc_media_send_refused": "counter",
    "confsvc_event_loop_lag_seconds": "gauge",
    "confsvc_python_allocated_blocks": "gauge",
    "confsvc_malloc_bytes": "gauge",  # glibc (this machine's libc)
    "confsvc_malloc_trims": "counter",
    "confsvc_malloc_trimmed_bytes": "counter",
}


class Scrape:
    """One parsed scrape: ``value(sample_name, **labels)``."""

    def __init__(self, text: str) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, sample: str, /, **labels: str) -> float | None:
        return self.samples.get((sample, frozenset(labels.items())))


async def scrape(client: Any, path: str = "/metrics") -> Scrape:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain")
    return Scrape(await resp.text())


async def test_every_family_is_there_with_its_type(running: Running) -> None:
    got = await scrape(running.client)
    assert {name: got.types.get(name) for name in FAMILIES} == FAMILIES
    assert got.value("confsvc_mail_outbox_rows", status="queued") == 0
    assert got.value("confsvc_mail_inbound_total", outcome="answer") == 0


async def test_memory_figures_follow_what_is_allocated(running: Running) -> None:
    before = await scrape(running.client)
    blocks = before.value("confsvc_python_allocated_blocks") or 0
    in_use = before.value("confsvc_malloc_bytes", kind="in_use") or 0
    assert blocks > 0 and in_use > 0
    assert (before.value("confsvc_malloc_bytes", kind="free") or 0) >= 0
    held = [[i] for i in range(200_000)]  # 200,000 lists and ints: Python blocks
    big = bytearray(64 * 1024 * 1024)  # 64 MiB from C malloc (an mmap of its own)
    after = await scrape(running.client)
    assert (after.value("confsvc_python_allocated_blocks") or 0) > blocks + 150_000
    assert (after.value("confsvc_malloc_bytes", kind="in_use") or 0) > in_use + 60 * 2**20
    assert (after.value("confsvc_malloc_bytes", kind="mmap") or 0) >= 64 * 2**20
    del held, big


async def test_commands_and_connections_move_the_figures(running: Running) -> None:
    before = await scrape(running.client)
    assert (
        before.value("confsvc_ws_connections", conference=running.conference, role="host") is None
    )
    appends = before.value("confsvc_store_append_seconds_count") or 0
    host = await running.ws("host")
    public = await running.ws(None)
    assert (await host.command("ros.start"))["type"] == "ack"
    assert (await public.command("ros.next"))["code"] == "forbidden"
    assert (await host.command("no.such.command"))["type"] == "error"
    after = await scrape(running.client)
    c = running.conference
    assert after.value("confsvc_ws_connections", conference=c, role="host") == 1
    assert after.value("confsvc_ws_connections", conference=c, role="public") == 1
    assert after.value("confsvc_commands_total", name="ros.start", result="ok") == 1
    assert after.value("confsvc_commands_total", name="ros.next", result="forbidden") == 1
    assert after.value("confsvc_commands_total", name="unknown", result="bad_request") == 1
    assert (after.value("confsvc_store_append_seconds_count") or 0) == appends + 1
    await public.close()
    await until(lambda: _public_gone(running), "the public socket to leave the hub")
    last = await scrape(running.client)
    assert last.value("confsvc_ws_connections", conference=c, role="public") is None
    assert last.value("confsvc_ws_connections", conference=c, role="host") == 1
    await host.close()


def _public_gone(running: Running) -> bool:
    from confsvc.http.keys import HUBS

    hub = running.app[HUBS].loaded()[0]
    return all(
        getattr(getattr(c, "principal", None), "invite", None) != "public" for c in hub.listeners
    )


async def test_sse_readers_are_counted_per_conference(running: Running) -> None:
    resp = await running.client.get(f"/c/{running.conference}/live/events")
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")  # retry: and the welcome
    got = await scrape(running.client)
    assert got.value("confsvc_sse_readers", conference=running.conference) == 1
    resp.close()


async def test_inbound_mail_is_counted_by_outcome(running: Running) -> None:
    await running.hub()  # the conference is loaded, so the mail has somewhere to go
    raw = (
        b"From: someone@example.org\r\nTo: nobody@confsvc.localhost\r\n"
        b"Subject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nno question here\r\n"
    )
    outcome = await running.app[MAIL].ingest.receive(raw)
    assert outcome.status == "quarantine"
    again = await running.app[MAIL].ingest.receive(raw)
    assert again.status == "duplicate"
    got = await scrape(running.client)
    assert got.value("confsvc_mail_inbound_total", outcome="quarantine") == 1
    assert got.value("confsvc_mail_inbound_total", outcome="duplicate") == 1


async def test_two_apps_in_one_process_count_apart(confsvc_app: Any, tmp_path: Any) -> None:
    a: Running = await confsvc_app()
    b: Running = await confsvc_app(db=str(tmp_path / "other.db"))
    assert a.app[METRICS].registry is not b.app[METRICS].registry
    host = await a.ws("host")
    await host.command("ros.start")
    got_a, got_b = await scrape(a.client), await scrape(b.client)
    assert got_a.value("confsvc_commands_total", name="ros.start", result="ok") == 1
    assert got_b.value("confsvc_commands_total", name="ros.start", result="ok") is None
    await host.close()


async def test_with_a_metrics_port_metrics_are_served_only_there(confsvc_app: Any) -> None:
    running: Running = await confsvc_app(metrics_port=0)
    assert (await running.client.get("/metrics")).status == 404
    port = running.app[METRICS].port
    assert port is not None and port != running.client.port
    host = await running.ws("host")
    await host.command("ros.start")
    async with aiohttp.ClientSession() as session:
        got = await scrape(session, f"http://127.0.0.1:{port}/metrics")
    assert got.value("confsvc_commands_total", name="ros.start", result="ok") == 1
    assert got.value("confsvc_ws_connections", conference=running.conference, role="host") == 1
    await host.close()


async def test_media_figures_move_and_never_go_back_when_a_viewer_leaves(
    running: Running,
) -> None:
    from confsvc.media.bot import SiteBot, ViewerBot, parse_link

    loop = ["127.0.0.1"]
    site = SiteBot(parse_link(running.link("site", "warsaw")), ice_addresses=loop)
    await site.start()
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=loop)
    try:
        await viewer.start()
        await until(lambda: viewer.counts["warsaw"].video_frames >= 30, "30 frames from warsaw")
        live = await scrape(running.client)
        assert live.value("confsvc_relay_peers") == 2
        assert live.value("confsvc_media_viewers", conference=running.conference) == 1
        packets = live.value("confsvc_media_forwarded_packets_total") or 0
        octets = live.value("confsvc_media_forwarded_bytes_total") or 0
        assert packets >= 30
        assert octets > packets  # a packet carries more than one payload byte
        assert (live.value("confsvc_media_pli_total") or 0) >= 1
    finally:
        await viewer.close()
    from confsvc.media.setup import RELAY

    relay = running.app[RELAY]
    await until(lambda: len(relay.peers) == 1, "the viewer's peer to close")
    gone = await scrape(running.client)
    assert gone.value("confsvc_relay_peers") == 1
    assert (gone.value("confsvc_media_forwarded_packets_total") or 0) >= packets
    assert (gone.value("confsvc_media_forwarded_bytes_total") or 0) >= octets
    await site.close()

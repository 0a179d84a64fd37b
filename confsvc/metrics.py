"""Prometheus metrics of one app (``/metrics``; docs/operations.md lists every family).

Most figures are read at scrape time from the objects that already count (``Collector``):
the hubs' WebSocket listeners, the SSE readers, the media relay's ``totals()``, the mail
service's and inbound mail's counters. What no object keeps is counted here, through
the hubs' observers (``confsvc.service.HubObserver``): commands by name and result, and
how long each store append took. The outbox depth needs a query, so it is refreshed
just before each scrape (bounded by ``OUTBOX_TIMEOUT_S``). An event-loop lag probe
runs with the app.

Each app has its own ``CollectorRegistry``, never prometheus-client's global one: tests
build several apps in one process. ``confsvc.core`` knows nothing of any of this.

With ``metrics_port`` set, ``/metrics`` is served only on that port (same host), from a
small app of its own, and the main port has no ``/metrics`` route.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections import Counter as Tally
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from confsvc.aio import cancel_and_wait
from confsvc.core.registry import RULES
from confsvc.http.features import CONFIG, HUBS
from confsvc.memtrim import libc_function

log = logging.getLogger(__name__)

LAG_PROBE_S = 0.5  # how often the event-loop lag is sampled
OUTBOX_TIMEOUT_S = 2.0
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed")
INBOUND_OUTCOMES = ("answer", "quarantine", "duplicate", "nowhere")
# Store appends: SQLite with synchronous=FULL commits in about a millisecond here,
# PostgreSQL in a few; the upper buckets catch a disk or network in trouble.
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The app's registry and the instruments that are incremented as things happen."""

    def __init__(self, app: web.Application) -> None:
        self.registry = CollectorRegistry()
        self.port: int | None = None  # the metrics port once it listens
        self._known = frozenset(RULES.commands)
        r = self.registry
        self.commands = Counter(
            "confsvc_commands",
            "Commands run, by name and result (ok, or the error code)",
            ["name", "result"],
            registry=r,
        )
        self.append_seconds = Histogram(
            "confsvc_store_append_seconds",
            "Time to append events to the store (durable when it returns)",
            buckets=APPEND_BUCKETS,
            registry=r,
        )
        self.loop_lag = Gauge(
            "confsvc_event_loop_lag_seconds",
            f"How late the event loop ran a timer, sampled every {LAG_PROBE_S:g} s",
            registry=r,
        )
        self.outbox = Gauge(
            "confsvc_mail_outbox_rows", "Outbox rows by status", ["status"], registry=r
        )
        self.outbox_depth = Gauge(
            "confsvc_mail_outbox_depth", "Mails waiting to be sent (queued or sending)", registry=r
        )
        r.register(AppCollector(app))

    # -- confsvc.service.HubObserver -------------------------------------------

    def command(self, name: str, result: str) -> None:
        # Names come from clients: unknown ones share one label value.
        self.commands.labels(name if name in self._known else "unknown", result).inc()

    def appended(self, seconds: float) -> None:
        self.append_seconds.observe(seconds)

    # -- scraping ----------------------------------------------------------------

    async def refresh(self, app: web.Application) -> None:
        """Figures that need a query: the outbox by status."""
        mail = _feature(app, "confsvc.mail.setup", "MAIL")
        if mail is None:
            return
        try:
            counts = await asyncio.wait_for(mail.outbox.counts(), OUTBOX_TIMEOUT_S)
        except Exception as exc:  # a scrape must still answer; the gauges keep their value
            log.warning("metrics: outbox not counted: %s", exc)
            return
        for status in OUTBOX_STATUSES:
            self.outbox.labels(status).set(counts.get(status, 0))
        self.outbox_depth.set(counts.get("queued", 0) + counts.get("sending", 0))

    async def render(self, app: web.Application) -> bytes:
        await self.refresh(app)
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


def _feature(app: web.Application, module: str, key: str) -> Any:
    """A feature's app value, if that feature is installed and set it (never imports it)."""
    mod = sys.modules.get(module)
    if mod is None:
        return None
    return app.get(getattr(mod, key))


class AppCollector(Collector):
    """Figures read from the app's live objects at scrape time."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        app = self.app
        yield from self._connections(app)
        yield from self._bus(app)
        yield from self._media(app)
        yield from self._mail(app)
        yield from _allocator()
        yield from _trims(app)

    def _bus(self, app: web.Application) -> Iterator[Metric]:
        """Redis subscriptions lost and made again (``RedisBus``; 0 on one node)."""
        hubs = app.get(HUBS)
        bus = hubs.bus if hubs is not None else None
        yield CounterMetricFamily(
            "confsvc_bus_losses",
            "Times the bus subscription (Redis) was lost",
            value=getattr(bus, "losses", 0),
        )
        yield CounterMetricFamily(
            "confsvc_bus_reconnects",
            "Times the bus subscribed again after a loss (and caught up from the store)",
            value=getattr(bus, "reconnects", 0),
        )
        yield CounterMetricFamily(
            "confsvc_bus_store_reads",
            "Bus messages folded from a store read instead of the events they carried "
            "(a message missed, an erasure, or one too large to carry its events)",
            value=getattr(hubs, "bus_store_reads", 0),
        )

    def _connections(self, app: web.Application) -> Iterator[Metric]:
        from confsvc.http.features import Connection

        ws = GaugeMetricFamily(
            "confsvc_ws_connections",
            "Open WebSockets by conference and role",
            labels=["conference", "role"],
        )
        sse = GaugeMetricFamily(
            "confsvc_sse_readers",
            "Open event streams of the public live page, by conference",
            labels=["conference"],
        )
        hubs = app.get(HUBS)
        fanout = _feature(app, "confsvc.questions.sse", "FANOUT")
        if hubs is not None:
            for hub in hubs.loaded():
                roles = Tally(
                    c.principal.role.value for c in hub.listeners if isinstance(c, Connection)
                )
                for role, n in sorted(roles.items()):
                    ws.add_metric([hub.id, role], n)
        if fanout is not None:
            readers = Tally(reader.conference for reader in fanout.readers)
            for conference, n in sorted(readers.items()):
                sse.add_metric([conference], n)
        yield ws
        yield sse

    def _media(self, app: web.Application) -> Iterator[Metric]:
        relay = _feature(app, "confsvc.media.setup", "RELAY")
        peers = GaugeMetricFamily("confsvc_relay_peers", "Media connections of this node")
        viewers = GaugeMetricFamily(
            "confsvc_media_viewers",
            "Media connections that only receive, by conference",
            labels=["conference"],
        )
        totals: dict[str, int] = {}
        if relay is not None:
            peers.add_metric([], len(relay.peers))
            for cid, room in sorted(relay.rooms.items()):
                viewers.add_metric([cid], sum(1 for p in room.peers if p.feed is None))
            totals = relay.totals()
        else:
            peers.add_metric([], 0)
        yield peers
        yield viewers
        for name, key, doc in (
            ("confsvc_media_forwarded_packets", "packets", "RTP packets forwarded to viewers"),
            ("confsvc_media_forwarded_bytes", "octets", "RTP payload bytes forwarded to viewers"),
            ("confsvc_media_rtx", "retransmits", "Packets resent as RTX after a NACK"),
            ("confsvc_media_nack_missed", "nacks_missed", "NACKed packets no longer held"),
            ("confsvc_media_pli", "plis", "Keyframe requests (PLI) sent to publishing sites"),
            (
                "confsvc_media_stalls",
                "stalls",
                "Frames not sent to a viewer: its connection could not take them (it resumes "
                "at a keyframe)",
            ),
            (
                "confsvc_media_send_refused",
                "refused",
                "Datagrams to viewers the kernel refused (socket buffer full, or the route gone)",
            ),
        ):
            yield CounterMetricFamily(name, doc, value=totals.get(key, 0))

    def _mail(self, app: web.Application) -> Iterator[Metric]:
        mail = _feature(app, "confsvc.mail.setup", "MAIL")
        results: Tally[str] = mail.results if mail is not None else Tally()
        outcomes: Tally[str] = mail.ingest.outcomes if mail is not None else Tally()
        for status, doc in (
            ("sent", "Mails handed to the SMTP server"),
            ("failed", "Mails refused for good"),
            ("deferred", "Send attempts that will be retried"),
        ):
            yield CounterMetricFamily(f"confsvc_mail_{status}", doc, value=results[status])
        yield CounterMetricFamily(
            "confsvc_mail_bounced",
            "Bounce reports received",
            value=mail.ingest.bounces if mail is not None else 0,
        )
        inbound = CounterMetricFamily(
            "confsvc_mail_inbound", "Inbound mails by outcome", labels=["outcome"]
        )
        for outcome in sorted(set(INBOUND_OUTCOMES) | set(outcomes)):
            inbound.add_metric([outcome], outcomes[outcome])
        yield inbound
        up = GaugeMetricFamily(
            "confsvc_mail_connection_up",
            "1 while the SMTP sender / IMAP poller works, 0 while confsvc's own settings or "
            "the server fail (outbox held, IMAP session down); absent when not run",
            labels=["part"],
        )
        health = mail.health() if mail is not None else {}
        for part, h in sorted(health.items()):
            up.add_metric([part], 0 if h.get("state") in ("held", "down") else 1)
        yield up


class _Mallinfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33+): every field a ``size_t``."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> Any:
    """glibc's ``mallinfo2``, or None (another libc, or glibc before 2.33)."""
    fn = libc_function("mallinfo2")
    if fn is None:
        return None
    fn.restype = _Mallinfo2
    fn.argtypes = []
    return fn


_MALLINFO2 = _mallinfo2()


def _allocator() -> Iterator[Metric]:
    """Where the process's memory is: Python's live blocks, and C malloc's heap in use
    and free-but-kept. A resident size that grows while ``in_use`` does not is memory
    freed but not returned (fragmentation), not a leak (docs/operations.md, "Memory")."""
    yield GaugeMetricFamily(
        "confsvc_python_allocated_blocks",
        "Memory blocks Python has allocated and not freed (sys.getallocatedblocks)",
        value=sys.getallocatedblocks(),
    )
    if _MALLINFO2 is None:
        return
    info = _MALLINFO2()
    heap = GaugeMetricFamily(
        "confsvc_malloc_bytes",
        "C malloc's memory (glibc mallinfo2): in_use (allocated, heap and mmap), "
        "free (freed but kept in the heap), mmap (large blocks mapped one by one)",
        labels=["kind"],
    )
    heap.add_metric(["in_use"], info.uordblks + info.hblkhd)
    heap.add_metric(["free"], info.fordblks)
    heap.add_metric(["mmap"], info.hblkhd)
    yield heap


def _trims(app: web.Application) -> Iterator[Metric]:
    """What ``confsvc.memtrim`` gave back to the OS (absent when that feature is not in)."""
    trimmer = _feature(app, "confsvc.memtrim", "TRIMMER")
    if trimmer is None:
        return
    yield CounterMetricFamily(
        "confsvc_malloc_trims",
        "Times the C heap's free pages were given back (malloc_trim)",
        value=trimmer.trims,
    )
    yield CounterMetricFamily(
        "confsvc_malloc_trimmed_bytes",
        "Resident bytes those trims gave back to the OS",
        value=trimmer.trimmed_bytes,
    )


async def metrics_handler(request: web.Request) -> web.Response:
    app = request.app.get(MAIN_APP, request.app)
    body = await app[METRICS].render(app)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# The metrics port's own small app points at the app whose figures it serves.
MAIN_APP: web.AppKey[web.Application] = web.AppKey("metrics_main_app")


def setup(app: web.Application) -> None:
    metrics = Metrics(app)
    app[METRICS] = metrics
    if app[CONFIG].metrics_port is None:
        app.router.add_get("/metrics", metrics_handler, name="metrics")
    app.cleanup_ctx.append(_metrics_ctx)


async def _metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    hubs = app[HUBS]
    hubs.observers.append(metrics)
    probe = asyncio.create_task(_probe_lag(metrics), name="metrics-loop-lag")
    runner = await _start_port(app)
    try:
        yield
    finally:
        if runner is not None:
            await runner.cleanup()
        await cancel_and_wait(probe)
        if metrics in hubs.observers:
            hubs.observers.remove(metrics)


async def _start_port(app: web.Application) -> web.AppRunner | None:
    cfg = app[CONFIG]
    if cfg.metrics_port is None:
        return None
    side = web.Application()
    side[MAIN_APP] = app
    side.router.add_get("/metrics", metrics_handler)
    runner = web.AppRunner(side, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.metrics_port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    address = runner.addresses[0]
    app[METRICS].port = int(address[1])
    log.info("metrics on %s port %d", cfg.host, app[METRICS].port)
    return runner


async def _probe_lag(metrics: Metrics) -> None:
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_PROBE_S
        await asyncio.sleep(LAG_PROBE_S)
        metrics.loop_lag.set(max(0.0, loop.time() - due))


__all__ = ["METRICS", "Metrics", "setup"]

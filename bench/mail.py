"""Mail throughput: 1,000 queued mails delivered to a local aiosmtpd, and 1,000 replies
received by confsvc's SMTP receiver and matched to their questions.

    python3 bench/mail.py [--n 1000] [--db PATH]

``send_1000_s``: from the sender's start until the sink holds every mail and every
outbox row is ``sent`` (the ``written.mail_sent`` events recorded too). ``receive_1000_s``:
from the first reply until every question is ``answered`` (each reply parsed, matched by
its signed address, checked against the expert, stored raw in the SQLite log with
``synchronous=FULL``). Everything on 127.0.0.1. ``replies_*``: answers extracted exactly
from the reply corpus (tests/fixtures/replies/: the published fixtures of talon and both
email-reply-parsers, and confsvc's own Chinese and Polish cases). The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib

from confsvc.config import Config
from confsvc.core import written as W
from confsvc.core.agenda import parse_agenda
from confsvc.core.events import Command, NewEvent, Principal
from confsvc.core.roles import Role
from confsvc.http.i18n import I18n
from confsvc.mail.addresses import reply_address
from confsvc.mail.outbox import Outbox
from confsvc.mail.service import MailService
from confsvc.service import Hubs
from confsvc.store import open_store
from tests.fixtures.mail.clients import thunderbird_pl
from tests.fixtures.mail.smtp import free_port, start_sink, stop_sink
from tests.fixtures.replies import corpus

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"bench-secret-bench-secret-bench-secret-0123"
EXPERT = "weifang-health-epidemiology"
EXPERT_MAIL = "epidemiology@weifang-health.example.org"
MOD = Principal(role=Role.MODERATOR, invite="bench")


async def run(n: int, db: str) -> dict[str, float | int]:
    agenda = parse_agenda((ROOT / "agenda" / "weifang-olsztyn-2020.yaml").read_bytes())
    sink = await start_sink()
    port = free_port()
    cfg = Config(db=db, smtp_out=f"smtp+plain://127.0.0.1:{sink.port}", smtp_in=f"127.0.0.1:{port}")
    store = await open_store(db)
    hubs = Hubs(store)
    service = MailService(hubs, cfg, secret=SECRET, i18n=I18n())
    hub, _ = await hubs.create_or_resume(agenda)
    for start in range(1, n + 1, 250):
        await hub.append_system(
            [
                NewEvent(
                    type="q.asked",
                    data={
                        "id": f"q-{i}",
                        "text": f"Pytanie numer {i}: jak długo trwa kwarantanna?",
                        "language": "pl",
                        "name": None,
                        "site": "olsztyn",
                        "source": "pre_session",
                        "email": None,
                        "invite": None,
                    },
                )
                for i in range(start, min(n, start + 249) + 1)
            ]
        )
    due = time.time() + 7 * 86400
    t0 = time.perf_counter()
    for start in range(1, n + 1, 500):
        items = [
            {"question": f"q-{i}", "expert": EXPERT, "due": due}
            for i in range(start, min(n, start + 499) + 1)
        ]
        await hub.execute(MOD, Command(name="written.assign_batch", args={"items": items}))
    queue_s = time.perf_counter() - t0
    outbox = Outbox(store)
    assert (await outbox.counts()).get("queued") == n

    t0 = time.perf_counter()
    await service.start(send=True, receive=True, tick_s=0)
    await sink.wait_for(n, timeout=600)
    for _ in range(60_000):  # the results are recorded after the last mail arrives
        counts = await outbox.counts()
        if counts.get("sent") == n and all(q.status == W.SENT for q in W.written(hub.state)):
            break
        await asyncio.sleep(0.01)
    send_s = time.perf_counter() - t0

    replies = [
        thunderbird_pl(
            to=reply_address(SECRET, hub.id, f"q-{i}", cfg.mail_domain),
            sender=EXPERT_MAIL,
            in_reply_to="<x@y>",
            answer=f"Odpowiedź {i}: kwarantanna trwa 14 dni.",
            mid=f"<reply-{i}@uwm.example.pl>",
        )
        for i in range(1, n + 1)
    ]
    t0 = time.perf_counter()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        for i, raw in enumerate(replies, start=1):
            rcpt = reply_address(SECRET, hub.id, f"q-{i}", cfg.mail_domain)
            await client.sendmail(EXPERT_MAIL, [rcpt], raw)
    receive_s = time.perf_counter() - t0
    answered = sum(1 for q in W.written(hub.state) if q.status == W.ANSWERED)
    right = sum(
        1
        for q in W.written(hub.state)
        if q.replies and q.replies[0].text == f"Odpowiedź {q.id[2:]}: kwarantanna trwa 14 dni."
    )
    await service.close()
    await stop_sink(sink)
    await store.close()
    return {
        "n": n,
        "queue_s": round(queue_s, 3),
        "send_1000_s": round(send_s * 1000 / n, 3),
        "receive_1000_s": round(receive_s * 1000 / n, 3),
        "sent": len(sink.messages),
        "answered": answered,
        "extracted_right": right,
    }


def reply_accuracy() -> dict[str, int]:
    published, own = corpus.load("published"), corpus.load("own")
    return {
        "replies_published_exact": len(corpus.score(published)),
        "replies_published": len(published),
        "replies_own_exact": len(corpus.score(own)),
        "replies_own": len(own),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "bench.db")
        result = {**asyncio.run(run(args.n, db)), **reply_accuracy()}
    print(f"queued {result['n']} assignment mails in {result['queue_s']} s")
    print(f"sent {result['sent']} mails: {result['send_1000_s']} s per 1,000")
    print(
        f"received {result['n']} replies, {result['answered']} matched, "
        f"{result['extracted_right']} extracted right: {result['receive_1000_s']} s per 1,000"
    )
    print(
        f"reply corpus: {result['replies_published_exact']} of {result['replies_published']} "
        f"published and {result['replies_own_exact']} of {result['replies_own']} own "
        "replies extracted exactly"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

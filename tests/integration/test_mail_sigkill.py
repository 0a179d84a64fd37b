"""Kill the sender with SIGKILL halfway through a batch; restart it: every mail is sent.

The sender runs as ``confsvc mail send-due`` in its own process against the SQLite
file; the SMTP sink runs here, slowly, so the kill lands in the middle of a batch.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

from confsvc.config import Config
from confsvc.core import written as W
from confsvc.core.events import Command, Principal
from confsvc.core.roles import Role
from confsvc.http.i18n import I18n
from confsvc.mail.outbox import Outbox
from confsvc.mail.service import MailService
from confsvc.service import Hubs
from confsvc.store import open_store
from tests.conftest import ROOT, SECRET
from tests.fixtures.mail.smtp import start_sink, stop_sink, until
from tests.fixtures.questions import pre_session

N = 40
MOD = Principal(role=Role.MODERATOR, invite="mod")


async def _queue_mail(db: Path, sample_agenda: Any, n: int = N) -> list[str]:
    store = await open_store(str(db))
    hubs = Hubs(store)
    service = MailService(hubs, Config(db=str(db)), secret=SECRET, i18n=I18n())
    hub, _ = await hubs.create_or_resume(sample_agenda)
    await hub.append_system(pre_session(range(1, n + 1), "Question number {i}?"))
    due = time.time() + 7 * 86400
    items = [
        {"question": f"q-{i}", "expert": "weifang-health-epidemiology", "due": due}
        for i in range(1, n + 1)
    ]
    await hub.execute(MOD, Command(name="written.assign_batch", args={"items": items}))
    rows = await Outbox(store).rows()
    await service.close()
    await store.close()
    return [r["payload"]["message_id"] for r in rows]


def _sender_cmd(db: Path, secret: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "confsvc",
        "mail",
        "send-due",
        "--db",
        str(db),
        "--secret-file",
        str(secret),
        "--smtp-out",
        f"smtp+plain://127.0.0.1:{port}",
    ]


async def test_sender_killed_mid_batch_loses_no_mail(tmp_path: Path, sample_agenda: Any) -> None:
    db = tmp_path / "confsvc.db"
    secret = tmp_path / "confsvc.secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    queued = await _queue_mail(db, sample_agenda)
    assert len(queued) == N
    sink = await start_sink(delay_s=0.03)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        first = await asyncio.create_subprocess_exec(
            *_sender_cmd(db, secret, sink.port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await until(lambda: len(sink.messages) >= N // 2, timeout=60, what="half the mail")
        finally:
            os.kill(first.pid, signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL
        got_before = len(sink.messages)
        assert got_before < N  # the kill really landed mid-batch
        store = await open_store(str(db))
        statuses = [r["status"] for r in await Outbox(store).rows()]
        await store.close()
        assert "sending" in statuses  # rows the dead sender had claimed

        second = await asyncio.create_subprocess_exec(
            *_sender_cmd(db, secret, sink.port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 0, out
    finally:
        await stop_sink(sink)
    received = {m.strip() for m in sink.message_ids()}
    assert received == set(queued)  # every mail arrived (some twice: at least once)
    store = await open_store(str(db))
    try:
        rows = await Outbox(store).rows()
        assert [r["status"] for r in rows] == ["sent"] * N
        hubs = Hubs(store)
        hub = await hubs.get(sample_agenda.conference.id)
        statuses = {q.status for q in W.by_id(hub.state).values()}
        assert statuses == {"sent"}  # the restarted sender recorded every result
    finally:
        await store.close()


async def test_sender_killed_at_random_points_repeats_at_most_the_mail_in_flight(
    tmp_path: Path, sample_agenda: Any
) -> None:
    n, kills = 90, 4
    db = tmp_path / "confsvc.db"
    secret = tmp_path / "confsvc.secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    queued = await _queue_mail(db, sample_agenda, n)
    rng = random.Random(11)  # seeded: the same kill points on every run
    sink = await start_sink(delay_s=0.02)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for k in range(kills):
            target = len(sink.messages) + rng.randint(3, 15)
            proc = await asyncio.create_subprocess_exec(
                *_sender_cmd(db, secret, sink.port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await until(lambda t=target: len(sink.messages) >= t, timeout=60, what=f"kill {k}")
                await asyncio.sleep(rng.uniform(0, 0.02))  # anywhere in the next mail
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
            assert proc.returncode == -signal.SIGKILL
        assert len(set(sink.message_ids())) < n  # the kills landed before the end
        last = await asyncio.create_subprocess_exec(
            *_sender_cmd(db, secret, sink.port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(last.communicate(), 120)
        assert last.returncode == 0, out
    finally:
        await stop_sink(sink)
    counts = collections.Counter(m.strip() for m in sink.message_ids())
    assert set(counts) == set(queued)  # every mail arrived
    twice = {mid: c for mid, c in counts.items() if c > 1}
    assert max(counts.values()) <= 2, twice
    assert len(twice) <= kills, twice  # at most the one mail in flight per kill

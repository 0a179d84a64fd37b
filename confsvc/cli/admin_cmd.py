"""``confsvc admin list | show | archive | delete``: the conferences a store holds.

``list`` and ``show`` read; ``archive`` appends ``conference.archived`` to the log (the
conference becomes read-only: every command is refused, ``serve`` does not resume it for
commands, reports and exports still work, a running server sees it within a second);
``delete`` removes every row the conference has in the store (events, outbox) and needs
``--yes`` — without it, it says what it would delete and exits 1. Each takes ``--json``.
Not for one person's data: ``confsvc privacy`` is for that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confsvc.core.conference import ConferenceState
from confsvc.core.events import Event
from confsvc.core.registry import RULES
from confsvc.store import EventStore, describe, open_store


@dataclass(frozen=True, slots=True)
class Summary:
    id: str
    title: str
    status: str
    events: int
    created: float | None
    last_activity: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "events": self.events,
            "created": self.created,
            "last_activity": self.last_activity,
        }


def _fold(cid: str, events: list[Event]) -> ConferenceState:
    state = RULES.new_state(cid)
    for event in events:
        RULES.fold(state, event)
    return state


def _status(state: ConferenceState) -> str:
    from confsvc.core.runofshow import ros

    if state.archived_at is not None:
        return "archived"
    if not state.exists:
        return "no agenda"
    return ros(state).status


def summarise(cid: str, events: list[Event]) -> tuple[Summary, ConferenceState]:
    state = _fold(cid, events)
    title = ""
    if state.agenda is not None:
        localized = state.agenda.conference.title
        title = localized.get("en") or next(iter(localized.values()), "")
    summary = Summary(
        id=cid,
        title=title,
        status=_status(state),
        events=len(events),
        created=state.created_at,
        last_activity=events[-1].at if events else None,
    )
    return summary, state


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _outbox_counts(store: EventStore, cid: str) -> dict[str, int]:
    rows = await store.outbox_sql(  # type: ignore[attr-defined]
        "SELECT status, count(*) FROM outbox WHERE conference = ? GROUP BY status",
        (cid,),
        write=False,
    )
    return {str(status): int(n) for status, n in rows}


def _fail(args: argparse.Namespace, message: str) -> int:
    print(f"confsvc admin {args.admin_command}: {message}", file=sys.stderr)
    return 1


async def _require(store: EventStore, args: argparse.Namespace) -> list[Event] | None:
    events = await store.read(args.conference)
    if not events:
        have = ", ".join(await store.list_conferences()) or "none"
        _fail(args, f"no conference {args.conference!r} in {describe(args.db)} (it has: {have})")
        return None
    return events


async def _list(store: EventStore, args: argparse.Namespace) -> int:
    summaries = [summarise(cid, await store.read(cid))[0] for cid in await store.list_conferences()]
    if args.json:
        print(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False))
        return 0
    if not summaries:
        print(f"no conferences in {describe(args.db)}")
        return 0
    rows = [("ID", "TITLE", "STATUS", "EVENTS", "LAST ACTIVITY")]
    rows += [(s.id, s.title, s.status, str(s.events), _when(s.last_activity)) for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print(
            "  ".join(f"{cell:<{w}}" for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        )
    return 0


async def _show(store: EventStore, args: argparse.Namespace) -> int:
    events = await _require(store, args)
    if events is None:
        return 1
    summary, state = summarise(args.conference, events)
    agenda = state.agenda
    out = {
        **summary.as_dict(),
        "archived": state.archived_at,
        "sites": [s.id for s in agenda.sites] if agenda else [],
        "items": len(agenda.items) if agenda else 0,
        "event_types": _count(e.type for e in events),
        "outbox": await _outbox_counts(store, args.conference),
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"conference     {summary.id}")
    print(f"title          {summary.title}")
    print(f"status         {summary.status}")
    print(f"events         {summary.events}")
    print(f"created        {_when(summary.created)}")
    print(f"last activity  {_when(summary.last_activity)}")
    print(f"sites          {', '.join(out['sites']) or '-'}")
    print(f"items          {out['items']}")
    mail = ", ".join(f"{k} {v}" for k, v in sorted(out["outbox"].items())) or "none"
    print(f"mail           {mail}")
    return 0


def _count(types: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in types:
        counts[t] = counts.get(t, 0) + 1
    return dict(sorted(counts.items()))


async def _archive(store: EventStore, args: argparse.Namespace) -> int:
    from confsvc.core.conference import archived_event
    from confsvc.store import ConcurrencyError, NewRecord

    for _attempt in range(10):
        events = await _require(store, args)
        if events is None:
            return 1
        _summary, state = summarise(args.conference, events)
        if state.archived_at is not None:
            result = {"id": args.conference, "archived": state.archived_at, "changed": False}
            if args.json:
                print(json.dumps(result))
            else:
                print(f"{args.conference}: already archived ({_when(state.archived_at)})")
            return 0
        event = archived_event(args.reason)
        now = time.time()
        record = NewRecord(type=event.type, at=now, actor="cli/admin", data=event.data)
        try:
            await store.append(args.conference, state.seq, [record])
        except ConcurrencyError:
            continue  # a server appended meanwhile: fold again
        if args.json:
            print(json.dumps({"id": args.conference, "archived": now, "changed": True}))
        else:
            print(
                f"{args.conference}: archived; commands are refused from now on, "
                "reports and exports still work"
            )
        return 0
    return _fail(args, f"{args.conference} kept changing; try again")


async def _delete(store: EventStore, args: argparse.Namespace) -> int:
    events = await _require(store, args)
    if events is None:
        return 1
    outbox = sum((await _outbox_counts(store, args.conference)).values())
    what = {"events": len(events), "outbox": outbox}
    if not args.yes:
        if args.json:
            print(json.dumps({"id": args.conference, "deleted": False, "would_delete": what}))
        print(
            f"confsvc admin delete: would delete conference {args.conference} from "
            f"{describe(args.db)}: {len(events)} events, {outbox} outbox rows; "
            "run again with --yes to delete it (back it up first: docs/operations.md)",
            file=sys.stderr,
        )
        return 1
    removed = await store.delete_conference(args.conference)
    if args.json:
        print(json.dumps({"id": args.conference, "deleted": True, "removed": removed}))
    else:
        noun = {"events": "events", "outbox": "outbox rows"}
        parts = ", ".join(f"{removed[t]} {noun.get(t, t + ' rows')}" for t in sorted(removed))
        print(f"{args.conference}: deleted ({parts})")
    return 0


ACTIONS = {"list": _list, "show": _show, "archive": _archive, "delete": _delete}


async def _run(args: argparse.Namespace) -> int:
    store = await open_store(args.db)
    try:
        return await ACTIONS[args.admin_command](store, args)
    finally:
        await store.close()


def cmd_admin(args: argparse.Namespace) -> int:
    from confsvc.cli.main import config_from

    args.db = config_from(args, media=False).db  # confsvc.toml, CONFSVC_DB, --db: as serve
    return asyncio.run(_run(args))


def register(sub: Any) -> None:
    p = sub.add_parser("admin", help="list, show, archive or delete the conferences in a store")
    asub = p.add_subparsers(dest="admin_command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        from confsvc.cli.main import add_config_option

        add_config_option(q)
        q.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
        q.add_argument("--json", action="store_true", help="print JSON")
        q.set_defaults(func=cmd_admin)

    common(asub.add_parser("list", help="id, title, status, events and last activity of each"))
    q = asub.add_parser("show", help="one conference in detail")
    q.add_argument("--conference", required=True, metavar="ID")
    common(q)
    q = asub.add_parser("archive", help="make a conference read-only (an event in its log)")
    q.add_argument("--conference", required=True, metavar="ID")
    q.add_argument("--reason", default="archived by an administrator", help="kept in the log")
    common(q)
    q = asub.add_parser("delete", help="remove a conference's events and mail from the store")
    q.add_argument("--conference", required=True, metavar="ID")
    q.add_argument("--yes", action="store_true", help="really delete (without it: a dry run)")
    common(q)

"""``confsvc privacy export|erase``: what the store holds about a person, and erasing it.

Both work straight against the store (``--db``), every conference or one
(``--conference``). A running server folds the rewritten log again when it sees the
``privacy.erased`` event (``docs/privacy.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from confsvc.core.privacy import PrivacyError


def register(sub: Any) -> None:
    p = sub.add_parser("privacy", help="export or erase what the store holds about a person")
    psub = p.add_subparsers(dest="privacy_command", required=True)
    e = psub.add_parser("export", help="print as JSON everything held about a person")
    _person_options(e)
    e.add_argument("--output", "-o", default=None, help="file to write (default: standard output)")
    e.set_defaults(func=cmd_export)
    x = psub.add_parser(
        "erase",
        help="remove a person's name, e-mail and the attribution of their questions",
    )
    _person_options(x)
    x.add_argument("--yes", action="store_true", help="erase without asking")
    x.set_defaults(func=cmd_erase)


def _person_options(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", default=None, help="the person's e-mail address")
    who.add_argument("--name", default=None, help="the person's name, as they gave it")
    from confsvc.cli.main import add_config_option

    add_config_option(p)
    p.add_argument("--db", default="confsvc.db", help="SQLite file or postgresql://… DSN")
    p.add_argument("--conference", default=None, help="one conference (default: every one)")


async def _export(args: argparse.Namespace) -> int:
    from confsvc.privacy import NotHeld, export_person
    from confsvc.store import open_store

    store = await open_store(args.db)
    try:
        data = await export_person(
            store, email=args.email, name=args.name, conference=args.conference
        )
    except (NotHeld, PrivacyError) as exc:
        print(f"confsvc privacy export: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


async def _erase(args: argparse.Namespace) -> int:
    from confsvc.privacy import NotHeld, erase_person
    from confsvc.store import open_store

    store = await open_store(args.db)
    try:
        done = await erase_person(
            store, email=args.email, name=args.name, conference=args.conference
        )
    except (NotHeld, PrivacyError) as exc:
        print(f"confsvc privacy erase: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    for cid, counts in done.conferences.items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"{cid}: erased ({shown})")
    return 0


def _store_exists(args: argparse.Namespace) -> bool:
    """A SQLite path that does not exist is refused (opening it would make an empty store).
    The store is read like ``serve`` reads it (confsvc.toml, ``CONFSVC_DB``, ``--db``)."""
    from confsvc.cli.main import config_from

    db = args.db = config_from(args, media=False).db
    if db.startswith(("postgresql://", "postgres://")):
        return True
    path = Path(db.removeprefix("sqlite:///").removeprefix("sqlite://")).expanduser()
    if path.is_file():
        return True
    print(
        f"confsvc privacy {args.privacy_command}: no store at {path}; name it with --db",
        file=sys.stderr,
    )
    return False


def cmd_export(args: argparse.Namespace) -> int:
    if not _store_exists(args):
        return 1
    return asyncio.run(_export(args))


def _confirmed(args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print(
            "confsvc privacy erase: this rewrites the store and cannot be undone; "
            "add --yes to confirm",
            file=sys.stderr,
        )
        return False
    who = args.email or args.name
    answer = input(f"Erase {who!r} from {args.db}? This cannot be undone. [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("nothing erased", file=sys.stderr)
    return False


def cmd_erase(args: argparse.Namespace) -> int:
    if not _store_exists(args) or not _confirmed(args):
        return 1
    return asyncio.run(_erase(args))

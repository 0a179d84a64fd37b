"""``confsvc recording list``: a conference's recording files (docs/recording.md).

Reads the recordings directory only (``--recordings``, ``CONFSVC_RECORDINGS`` or
confsvc.toml, as ``serve`` reads it), so it works beside a running server or after it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from confsvc.recording.files import list_files


def register(sub: Any) -> None:
    from confsvc.cli.main import add_config_option

    p = sub.add_parser("recording", help="the recordings of a conference")
    rec = p.add_subparsers(dest="recording_command", required=True)
    ls = rec.add_parser("list", help="list a conference's recording files, take by take")
    ls.add_argument("--conference", required=True, help="conference id")
    ls.add_argument(
        "--recordings", type=Path, default=None, metavar="DIR", help="the recordings directory"
    )
    ls.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    add_config_option(ls)
    ls.set_defaults(func=cmd_list)


def _root(args: argparse.Namespace) -> Path:
    from confsvc.cli.main import config_from

    root = config_from(args, media=False).recordings
    if root is None:
        raise SystemExit(
            "confsvc: no recordings directory: give --recordings DIR (or CONFSVC_RECORDINGS)"
        )
    return root


def cmd_list(args: argparse.Namespace) -> int:
    root = _root(args)
    try:
        files = list_files(root, args.conference)
    except ValueError as exc:
        raise SystemExit(f"confsvc: {exc}") from None
    if args.json:
        out = {"conference": args.conference, "directory": str(root / args.conference)}
        sys.stdout.write(json.dumps({**out, "files": [f.as_dict() for f in files]}) + "\n")
        return 0
    if not files:
        sys.stdout.write(f"no recordings of {args.conference} in {root / args.conference}\n")
        return 0
    for f in files:
        started = dt.datetime.fromtimestamp(f.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        size = f"{f.bytes / 1048576:9.1f} MiB"
        what = f.source or "manifest"
        sys.stdout.write(f"take {f.take}  {started}  {what:<14} {size}  {f.name}\n")
    return 0

"""``confsvc config show``: the configuration in effect, secrets masked.

Defaults < confsvc.toml (``--config``) < ``CONFSVC_*`` < flags, checked exactly as
``confsvc serve`` checks them (an error names the file and line, the variable or the
flag), printed as TOML that can be kept as a confsvc.toml (each line says where its
value came from; secrets are commented out, masked), or as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from confsvc.config import URL_KEYS, Config, mask_url

MASK = "***"


def register(sub: Any) -> None:
    from confsvc.cli.main import add_server_options

    p = sub.add_parser("config", help="show the configuration in effect")
    csub = p.add_subparsers(dest="config_command", required=True)
    s = csub.add_parser(
        "show",
        help="print the effective configuration (defaults < confsvc.toml < CONFSVC_* < "
        "flags), secrets masked",
    )
    add_server_options(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_show)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}@{hostport}"))


def shown(cfg: Config) -> dict[str, Any]:
    """Every key's value as the file would hold it; secrets masked, passwords out of URLs."""
    from confsvc.config_sources import SECRETS, URL_PASSWORDS

    out: dict[str, Any] = {}
    for key in Config.model_fields:
        value = getattr(cfg, key)
        if key in SECRETS:
            value = MASK if value else None
        elif key in URL_KEYS and isinstance(value, str):
            # A password from CONFSVC_SMTP_PASSWORD (or its file) was put into the URL:
            # show the URL as it was given; one that came in the URL itself, masked.
            password_key = URL_PASSWORDS.get(key)
            value = (
                _without_password(value)
                if password_key and getattr(cfg, password_key)
                else mask_url(value)
            )
        elif key == "ice_servers":
            value = [s["urls"] if set(s) == {"urls"} else s for s in value]
        out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ("-inf" if value < 0 else "inf") if math.isinf(value) else "nan"
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def as_toml(cfg: Config, values: dict[str, Any], signing: str) -> str:
    from confsvc.config_sources import SECRETS, origin_of

    lines = [
        "# confsvc configuration in effect: defaults < confsvc.toml < CONFSVC_* < flags.",
        "# Secrets are masked and commented out: they come only from the environment or",
        "# from their _file options (docs/configuration.md).",
        f"# Signing secret: {signing}.",
    ]
    for key, value in values.items():
        origin = origin_of(cfg, key)
        where = "default" if origin.kind == "default" else f"from {origin.where}"
        if key in SECRETS:
            if value is not None:
                lines.append(f"# {key} = {_toml(value)}  # {where}")
            continue
        if value is None:
            lines.append(f"# {key} =  (not set)")
            continue
        lines.append(f"{key} = {_toml(value)}  # {where}")
    return "\n".join(lines) + "\n"


def cmd_show(args: argparse.Namespace) -> int:
    from confsvc.cli.main import config_from
    from confsvc.http.secret import describe_secret

    cfg = config_from(args)
    signing = describe_secret(cfg)  # refuses as serve would (PostgreSQL, file mode)
    values = shown(cfg)
    if args.json:
        sys.stdout.write(json.dumps(values, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(as_toml(cfg, values, signing))
    return 0

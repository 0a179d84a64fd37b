"""The ``confsvc`` command: serve, demo, agenda check/export, invite, and the features' own.

Features add subcommands by explicit calls: ``confsvc.assembly.cli_commands()`` lists
each command module's ``register(subparsers)``, which sets ``func`` on its parsers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confsvc.config import Config, ConfigError
from confsvc.resources import sample_agenda


def version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("confsvc")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds above zero (argparse names the flag on error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero (argparse names the flag on error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {text!r}")
    return value


def ice_server_url(text: str) -> str:
    """An argparse type: a stun:, turn: or turns: URL (argparse names the flag on error)."""
    from confsvc.media.ice import check_ice_url

    try:
        return check_ice_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {text!r}") from None


def public_url(text: str) -> str:
    """An argparse type: ``http(s)://HOST[:PORT][/PREFIX/]``, what browsers open."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected http(s)://HOST[:PORT][/PATH/], not {text!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise argparse.ArgumentTypeError(f"a public URL has no user, query or fragment: {text!r}")
    return text


def trusted_proxy(text: str) -> str:
    """An argparse type: an IP address or a CIDR network (``10.0.0.0/8``)."""
    from confsvc.http.forwarded import parse_networks

    try:
        parse_networks([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def port_range(text: str) -> tuple[int, int]:
    """An argparse type: ``40000-40100`` or one port ``3478``, each within 1-65535."""
    first, _, last = text.partition("-")
    try:
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PORT or FIRST-LAST, not {text!r}") from None
    if not 0 < lo <= hi <= 65535:
        raise argparse.ArgumentTypeError(f"ports must be 1-65535 with FIRST <= LAST, not {text!r}")
    return (lo, hi)


def tcp_port(text: str) -> int:
    """An argparse type: one TCP port to listen on, 1-65535 (0, "any free port", would
    leave /metrics on a port nobody can know)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 < value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, not {text!r}")
    return value


class _SecretOnArgv(argparse.Action):
    """A secret given as a flag: refused, saying where it goes (argv shows in ``ps``)."""

    def __init__(self, option_strings: list[str], dest: str, **kw: Any) -> None:
        super().__init__(
            option_strings, dest, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        parser.error(
            f"{option_string}: secrets are never taken from the command line (ps shows it to "
            f"every user): set CONFSVC_{self.dest.upper()} or give --{self.dest.replace('_', '-')}"
            f"-file PATH (a file of mode 0600); see docs/configuration.md"
        )


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="TOML configuration file (default: $CONFSVC_CONFIG, else ./confsvc.toml when "
        "present); flags override it and CONFSVC_* variables, which override the file",
    )


def add_server_options(p: argparse.ArgumentParser, *, default_db: str = "confsvc.db") -> None:
    """The options of serve, demo, the mail commands and config show; each is also a key
    of confsvc.toml and a CONFSVC_* variable (docs/configuration.md). A flag overrides
    them only when given (``track_given``), so defaults here never mask the file."""
    add_config_option(p)
    p.add_argument(
        "--db",
        default=default_db,
        help="SQLite file (default %(default)s) or postgresql://USER@HOST/DB (its password: "
        "PGPASSWORD or ~/.pgpass, never in the DSN on the command line)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (default %(default)s)")
    p.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="signing secret file, mode 0600 (default: beside the SQLite file, made there on "
        "first start; on PostgreSQL it must exist, shared by every node, or CONFSVC_SECRET)",
    )
    p.add_argument(
        "--public-url",
        type=public_url,
        default=None,
        metavar="URL",
        help="the URL browsers open, e.g. https://example.org/confsvc/ behind a proxy that "
        "strips /confsvc/: every link, page, WebSocket and the allowed Origin follow it",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        type=trusted_proxy,
        metavar="ADDR[/BITS]",
        help="believe X-Forwarded-For/-Proto from this proxy address or network (repeat); "
        "from anyone else they are ignored",
    )
    p.add_argument(
        "--rtc-ports",
        type=port_range,
        default=None,
        metavar="FIRST-LAST",
        help="UDP ports the media relay binds (one per media connection and address), "
        "e.g. 40000-40100, so a firewall can be opened for exactly these; default: any",
    )
    p.add_argument(
        "--http-header-timeout",
        dest="http_header_timeout_s",
        type=float,
        default=Config.http_header_timeout_s,
        metavar="S",
        help="close a connection that has not sent a whole request head within S seconds "
        "of opening or of its last response (default %(default)s)",
    )
    p.add_argument(
        "--http-body-timeout",
        dest="http_body_timeout_s",
        type=float,
        default=Config.http_body_timeout_s,
        metavar="S",
        help="an upload form must arrive within S seconds (default %(default)s)",
    )
    p.add_argument(
        "--max-anonymous-connections",
        dest="max_anonymous_connections_per_address",
        type=int,
        default=Config.max_anonymous_connections_per_address,
        metavar="N",
        help="open connections per client address without a valid token; the next gets "
        "503 (0: no cap; default %(default)s)",
    )
    p.add_argument(
        "--connection-cap-exempt",
        dest="connection_cap_exempt",
        action="append",
        default=[],
        metavar="ADDR",
        help="address not counted by --max-anonymous-connections, e.g. a reverse proxy's (repeat)",
    )
    p.add_argument("--redis", default=None, help="redis://… to share conferences between nodes")
    p.add_argument(
        "--allow-origin", action="append", default=[], help="extra origin allowed for WebSockets"
    )
    p.add_argument(
        "--ice-address",
        action="append",
        default=[],
        help="local address the media relay offers (repeat); default: all",
    )
    p.add_argument(
        "--ice-server",
        action="append",
        default=[],
        type=ice_server_url,
        metavar="URL",
        help="STUN/TURN server for browsers and the relay (repeat): stun:HOST[:PORT], "
        "turn:HOST[:PORT][?transport=udp|tcp], turns:HOST[:PORT]; default: none. TURN "
        "credentials: CONFSVC_TURN_SECRET or --turn-secret-file (coturn static-auth-secret), "
        "or --turn-username",
    )
    p.add_argument(
        "--turn-ttl",
        type=positive_int,
        default=Config.turn_ttl_s,
        metavar="SECONDS",
        help="lifetime of TURN credentials minted from CONFSVC_TURN_SECRET (default %(default)s)",
    )
    p.add_argument(
        "--turn-username",
        default=None,
        metavar="NAME",
        help="static TURN user (password from CONFSVC_TURN_PASSWORD or --turn-password-file), "
        "for TURN servers without coturn's use-auth-secret",
    )
    p.add_argument(
        "--turn-secret-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file (mode 0600) holding coturn's static-auth-secret, instead of CONFSVC_TURN_SECRET",
    )
    p.add_argument(
        "--turn-password-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file (mode 0600) holding --turn-username's password, instead of "
        "CONFSVC_TURN_PASSWORD",
    )
    p.add_argument(
        "--ice-timeout",
        type=positive_float,
        default=Config.ice_timeout_s,
        metavar="SECONDS",
        help="close a media connection not connected by then (default %(default)g)",
    )
    p.add_argument(
        "--max-media-peers",
        type=positive_int,
        default=Config.media_max_peers,
        metavar="N",
        help="media connections this node accepts (default %(default)s)",
    )
    p.add_argument(
        "--recordings",
        type=Path,
        default=None,
        metavar="DIR",
        help="record conferences whose agenda or host enables it into DIR/<conference>/ "
        "(WebM per site and the program, remuxed; docs/recording.md)",
    )
    p.add_argument(
        "--broadcast-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the HLS broadcast of conferences whose agenda says broadcast: true "
        "into DIR/<conference>/ (served at /c/<conference>/broadcast/index.m3u8)",
    )
    p.add_argument(
        "--node-url",
        type=public_url,
        default=None,
        metavar="URL",
        help="where other nodes reach this node directly, not through the balancer "
        "(media signalling is forwarded to a conference's home there; default http://HOST:PORT)",
    )
    p.add_argument(
        "--media-lease",
        dest="media_lease_s",
        type=positive_float,
        default=Config.media_lease_s,
        metavar="SECONDS",
        help="a conference's media home holds its lease this long without a heartbeat; "
        "another node takes over a dead home after at most this (default %(default)g)",
    )
    p.add_argument(
        "--smtp-in", default=None, help="HOST:PORT for the SMTP receiver of expert replies"
    )
    p.add_argument(
        "--smtp-out",
        default=None,
        metavar="URL",
        help="smtp://[USER@]HOST[:PORT] for sending mail (smtps://, smtp+starttls://, "
        "smtp+plain://); the password: CONFSVC_SMTP_PASSWORD or --smtp-password-file",
    )
    p.add_argument(
        "--smtp-password-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file (mode 0600) holding --smtp-out's password, instead of CONFSVC_SMTP_PASSWORD",
    )
    p.add_argument("--mail-domain", default="confsvc.localhost", help="domain of reply addresses")
    p.add_argument("--organiser-email", default=None, help="address of the daily digest")
    p.add_argument("--mail-from", default=None, help="From address (default confsvc@DOMAIN)")
    p.add_argument(
        "--imap",
        default=None,
        metavar="URL",
        help="imaps://USER@HOST[:993]/MAILBOX to poll for replies; the password: "
        "CONFSVC_IMAP_PASSWORD or --imap-password-file",
    )
    p.add_argument(
        "--imap-password-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file (mode 0600) holding --imap's password, instead of CONFSVC_IMAP_PASSWORD",
    )
    p.add_argument(
        "--smtp-ca-file",
        default=None,
        metavar="PEM",
        help="CA certificate(s) to trust for --smtp-out's TLS (default: the system's)",
    )
    p.add_argument(
        "--imap-ca-file",
        default=None,
        metavar="PEM",
        help="CA certificate(s) to trust for the IMAP server's TLS (default: the system's)",
    )
    p.add_argument(
        "--imap-poll",
        type=positive_float,
        default=Config.imap_poll_s,
        metavar="SECONDS",
        help="seconds between IMAP polls; IDLE, where offered, wakes sooner (default %(default)g)",
    )
    p.add_argument(
        "--imap-processed-folder",
        default=Config.imap_processed_folder,
        metavar="FOLDER",
        help="IMAP folder stored replies are moved to (default %(default)s)",
    )
    p.add_argument(
        "--imap-quarantine-folder",
        default=Config.imap_quarantine_folder,
        metavar="FOLDER",
        help="IMAP folder for mail not taken as an answer (default %(default)s)",
    )
    p.add_argument(
        "--metrics-port",
        type=tcp_port,
        default=None,
        metavar="PORT",
        help="serve /metrics only on this port (1-65535, same host, not --port's), not on --port",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object a line (default %(default)s)",
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=None,
        help="default info (debug with -v)",
    )
    for secret in ("secret", "smtp_password", "imap_password", "turn_secret", "turn_password"):
        p.add_argument(f"--{secret.replace('_', '-')}", dest=secret, action=_SecretOnArgv)
    p.add_argument("-v", "--verbose", action="store_true")


def secret_path(db: str, given: Path | None) -> Path:
    if given is not None:
        return given
    if "://" not in db and db != ":memory:":
        return Path(db).expanduser().resolve().parent / "confsvc.secret"
    return Path("confsvc.secret")


def loopback_ice(host: str) -> list[str]:
    """A server listening on loopback offers loopback media addresses only: its pages can
    only be opened from this machine, and media then never leaves the loopback range."""
    if host in ("127.0.0.1", "localhost"):
        return ["127.0.0.1"]
    if host == "::1":
        return ["::1"]
    return []


# Flags whose dest is not the Config key they set. Any other flag whose dest is a Config
# field (or the field with "s", "es" or "_s" added) sets that field: see flag_key.
FLAG_KEYS: dict[str, str] = {
    "agenda": "agendas",
    "allow_origin": "allowed_origins",
    "trusted_proxy": "trusted_proxies",
    "ice_address": "ice_addresses",
    "ice_server": "ice_servers",
    "turn_ttl": "turn_ttl_s",
    "ice_timeout": "ice_timeout_s",
    "max_media_peers": "media_max_peers",
}
# Dests that are never Config keys, whatever fields appear.
NOT_KEYS = {"config", "verbose", "json", "command", "func"}


def flag_key(dest: str) -> str | None:
    """The Config key that the flag with this dest sets, if any."""
    if dest in NOT_KEYS or dest.startswith("_"):
        return None
    if dest in FLAG_KEYS:
        return FLAG_KEYS[dest]
    fields = Config.model_fields
    for key in (dest, f"{dest}s", f"{dest}es", f"{dest}_s", f"{dest[:-1]}ies"):
        if key in fields:
            return key
    return None


class _Given:
    """Mixed into every flag's action (``track_given``): records that the user gave it, so
    that only given flags override the file and the environment (defaults do not)."""

    dest: str

    def __call__(
        self, parser: Any, namespace: Any, values: Any, option_string: str | None = None
    ) -> None:
        given = dict(getattr(namespace, "_given_flags", {}))
        given[self.dest] = option_string or self.dest
        namespace._given_flags = given
        super().__call__(parser, namespace, values, option_string)  # type: ignore[misc]


_TRACKED: dict[type, type] = {}


def track_given(parser: argparse.ArgumentParser) -> None:
    """Record given flags on ``parser`` and every subparser (``args._given_flags``), and
    leave each parser's flags in ``args._flag_actions`` for config_from."""
    actions: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                track_given(child)
            continue
        if not action.option_strings or isinstance(
            action, argparse._HelpAction | argparse._VersionAction
        ):
            continue
        base = type(action)
        if not issubclass(base, _Given):
            if base not in _TRACKED:
                _TRACKED[base] = type(f"Given{base.__name__}", (_Given, base), {})
            action.__class__ = _TRACKED[base]
        actions[action.dest] = action
    parser.set_defaults(_flag_actions=actions, _given_flags={})


def _flag_value(dest: str, value: Any) -> Any:
    if dest == "agenda" and not isinstance(value, list):
        return [] if value is None else [value]
    return value


def config_from(
    args: argparse.Namespace,
    agendas: list[Path] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    media: bool = True,
) -> Config:
    """The Config of a command: defaults < confsvc.toml (``--config``) < ``CONFSVC_*`` <
    the flags the user gave; ``agendas``, when given, as if by ``--agenda``. Raises
    ``ConfigError`` naming the file and line, the variable or the flag. ``media=False``
    (commands that run no media, e.g. ``invite``) skips the TURN credential checks.

    Afterwards the flags' attributes of ``args`` that were not given hold the values in
    effect (failure messages and hooks read them)."""
    from confsvc.config_sources import Layer, Origin, Reader, config_file, load

    environ = os.environ if env is None else env
    actions: dict[str, argparse.Action] = getattr(args, "_flag_actions", {})
    given: dict[str, str] | None = getattr(args, "_given_flags", None)
    if given is None:  # a Namespace made by hand: whatever it holds was given
        given = {
            d: f"--{d.replace('_', '-')}"
            for d, v in vars(args).items()
            if v not in (None, [], False)
        }
    flags = Layer("flag")
    for dest, option in given.items():
        key = flag_key(dest)
        if key is not None and hasattr(args, dest):
            flags.set(key, _flag_value(dest, getattr(args, dest)), option)
    if agendas:
        flags.set("agendas", list(agendas), "--agenda")
    readers: dict[str, Reader] = {}
    aliases: dict[str, str] = {}
    for dest, action in actions.items():
        key = flag_key(dest)
        if key is None or isinstance(action, _SecretOnArgv):
            continue
        aliases[dest] = key
        many = isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+")
        readers[key] = Reader(type=action.type, choices=action.choices, many=many)  # type: ignore[arg-type]

    def defaults(merged: dict[str, Any], origins: dict[str, Origin]) -> None:
        if "secret_file" not in merged:
            merged["secret_file"] = secret_path(str(merged.get("db", Config.db)), None)
        if not merged.get("ice_addresses"):
            merged["ice_addresses"] = loopback_ice(str(merged.get("host", Config.host)))
        if getattr(args, "verbose", False) and "log_level" not in merged:
            if "log_level" in Config.model_fields:
                merged["log_level"] = "debug"

    path = config_file(getattr(args, "config", None), environ)
    cfg = load(
        flags=flags,
        environ=environ,
        path=path,
        readers=readers,
        aliases=aliases,
        derive=[defaults],
        turn=media,
    )
    for dest, action in actions.items():
        key = flag_key(dest)
        if key is None or dest in given or dest in ("agenda", "ice_server"):
            continue
        if not isinstance(action, _SecretOnArgv):
            setattr(args, dest, getattr(cfg, key))
    return cfg


def _setup_logging(args: argparse.Namespace) -> None:
    """``--log-level`` (``-v`` alone means debug) and ``--log-format``: see confsvc.logs."""
    from confsvc.logs import setup_logging

    level = getattr(args, "log_level", None) or ("debug" if args.verbose else "info")
    setup_logging(level=level, fmt=getattr(args, "log_format", "text"))


def _check_agendas(paths: list[Path]) -> list[Any] | None:
    from confsvc.core.agenda import AgendaError, parse_agenda

    agendas = []
    ok = True
    for path in paths:
        try:
            agendas.append(parse_agenda(path.read_bytes()))
        except OSError as exc:
            print(f"{path}:1:1: cannot read: {exc.strerror}", file=sys.stderr)
            ok = False
        except AgendaError as exc:
            for problem in exc.problems:
                print(problem.format(str(path)), file=sys.stderr)
            ok = False
    return agendas if ok else None


# -- serve / demo --------------------------------------------------------------


async def run_server(
    cfg: Config, *, on_ready: Any = None, reuse_port: bool = False, node_port: int | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop in order (``confsvc.http.shutdown``):
    stop accepting, WebSockets closed with 1001, SSE streams ended, running commands and
    the mail being sent finished, the store closed; a few seconds at most.

    A worker of ``--workers`` (``confsvc.cli.workers``) shares the port (``reuse_port``) and
    listens on ``node_port`` alone too (its ``node_url``)."""

    from confsvc.http import shutdown
    from confsvc.http.accesslog import RedactingAccessLogger
    from confsvc.http.app import create_app

    log = logging.getLogger("confsvc")
    app = create_app(cfg)
    from confsvc.http.server import GuardedSite, make_runner

    runner = make_runner(  # header timeout; GuardedSite: the per-address connection cap
        app,
        cfg,
        access_log_class=RedactingAccessLogger,
        access_log_format='%a "%r" %s %b %Tfs',
        handle_signals=False,
        shutdown_timeout=shutdown.HANDLERS_S,
    )
    await runner.setup()
    site = GuardedSite(runner, cfg.host, cfg.port, reuse_port=reuse_port or None)
    await site.start()
    if node_port is not None:
        await GuardedSite(runner, cfg.host, node_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    from confsvc import memdebug

    memdebug.install(loop)  # CONFSVC_TRACEMALLOC=FILE: dump growth on SIGUSR1 (off by default)
    try:
        log.info("serving on %s", cfg.base_url)
        for host, port, *_ in runner.addresses:
            log.info("listening on %s port %d", host, port)
        if on_ready is not None:
            await on_ready(app)
        await stop.wait()
        log.info("stopping: no new connections; closing the open ones")
    finally:
        started = time.monotonic()
        await runner.cleanup()  # sites, on_shutdown, handlers, cleanup_ctx (see shutdown.py)
        log.info("stopped in %.2f s", time.monotonic() - started)


def cmd_serve(args: argparse.Namespace) -> int:
    from confsvc.logs import configure

    cfg = config_from(args)
    _setup_logging(args)
    if not cfg.agendas:
        raise ConfigError(
            'no agenda: give --agenda PATH (repeat for several), or agendas = ["PATH"] in '
            "confsvc.toml, or CONFSVC_AGENDAS"
        )
    if _check_agendas(cfg.agendas) is None:
        return 1
    configure(cfg)
    if cfg.workers > 1:
        from confsvc.cli.workers import serve_workers

        return serve_workers(cfg)
    asyncio.run(run_server(cfg))
    return 0


async def demo_links(app: Any, cfg: Config) -> list[tuple[str, str]]:
    """(role, URL) for the host, moderator, each site, an expert, a translator (the
    translation desk, every language), a participant and the public; each invite
    recorded (``Hub.issue_invite``) before its link is returned."""
    from confsvc.core.events import SYSTEM
    from confsvc.core.invites import InviteRequest
    from confsvc.core.roles import Role
    from confsvc.http.keys import HUBS, SECRET

    hub = app[HUBS].loaded()[0]
    agenda = hub.state.require_agenda()
    wanted = [("host", InviteRequest(role=Role.HOST))]
    wanted.append(("moderator", InviteRequest(role=Role.MODERATOR)))
    wanted += [(f"site:{s.id}", InviteRequest(role=Role.SITE, site=s.id)) for s in agenda.sites]
    for expert in agenda.experts[:1]:
        request = InviteRequest(role=Role.EXPERT, expert=expert.id, name=expert.name)
        wanted.append((f"expert:{expert.id}", request))
    wanted.append(("translator", InviteRequest(role=Role.TRANSLATOR)))
    wanted.append(("participant", InviteRequest(role=Role.PARTICIPANT)))
    links = []
    for label, request in wanted:
        _invite, token = await hub.issue_invite(SYSTEM, app[SECRET], request)
        links.append((label, f"{cfg.base_url}/j/{token}"))
    links.append(("public", f"{cfg.base_url}/c/{hub.id}/live"))
    return links


def cmd_demo(args: argparse.Namespace) -> int:
    from confsvc.logs import configure

    cfg = config_from(args)
    _setup_logging(args)
    if not cfg.agendas:
        cfg.agendas = [sample_agenda()]
    agenda_path = cfg.agendas[0]
    if _check_agendas(cfg.agendas) is None:
        return 1
    configure(cfg)

    async def ready(app: Any) -> None:
        from confsvc import assembly

        links = await demo_links(app, cfg)
        width = max(len(role) for role, _ in links)
        print(f"confsvc demo: {agenda_path.name} on {cfg.base_url} (store {cfg.db})", flush=True)
        for role, url in links:
            print(f"{role:<{width}}  {url}", flush=True)
        for feature_links in assembly.demo_links():  # e.g. the written-answers dashboard
            more = await feature_links(app, cfg.base_url, links)
            for role, url in more:
                print(f"{role}  {url}", flush=True)
            links += more
        if args.bots:
            from confsvc.cli.media_cmd import demo_bots

            await demo_bots(app, cfg, links)
        print("Open the links in a browser; Ctrl-C stops the server.", flush=True)

    asyncio.run(run_server(cfg, on_ready=ready))
    return 0


# -- agenda --------------------------------------------------------------------


def cmd_agenda_check(args: argparse.Namespace) -> int:
    agendas = _check_agendas(args.paths)
    if agendas is None:
        return 1
    for path, agenda in zip(args.paths, agendas, strict=True):
        print(
            f"{path}: ok ({len(agenda.sites)} sites, {len(agenda.items)} items, {agenda.planned_total_minutes():g} minutes)"
        )
    return 0


def cmd_agenda_export(args: argparse.Namespace) -> int:
    from confsvc.agenda_export import export

    agendas = _check_agendas([args.path])
    if agendas is None:
        return 1
    # The schedule's links: public_url (or host and port) as serve reads them.
    base = config_from(args, media=False).base_url
    try:
        text = export(agendas[0], args.format, lang=args.lang, base_url=base)
    except ValueError as exc:
        print(f"confsvc agenda export: {args.path}: {exc}", file=sys.stderr)
        return 1
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


# -- invite --------------------------------------------------------------------


async def _invite(args: argparse.Namespace) -> int:
    from confsvc.store import open_store

    cfg = config_from(args, media=False)  # confsvc.toml and CONFSVC_*: the server's db, secret, URL
    store = await open_store(cfg.db)
    try:
        return await _invite_in(store, args, cfg)
    finally:
        await store.close()


async def _invite_in(store: Any, args: argparse.Namespace, cfg: Config) -> int:
    from confsvc.bus import LocalBus
    from confsvc.core.errors import DomainError
    from confsvc.core.events import Principal
    from confsvc.core.invites import InviteRequest
    from confsvc.core.roles import Role
    from confsvc.http.secret import signing_secret
    from confsvc.service import Hub

    conferences = await store.list_conferences()
    cid = args.conference
    if cid is None:
        if len(conferences) != 1:
            have = ", ".join(conferences) or "none"
            print(
                f"confsvc invite: name the conference with --conference (the store has: {have})",
                file=sys.stderr,
            )
            return 1
        cid = conferences[0]
    if cid not in conferences:
        print(f"confsvc invite: no conference {cid!r} in {args.db}", file=sys.stderr)
        return 1
    hub = Hub(conference=cid, store=store, bus=LocalBus())  # the server polls for it
    await hub.catch_up()
    role = Role(args.role)
    translator = _translator_flags(args, hub.state.require_agenda())
    if isinstance(translator, str):
        print(f"confsvc invite: {translator}", file=sys.stderr)
        return 1
    name, languages = translator
    request = InviteRequest(
        role=role,
        site=args.site,
        expert=args.expert,
        name=name,
        interpreter=args.interpreter,
        languages=languages,
        ttl_s=int(args.ttl_hours * 3600),
    )
    try:
        # Recorded in the log before it is printed, so the host console lists it and
        # can revoke it.
        inviter = Principal(role=Role.SYSTEM, invite="cli-invite")
        invite, token = await hub.issue_invite(inviter, signing_secret(cfg), request)
    except DomainError as exc:
        print(f"confsvc invite: {_invite_refusal(exc, role, hub)}", file=sys.stderr)
        return 1
    base = cfg.base_url
    label = role.value if invite.site is None else f"site:{invite.site}"
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "role": label,
                    "id": invite.id,
                    "expires": invite.expires,
                    "url": f"{base}/j/{token}",
                }
            )
        )
    else:
        print(f"{label}  {base}/j/{token}")
    return 0


def _translator_flags(
    args: argparse.Namespace, agenda: Any
) -> tuple[str | None, tuple[str, ...]] | str:
    """The name and languages of a translator link (``--languages zh,pl``; ``--translator
    ID`` takes both from the agenda's ``translators:``), or why they are refused."""
    languages = tuple(x.strip() for x in (args.languages or "").split(",") if x.strip())
    if args.translator is None:
        return args.name, languages
    if args.role != "translator":
        return "--translator goes only with --role translator"
    entry = agenda.translator(args.translator)
    if entry is None:
        known = ", ".join(t.id for t in agenda.translators) or "none"
        return f"no translator {args.translator!r} in the agenda (translators: {known})"
    return args.name or entry.name, languages or tuple(entry.languages)


def _invite_refusal(exc: Exception, role: Any, hub: Any) -> str:
    """The core's refusal in the command line's words (its flags, not its fields)."""
    if getattr(exc, "field", None) == "args.interpreter":
        return (
            str(exc)
            .replace(
                "an interpreter invite needs an interpreter id",
                "--role interpreter needs --interpreter ID",
            )
            .replace(
                "only an interpreter invite takes one",
                "--interpreter goes only with --role interpreter",
            )
        )
    if getattr(exc, "field", None) == "args.languages":
        return str(exc).replace(
            "only a translator invite takes languages",
            "--languages goes only with --role translator",
        )
    if getattr(exc, "field", None) != "args.site":
        return str(exc)
    if role.value == "site":
        return f"--site must be one of {', '.join(hub.state.require_agenda().site_ids)}"
    return "--site goes only with --role site"


def cmd_invite(args: argparse.Namespace) -> int:
    return asyncio.run(_invite(args))


# -- main ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="confsvc", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--version", action="version", version=f"confsvc {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server for one or more agendas")
    p.add_argument(
        "--agenda",
        type=Path,
        action="append",
        default=None,
        help="agenda YAML (repeat for several); or agendas = [...] in confsvc.toml",
    )
    add_server_options(p)
    p.add_argument(
        "--workers",
        type=positive_int,
        default=Config.workers,
        metavar="N",
        help="run N node processes on --port (SO_REUSEPORT), one event loop and media relay "
        "each; worker i is also on port+i for the others (default %(default)s)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="run the server on the sample agenda and print the links")
    p.add_argument("--agenda", type=Path, default=None, help="agenda YAML (default: the sample)")
    p.add_argument("--bots", action="store_true", help="start a publishing bot for every site")
    add_server_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("agenda", help="check or export agenda files")
    asub = p.add_subparsers(dest="agenda_command", required=True)
    c = asub.add_parser(
        "check", help="validate agenda files; print every problem as PATH:LINE:COL: message"
    )
    c.add_argument("paths", type=Path, nargs="+")
    c.set_defaults(func=cmd_agenda_check)
    e = asub.add_parser(
        "export", help="export an agenda as JSON, iCalendar, or the frab schedule JSON or XML"
    )
    e.add_argument("--format", choices=["json", "ics", "frab", "xml"], required=True)
    e.add_argument(
        "--lang",
        default=None,
        help="titles in this agenda language (ics, frab, xml; default: the first)",
    )
    e.add_argument(
        "--public-url",
        type=public_url,
        default=None,
        metavar="URL",
        help="the server's public URL, for the schedule's links (default: public_url in "
        "confsvc.toml or CONFSVC_PUBLIC_URL, else http://HOST:PORT)",
    )
    add_config_option(e)
    e.add_argument("--output", "-o", default=None, help="file to write (default: standard output)")
    e.add_argument("path", type=Path)
    e.set_defaults(func=cmd_agenda_export)

    p = sub.add_parser("invite", help="print a signed invite link")
    p.add_argument(
        "--role",
        required=True,
        choices=["host", "moderator", "site", "expert", "translator", "interpreter", "participant"],
    )
    p.add_argument("--site", default=None, help="site id, for --role site")
    p.add_argument("--expert", default=None, help="expert id, for --role expert")
    p.add_argument(
        "--interpreter",
        default=None,
        help="interpreter id (agenda interpretation:), for --role interpreter",
    )
    p.add_argument(
        "--languages",
        default=None,
        metavar="zh,pl",
        help="for --role translator: the languages they read and write (default: all)",
    )
    p.add_argument(
        "--translator",
        default=None,
        help="translator id (agenda translators:), for --role translator: its name and languages",
    )
    p.add_argument("--name", default=None, help="display name")
    p.add_argument(
        "--conference", default=None, help="conference id (default: the only one in the store)"
    )
    add_config_option(p)
    p.add_argument("--db", default="confsvc.db")
    p.add_argument("--secret-file", type=Path, default=None)
    p.add_argument("--ttl-hours", type=float, default=14 * 24)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--public-url", type=public_url, default=None, metavar="URL")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_invite)

    from confsvc.assembly import cli_commands

    for register in cli_commands():
        register(sub)
    track_given(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    raw = sys.argv[1:] if argv is None else argv
    verbose = bool(getattr(args, "verbose", False)) or "-v" in raw or "--verbose" in raw
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ConfigError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # every failure is one line; -v adds the traceback
        from confsvc.cli.failures import explain

        if verbose:
            import traceback

            traceback.print_exc()
        print(f"{parser.prog} {args.command}: error: {explain(exc, args)}", file=sys.stderr)
        return 1

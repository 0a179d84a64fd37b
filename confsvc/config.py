"""Server configuration: what ``confsvc serve`` and ``confsvc demo`` are told.

``Config`` is a pydantic-settings model. ``Config(...)`` takes keyword arguments only
(tests build it so); what ``confsvc`` runs with is loaded by ``confsvc.config_sources``
from defaults < a TOML file < ``CONFSVC_*`` variables < flags. Fields are declared in
the dataclass style, ``field(default_factory=list)`` / ``field(default=None,
repr=False)``: ``field`` is pydantic's ``Field``. Every field is a key of confsvc.toml,
an environment variable ``CONFSVC_<KEY>`` and, mostly, a flag: docs/configuration.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field as field  # dataclass-style declarations below
from pydantic import PrivateAttr, field_validator, model_validator
from pydantic._internal._model_construction import ModelMetaclass
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(ValueError):
    """A bad or missing setting: one line naming the file and line, the variable or the
    flag, and what to do (``confsvc`` prints it and exits 1, no traceback)."""


class _FieldDefaults(ModelMetaclass):
    """``Config.port`` is the field's default, as on the dataclass this model replaced
    (flags use ``default=Config.x``)."""

    def __getattr__(cls, name: str) -> Any:
        fields = cls.__dict__.get("__pydantic_fields__")
        if fields and name in fields:
            return fields[name].get_default(call_default_factory=True)
        return super().__getattr__(name)  # type: ignore[misc]  # (not in its stubs)


class Config(BaseSettings, metaclass=_FieldDefaults):
    model_config = SettingsConfigDict(
        env_prefix="CONFSVC_",
        extra="forbid",  # a misspelt keyword is an error, not a silently ignored setting
        enable_decoding=False,  # lists from the environment: "a,b" or a JSON array
    )
    # Where each value came from (confsvc.config_sources.Origin), for `confsvc config show`.
    _origins: dict[str, Any] = PrivateAttr(default_factory=dict)

    db: str = "confsvc.db"
    # Every store call has this deadline; past it (or with the store down) a command gets
    # ``unavailable`` with ``retry_after`` and no lock stays held (confsvc/store/guarded.py).
    store_timeout_s: float = 5.0
    # The messages of this many recent events are kept per conference, so a client that
    # reconnects with the last seq it saw gets what it missed, not a snapshot (docs/protocol.md).
    backlog_events: int = field(default=1000, ge=0, le=100_000)
    host: str = "127.0.0.1"
    port: int = field(default=8080, ge=0, le=65535)
    agendas: list[Path] = field(default_factory=list)
    secret_file: Path = Path("confsvc.secret")
    # The signing secret itself, from CONFSVC_SECRET only (never argv or confsvc.toml);
    # unset: read from secret_file, made there (0600) only beside a SQLite store. Every
    # node of one deployment needs the same one (docs/configuration.md).
    secret: str | None = field(default=None, repr=False)
    # Base URL that links are printed with; defaults to http://host:port.
    public_url: str | None = None
    # Extra origins allowed to open WebSockets (the public URL's origin always is).
    allowed_origins: list[str] = field(default_factory=list)
    # Peers (addresses or CIDR networks) whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: list[str] = field(default_factory=list)
    # UDP ports (first, last) the media relay binds its ICE sockets in; None = ephemeral.
    rtc_ports: tuple[int, int] | None = None
    redis: str | None = None
    # WebRTC: ICE servers for browsers and the relay ([] = none, loopback/LAN only), and
    # which local addresses the relay offers and which remote ones it accepts.
    # Handed out only through confsvc.media.ice.ice_servers_for, which adds TURN credentials.
    ice_servers: list[dict[str, object]] = field(default_factory=list)
    ice_addresses: list[str] = field(default_factory=list)  # [] = every interface
    # TURN credentials: coturn's shared secret (use-auth-secret; CONFSVC_TURN_SECRET), from
    # which short-lived ones are minted, or a static pair (CONFSVC_TURN_PASSWORD). Never in
    # repr, logs or anything sent.
    turn_secret: str | None = field(default=None, repr=False)
    turn_ttl_s: int = 86400
    turn_username: str | None = None
    turn_password: str | None = field(default=None, repr=False)
    # Files holding the TURN secret / password instead of the environment (mode 0600).
    turn_secret_file: Path | None = None
    turn_password_file: Path | None = None
    max_video_kbps: int = 1200
    ice_timeout_s: float = 15.0  # a media connection not up by then is closed
    media_max_peers: int = 300  # media connections per node
    # Recording (docs/recording.md): each take's WebM files (every site, the program) into
    # recordings/<conference>/ while the agenda or a host enables it; unset: none here.
    recordings: Path | None = None
    # The HLS broadcast (docs/media.md, "Broadcast"): one H.264/AAC transcode of the
    # program per conference into broadcast_dir/<conference>/, for conferences whose
    # agenda says broadcast: true; unset = this node broadcasts nothing.
    broadcast_dir: Path | None = None
    broadcast_preset: str = field(default="ultrafast", pattern="^(ultrafast|superfast|veryfast)$")
    broadcast_segment_s: float = field(default=1.0, ge=0.5, le=6.0)
    broadcast_list_size: int = field(default=6, ge=3, le=60)  # segments in the playlist
    # Media homes (docs/media.md, "Several nodes"): the URL other nodes reach this node (or
    # worker) at, directly, not through the balancer (default http://host:port); how long a
    # home's lease lasts without a heartbeat (a dead home is replaced after at most this).
    node_url: str | None = None
    media_lease_s: float = field(default=5.0, gt=0)
    # ``confsvc serve``: this many node processes on the one port (SO_REUSEPORT), each
    # with its own event loop and relay; worker i also listens on port + i for its
    # node_url. 1: the process serves alone.
    workers: int = field(default=1, ge=1, le=64)
    # Mail.
    smtp_in: str | None = None
    mail_domain: str = "confsvc.localhost"
    smtp_out: str | None = None  # smtp(s)://[USER@]HOST[:PORT]; its password:
    smtp_password: str | None = field(default=None, repr=False)  # CONFSVC_SMTP_PASSWORD
    smtp_password_file: Path | None = None  # or a file (0600)
    mail_from: str | None = None  # default: confsvc@<mail_domain>
    organiser_email: str | None = None  # gets the daily digest of open written answers
    imap: str | None = None  # imap(s)://USER@HOST[:PORT]/MAILBOX, polled for replies
    imap_password: str | None = field(default=None, repr=False)  # CONFSVC_IMAP_PASSWORD
    imap_password_file: Path | None = None  # or a file (0600)
    mail_max_bytes: int = 10 * 1024 * 1024  # larger inbound mail is refused with 552
    smtp_ca_file: str | None = None  # PEM CA(s) trusted for smtp_out's TLS (else the system's)
    imap_ca_file: str | None = None  # likewise for the IMAP server
    imap_poll_s: float = 30.0  # seconds between polls (IDLE, where offered, wakes sooner)
    imap_processed_folder: str = "confsvc/processed"  # stored mail is moved here
    imap_quarantine_folder: str = "confsvc/quarantine"  # mail not taken as an answer
    # Limits.
    ws_max_msg_bytes: int = 64 * 1024
    ws_rate_per_s: float = 20.0
    ws_burst: int = 40
    max_connections_per_invite: int = 8
    # Slow clients (docs/protocol.md, "Limits"): a connection that has not sent a whole
    # request head this long after it opened (or after its last response) is closed; an
    # upload form must arrive within http_body_timeout_s. Connections from one address
    # that no valid token has been seen on are capped (0 = no cap); addresses listed in
    # connection_cap_exempt (e.g. a reverse proxy's) are not counted.
    http_header_timeout_s: float = 20.0
    http_body_timeout_s: float = 60.0
    max_anonymous_connections_per_address: int = 256
    connection_cap_exempt: list[str] = field(default_factory=list)
    # Operations: /metrics only on this port (same host) when set; logs (confsvc.logs).
    metrics_port: int | None = None
    log_format: str = "text"  # text | json (one object a line)
    # Every N seconds, give the C heap's freed pages back to the OS (glibc malloc_trim,
    # confsvc/memtrim.py); 0 = never.
    malloc_trim_s: float = field(default=60.0, ge=0.0, le=86_400.0)
    log_level: str = "info"  # debug | info | warning | error

    @property
    def base_path(self) -> str:
        """The public URL's path without its trailing slash ("" or "/confsvc"): every URL a
        page, link or mail carries starts with it; routes stay at "/" (the proxy strips it)."""
        if not self.public_url:
            return ""
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def public_origin(self) -> str | None:
        """``scheme://host[:port]`` of the public URL (what browsers send as Origin)."""
        if not self.public_url:
            return None
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def node_base_url(self) -> str:
        """Where other nodes reach this one (``node_url``, else ``http://host:port``)."""
        if self.node_url:
            return self.node_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    # -- how values are read ------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # ``Config(...)`` is exactly its arguments; the environment and the TOML file are
        # read by confsvc.config_sources.load, which knows where each value came from.
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _lists_from_text(cls, data: Any) -> Any:
        """A list given as one string (an environment variable): ``a,b`` or ``["a","b"]``."""
        if isinstance(data, dict):
            for name, value in list(data.items()):
                info = cls.model_fields.get(name)
                if isinstance(value, str) and info is not None and is_list_type(info.annotation):
                    data[name] = split_list(value)
        return data

    @field_validator("ice_servers", mode="before", check_fields=False)
    @classmethod
    def _ice_server_urls(cls, value: Any) -> Any:
        """``["stun:…", "turn:…"]`` (confsvc.toml) means ``[{"urls": "stun:…"}, …]``."""
        if isinstance(value, list):
            return [{"urls": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("rtc_ports", mode="before", check_fields=False)
    @classmethod
    def _port_range_text(cls, value: Any) -> Any:
        """``"40000-40100"`` or ``"3478"`` (one port) as ``(first, last)``."""
        if isinstance(value, str):
            first, _, last = value.partition("-")
            return (first.strip(), (last or first).strip())
        if isinstance(value, int):
            return (value, value)
        return value

    def __repr_args__(self) -> Any:
        # URLs may carry a password (from the environment): never in a repr or a log.
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if name in URL_KEYS and isinstance(value, str) else value


# Options that are URLs and may carry a password (only from the environment).
URL_KEYS = ("db", "redis", "smtp_out", "imap")


def is_list_type(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(get_origin(a) is list for a in get_args(annotation))


def split_list(text: str) -> list[Any]:
    """``a, b`` or a JSON array ``["a", "b"]`` as a list; ``""`` is ``[]``."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON array: {exc}") from None
        if not isinstance(value, list):
            raise ValueError("not a JSON array")
        return value
    return [item.strip() for item in text.split(",") if item.strip()]


def mask_url(url: str) -> str:
    """``scheme://user:***@host/…``: the URL without its password (if it has one)."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))

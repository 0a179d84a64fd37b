"""Server configuration: what ``confsvc serve`` and ``confsvc demo`` are told."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """Options that do not fit together; the message names the flag or variable."""


@dataclass(kw_only=True)
class Config:
    db: str = "confsvc.db"
    host: str = "127.0.0.1"
    port: int = 8080
    agendas: list[Path] = field(default_factory=list)
    secret_file: Path = Path("confsvc.secret")
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
    max_video_kbps: int = 1200
    ice_timeout_s: float = 15.0  # a media connection not up by then is closed
    media_max_peers: int = 300  # media connections per node
    # Mail.
    smtp_in: str | None = None
    mail_domain: str = "confsvc.localhost"
    smtp_out: str | None = None
    mail_from: str | None = None  # default: confsvc@<mail_domain>
    organiser_email: str | None = None  # gets the daily digest of open written answers
    imap: str | None = None  # imap(s)://user:pass@host:port/MAILBOX, polled for replies
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

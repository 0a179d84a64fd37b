"""Where the configuration comes from: defaults < a TOML file < ``CONFSVC_*`` < flags.

``load`` reads the file with pydantic-settings' ``TomlConfigSettingsSource`` and the
environment with its ``EnvSettingsSource``, checks each layer on its own so that an error
names where the value came from (``confsvc.toml:7``, ``CONFSVC_PORT``, ``--port``), then
merges them into one ``Config``. Strings in the file and the environment are read with
the same function as the flag's (its argparse ``type`` and ``choices``), so ``--rtc-ports
40000-40100``, ``rtc_ports = "40000-40100"`` and ``CONFSVC_RTC_PORTS=40000-40100`` mean
the same and are refused with the same reason.

Secrets (``SECRETS``) come only from the environment or from files (``..._file``, mode
0600): never from argv, which ``ps`` shows, nor from the configuration file, which is
often readable by others or kept in git. For the same reason a URL with a password is
refused on the command line and in the file; ``PASSWORD_GOES`` says where it goes.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

from confsvc.config import Config, ConfigError, is_list_type, mask_url, split_list

ENV_PREFIX = "CONFSVC_"
DEFAULT_FILE = "confsvc.toml"

# Secret -> the option naming a file that holds it. ``secret_file`` also says where a
# SQLite node makes its signing secret (confsvc.http.secret).
SECRETS: dict[str, str] = {
    "secret": "secret_file",
    "smtp_password": "smtp_password_file",
    "imap_password": "imap_password_file",
    "turn_secret": "turn_secret_file",
    "turn_password": "turn_password_file",
}
# URL option -> where its password goes instead of the URL.
PASSWORD_GOES: dict[str, str] = {
    "smtp_out": "give the URL without it (smtp://USER@HOST:PORT) and the password in "
    "CONFSVC_SMTP_PASSWORD or smtp_password_file",
    "imap": "give the URL without it (imaps://USER@HOST/MAILBOX) and the password in "
    "CONFSVC_IMAP_PASSWORD or imap_password_file",
    "redis": "give the whole URL in the environment instead: CONFSVC_REDIS=redis://:PASSWORD@HOST "
    "(e.g. from a systemd EnvironmentFile= readable by root only)",
    "db": "give the DSN without it and the password in PGPASSWORD or a ~/.pgpass file "
    "(PGPASSFILE), or the whole DSN in the environment: CONFSVC_DB",
}
# URL option -> the secret that is put into it (confsvc.mail reads user:pass@ from the URL).
URL_PASSWORDS: dict[str, str] = {"smtp_out": "smtp_password", "imap": "imap_password"}


@dataclass(frozen=True)
class Origin:
    """Where a value came from: ``kind`` is "file", "env", "flag" or "default"."""

    kind: str
    where: str  # "confsvc.toml:7", "CONFSVC_PORT", "--port", "default"

    def about(self, key: str) -> str:
        """The prefix of an error about ``key``: ``confsvc.toml:7: port`` or ``--port``."""
        return f"{self.where}: {key}" if self.kind == "file" else self.where

    def name(self, key: str) -> str:
        """How a message names ``key``: ``--port``, ``CONFSVC_PORT``, ``port (confsvc.toml:3)``."""
        if self.kind == "file":
            return f"{key} ({self.where})"
        return key if self.kind == "default" else self.where


DEFAULT = Origin("default", "default")


@dataclass
class Layer:
    """The values one source gives, and where in it each one is."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)

    def set(self, key: str, value: Any, where: str) -> None:
        self.values[key] = value
        self.origins[key] = Origin(self.kind, where)


@dataclass(frozen=True)
class Reader:
    """How a flag reads its text (argparse's ``type`` and ``choices``), used for the same
    key's strings in the file and the environment; ``many``: the flag repeats (a list)."""

    type: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    many: bool = False


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def fields() -> dict[str, Any]:
    return dict(Config.model_fields)


def _is_path(key: str) -> bool:
    info = Config.model_fields[key]
    return "Path" in str(info.annotation) or key == "db"


# -- reading the layers --------------------------------------------------------------


def _line_of(text: str, key: str) -> int | None:
    """The line where ``key`` is set (``key = …`` or a ``[key]`` table), if it can be found."""
    k = re.escape(key)
    for pattern in (rf"^[ \t]*(?:{k}|\"{k}\"|'{k}')[ \t]*[=.]", rf"^[ \t]*\[+[ \t]*{k}[ \t]*[\].]"):
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None


def _suggest(key: str, aliases: Mapping[str, str]) -> str:
    known = [k for k in Config.model_fields if k not in SECRETS]
    normal = key.replace("-", "_").lower()
    if normal in aliases:
        return f" (did you mean {aliases[normal]!r}?)"
    if normal in known:
        return f" (did you mean {normal!r}?)"
    close = difflib.get_close_matches(normal, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else " (see docs/configuration.md)"


def _refuse_password(key: str, value: Any, origin: Origin) -> None:
    if key not in PASSWORD_GOES or not isinstance(value, str) or "://" not in value:
        return
    try:
        password = urlsplit(value).password
    except ValueError:
        return
    if not password:
        return
    why = (
        "the command line shows in ps and the shell's history"
        if origin.kind == "flag"
        else "the configuration file is no place for secrets"
    )
    raise ConfigError(
        f"{origin.about(key)}: the URL carries a password, which confsvc refuses here ({why}): "
        f"{PASSWORD_GOES[key]}"
    )


def _read_text(key: str, text: str, reader: Reader, origin: Origin) -> Any:
    try:
        value = reader.type(text) if reader.type is not None else text
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{origin.about(key)}: {exc}") from None
    except (TypeError, ValueError):
        kind = {int: "a whole number", float: "a number"}.get(reader.type, "a valid value")  # type: ignore[call-overload]
        raise ConfigError(f"{origin.about(key)}: not {kind}: {text!r}") from None
    if reader.choices is not None and value not in reader.choices:
        choices = ", ".join(str(c) for c in reader.choices)
        raise ConfigError(f"{origin.about(key)}: must be one of {choices}, not {text!r}")
    return value


def _convert(key: str, value: Any, reader: Reader | None, origin: Origin) -> Any:
    """A file or environment value read like the flag's text; other values go as they are."""
    if reader is None:
        return value
    many = reader.many or is_list_type(Config.model_fields[key].annotation)
    if isinstance(value, str) and many:
        try:
            value = split_list(value)
        except ValueError as exc:
            raise ConfigError(f"{origin.about(key)}: {exc}") from None
    if isinstance(value, list) and many:
        return [_read_text(key, v, reader, origin) if isinstance(v, str) else v for v in value]
    if isinstance(value, str):
        return _read_text(key, value, reader, origin)
    if isinstance(value, int | float) and not isinstance(value, bool) and reader.type:
        return _read_text(key, str(value), reader, origin)  # turn_ttl_s = 0: as --turn-ttl 0
    return value


def read_file(path: Path, readers: Mapping[str, Reader], aliases: Mapping[str, str]) -> Layer:
    """The configuration file's values, each checked; relative paths are from its folder."""
    label = str(path)
    layer = Layer("file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read the configuration file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text (TOML is)") from None
    try:
        data: dict[str, Any] = TomlConfigSettingsSource(Config, toml_file=path).toml_data
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        where = f"{label}:{match.group(1)}" if match else label
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ConfigError(f"{where}: not valid TOML: {message}") from None
    for key, value in data.items():
        line = _line_of(text, key)
        where = f"{label}:{line}" if line else label
        origin = Origin("file", where)
        if key in SECRETS:
            raise ConfigError(
                f"{where}: {key} is a secret and is never read from the configuration file: "
                f'set {ENV_PREFIX}{key.upper()}, or {SECRETS[key]} = "PATH" (a file of mode 0600)'
            )
        if key not in Config.model_fields:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, aliases)}")
        value = _convert(key, value, readers.get(key), origin)
        _refuse_password(key, value, origin)
        if _is_path(key):
            value = _from_folder(value, path.parent)
        layer.set(key, value, where)
    return layer


def _from_folder(value: Any, folder: Path) -> Any:
    """Relative paths in a configuration file are relative to the file's folder."""
    if isinstance(value, list):
        return [_from_folder(v, folder) for v in value]
    if isinstance(value, str) and ("://" in value or value == ":memory:"):
        return value
    if isinstance(value, str | Path) and not Path(value).expanduser().is_absolute():
        joined = folder / Path(value)
        return str(joined) if isinstance(value, str) else joined
    return value


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, over a given mapping (tests pass one)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Config)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items() if v}


def read_env(environ: Mapping[str, str], readers: Mapping[str, Reader]) -> Layer:
    layer = Layer("env")
    for key, value in _Environment(environ)().items():
        where = f"{ENV_PREFIX}{key.upper()}"
        layer.set(key, _convert(key, value, readers.get(key), Origin("env", where)), where)
    return layer


def _check(layer: Layer) -> None:
    """Each layer is valid on its own, so the error names the file and line, the variable
    or the flag (merged, a bad value could hide behind another layer's good one)."""
    if layer.values:
        _validated(layer.values, layer.origins)


def _validated(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> Config:
    try:
        return Config(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "?"
        origin = origins.get(key, DEFAULT)
        got = error.get("input")
        shown = "" if key in SECRETS or isinstance(got, dict | list) else f" (got {got!r})"
        raise ConfigError(f"{origin.about(key)}: {error['msg']}{shown}") from None


# -- secrets -------------------------------------------------------------------------


def read_secret_file(path: Path, key: str, *, missing_ok: bool = False) -> bytes | None:
    """The secret in ``path`` (surrounding whitespace dropped); refused when its group or
    others may read it. ``None`` for a missing file when ``missing_ok``."""
    shown = shlex.quote(str(path))
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ConfigError(f"{key} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{key} {path}: cannot read it: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(
            f"{key} {path} is open to its group or others (mode {mode & 0o777:04o}); a secret "
            f"must be readable by its owner only: run chmod 600 {shown}"
        )
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"{key} {path}: cannot read it: {exc.strerror}") from None
    if not data:
        raise ConfigError(f"{key} {path} is empty")
    return data


def _secrets_from_files(merged: dict[str, Any], origins: dict[str, Origin]) -> None:
    for key, file_key in SECRETS.items():
        if key == "secret":  # the signing secret's file is read (or made) at start-up
            continue
        path = merged.get(file_key)
        if path is None:
            continue
        if merged.get(key):
            raise ConfigError(
                f"{origins[key].name(key)} and {origins[file_key].name(file_key)} both give "
                f"{key}: keep one"
            )
        data = read_secret_file(Path(path), file_key)
        assert data is not None
        try:
            merged[key] = data.decode()
        except UnicodeDecodeError:
            raise ConfigError(f"{file_key} {path} is not UTF-8 text") from None
        origins[key] = origins[file_key]


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` after its user (percent-encoded, as confsvc.mail reads it)."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}:{quote(password, safe='')}@{hostport}"))


def _passwords_into_urls(merged: dict[str, Any], origins: dict[str, Origin]) -> None:
    for url_key, key in URL_PASSWORDS.items():
        url, password = merged.get(url_key), merged.get(key)
        if not url or not password:
            continue
        parts = urlsplit(url)
        if parts.password:
            raise ConfigError(
                f"{origins[url_key].name(url_key)} carries a password and "
                f"{origins[key].name(key)} gives one too: keep one"
            )
        if not parts.username:
            raise ConfigError(
                f"{origins[key].name(key)} needs a user in {origins[url_key].name(url_key)}: "
                f"{parts.scheme}://USER@{parts.netloc}"
            )
        merged[url_key] = with_password(url, password)


# -- TURN ----------------------------------------------------------------------------


def _check_turn(merged: dict[str, Any], origins: dict[str, Origin]) -> None:
    """TURN servers need credentials: coturn's shared secret or a static user, not both."""
    from confsvc.ice import is_turn

    def name(key: str) -> str:
        return origins.get(key, DEFAULT).name(key)

    urls = [s["urls"] if isinstance(s, dict) else s for s in merged.get("ice_servers", [])]
    turns = [u for u in urls if isinstance(u, str) and is_turn(u)]
    username = merged.get("turn_username")
    secret = merged.get("turn_secret")
    password = merged.get("turn_password")
    servers = origins.get("ice_servers", DEFAULT)
    if username is not None and secret:
        raise ConfigError(
            f"{name('turn_username')} and {name('turn_secret')} exclude each other: "
            "use the secret for coturn's use-auth-secret, the user for a static account"
        )
    if username is not None and not password:
        raise ConfigError(
            f"{name('turn_username')} needs its password in CONFSVC_TURN_PASSWORD or "
            "turn_password_file"
        )
    if username is not None and not turns:
        where = "--ice-server" if servers.kind in ("flag", "default") else name("ice_servers")
        raise ConfigError(f"{name('turn_username')} needs a turn: or turns: {where}")
    if turns and not secret and username is None:
        subject = (
            f"{servers.where}: ice_servers {turns[0]}"
            if servers.kind == "file"
            else f"{servers.where if servers.kind != 'default' else '--ice-server'} {turns[0]}"
        )
        raise ConfigError(
            f"{subject}: a TURN server needs credentials: set CONFSVC_TURN_SECRET "
            "(coturn use-auth-secret) or turn_secret_file, or give --turn-username with "
            "CONFSVC_TURN_PASSWORD or turn_password_file"
        )
    if not turns:
        merged.pop("turn_secret", None)  # nothing to mint credentials for
    if username is None:
        merged.pop("turn_password", None)


# -- URLs ----------------------------------------------------------------------------


def _check_urls(merged: dict[str, Any], origins: dict[str, Origin]) -> None:
    """The URL options are read now, as the server will read them, so that a bad one is
    refused at start naming where it was (not when the first mail goes out)."""

    def refuse(key: str, reason: str) -> None:
        reason = reason.removeprefix(f"{key}: ")
        raise ConfigError(f"{origins.get(key, DEFAULT).about(key)}: {reason}")

    db = merged.get("db")
    if isinstance(db, str) and "://" in db and not is_postgres(db):
        if not db.startswith("sqlite://"):
            refuse(
                "db",
                f"unknown scheme in {db.split('://', 1)[0]!r}: a SQLite file or postgresql://…",
            )
    redis = merged.get("redis")
    if redis and not str(redis).startswith(("redis://", "rediss://", "unix://")):
        refuse("redis", "expected redis://HOST[:PORT][/DB], rediss://… or unix://PATH")
    readers: list[tuple[str, str, str]] = [
        ("smtp_out", "confsvc.mail.sender", "SmtpSettings"),
        ("imap", "confsvc.mail.imap", "ImapSettings"),
    ]
    for key, module, name in readers:
        url = merged.get(key)
        if not url:
            continue
        try:
            settings = getattr(importlib.import_module(module), name)
        except ImportError:  # pragma: no cover - the mail feature is not installed
            continue
        try:
            settings.from_url(url)
        except ValueError as exc:
            refuse(key, mask_url(str(exc)))
    listen = merged.get("smtp_in")
    if listen:
        from confsvc.mail.receiver import parse_listen

        try:
            parse_listen(listen)
        except ValueError as exc:
            refuse("smtp_in", str(exc))


def _check_ports(merged: dict[str, Any], origins: dict[str, Origin]) -> None:
    """``metrics_port`` is a port of its own: on the main port, one of the two listeners
    would fail to bind at start (and /metrics would not be apart from the pages)."""
    metrics, port = merged.get("metrics_port"), merged.get("port", Config.port)
    if metrics is not None and metrics == port:
        where = origins.get("metrics_port", DEFAULT).about("metrics_port")
        main = origins.get("port", DEFAULT)
        said = {"default": "port's default", "file": f"port, {main.where}"}.get(
            main.kind, main.where
        )
        raise ConfigError(
            f"{where}: {metrics} is also the main port ({said}): give /metrics another "
            "port, or leave metrics_port unset to serve /metrics on the main port"
        )


# -- load ----------------------------------------------------------------------------


def config_file(
    given: Path | None, environ: Mapping[str, str], cwd: Path | None = None
) -> Path | None:
    """``--config``, else ``CONFSVC_CONFIG``, else ``./confsvc.toml`` when present."""
    if given is not None:
        return given
    named = environ.get(f"{ENV_PREFIX}CONFIG")
    if named:
        return Path(named)
    here = (cwd or Path.cwd()) / DEFAULT_FILE
    return Path(DEFAULT_FILE) if here.is_file() else None


def load(
    *,
    flags: Layer | None = None,
    environ: Mapping[str, str],
    path: Path | None = None,
    readers: Mapping[str, Reader] | None = None,
    aliases: Mapping[str, str] | None = None,
    derive: Iterable[Callable[[dict[str, Any], dict[str, Origin]], None]] = (),
    turn: bool = True,
) -> Config:
    """The effective Config: defaults < the file at ``path`` < ``environ`` < ``flags``.

    ``derive`` may fill in defaults that depend on other values (the CLI's secret_file
    beside the SQLite file, loopback ICE addresses) before the final check. ``turn``:
    check the TURN credentials (commands without media, such as ``invite``, do not).
    Raises ``ConfigError`` naming the file and line, the variable or the flag.
    """
    readers = readers or {}
    layers = []
    if path is not None:
        layers.append(read_file(path, readers, aliases or {}))
    layers.append(read_env(environ, readers))
    flags = flags or Layer("flag")
    for key, value in flags.values.items():
        _refuse_password(key, value, flags.origins[key])
    layers.append(flags)
    merged: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for layer in layers:
        _check(layer)
        merged.update(layer.values)
        origins.update(layer.origins)
    _secrets_from_files(merged, origins)
    if turn:
        _check_turn(merged, origins)
    for fill in derive:
        fill(merged, origins)
    _check_urls(merged, origins)
    _check_ports(merged, origins)
    _passwords_into_urls(merged, origins)
    cfg = _validated(merged, origins)
    cfg._origins = {k: origins.get(k, DEFAULT) for k in Config.model_fields}
    return cfg


def origin_of(cfg: Config, key: str) -> Origin:
    origins: dict[str, Origin] = getattr(cfg, "_origins", None) or {}
    return origins.get(key, DEFAULT)

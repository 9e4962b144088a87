"""Settings of ``medbridge serve`` (both doors, the archive, the AEs and tokens it knows).

One `ServerConfig` object holds every setting of the process (STYLE.md: settings are one
object); `medbridge.server` builds it and hands it to each door, which reads its own part.
Precedence, highest first: command-line options, ``MEDBRIDGE_*`` environment variables,
the TOML file given with ``--config``, the defaults here. A TOML file looks like::

    [server]
    ae_title = "MEDBRIDGE"
    dimse_port = 11112
    data_dir = "./var"
    index_url = "postgresql+psycopg://medbridge@db/pacs"   # default: SQLite in data_dir
    audit_log = "/var/log/medbridge/audit.jsonl"   # default: audit.jsonl in data_dir
    deid_key = "a long secret"     # the page's de-identified downloads (as anonymize --key)
    storage_url = "s3://bucket/prefix"   # default: files under data_dir; or a folder
    s3_endpoint_url = "http://minio:9000"  # S3-API stores other than AWS; and, optionally,
    s3_region = "us-east-1"                # s3_access_key_id, s3_secret_access_key (else
                                           # the standard AWS_* variables and ~/.aws)
    duplicates = "keep"            # or "replace"
    refuse_unknown = true          # only the AEs below may associate...
    check_caller_host = true       # ...and only from their host (default with the above)
    check_called_ae = true         # refuse calls to another AE title (default: refuse_unknown)
    max_pdu = 0                    # 0: no limit (PS3.8 D.3.3.1 Maximum Length)
    http_port = 8080               # the HTTP door (DICOMweb under /dicom-web); 0: any free
    http_host = "127.0.0.1"        # beyond loopback only with tokens (or insecure = true)
    insecure = false               # allow an open HTTP door beyond loopback, no tokens
    cors_origins = []              # browser origins allowed to call the HTTP door
    cross_origin_isolation = false # COOP/COEP headers (a viewer's MPR needs them)
    max_body = 4294967296          # largest STOW-RS request body, bytes
    commit_verify = true           # storage commitment re-hashes each file (SHA-256)

    [tokens.viewer]                # bearer tokens of the HTTP door, each with a role
    token = "a long random string"
    role = "read"                  # read, write or admin

    [tls]                          # optional; both ends then speak TLS (PS3.15 B.1)
    cert = "server.pem"
    key = "server.key"
    ca = "ca.pem"                  # when set, callers must present a certificate

    [aes.WORKSTATION]              # a C-MOVE destination and a permitted caller
    ae_title = "WS1"
    host = "10.0.0.5"
    port = 104
    role = "uploader"              # viewer, uploader or admin (default), as the page's
                                   # users; or name the services one by one:
    services = ["store", "worklist", "mpps", "commit"]   # (an AE that may only store...)
"""

from __future__ import annotations

import os
import socket
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from medbridge.archive import Archive, DuplicatePolicy
from medbridge.errors import ArchiveError

__all__ = [
    "ENV_PREFIX",
    "SERVICES",
    "KnownAE",
    "Role",
    "ServerConfig",
    "Token",
    "load_config",
    "services_of",
    "validate_ae_title",
]

ENV_PREFIX = "MEDBRIDGE_"


def validate_ae_title(title: str) -> str:
    """Return a valid AE title (PS3.5 6.2, VR AE: 1-16 characters, no backslash/control)."""
    value = title.strip()
    if not 0 < len(value) <= 16 or "\\" in value or any(ord(c) < 32 for c in value):
        raise ArchiveError(f"invalid AE title {title!r}: 1-16 printable characters, no '\\'")
    return value


#: The services a known AE may be allowed (``services`` of ``[aes.NAME]``).
SERVICES = ("store", "find", "move", "get", "worklist", "mpps", "commit", "print")


@dataclass(frozen=True)
class KnownAE:
    """A remote AE: who may call us, where C-MOVE and commitment reports go to."""

    ae_title: str
    host: str
    port: int
    services: frozenset[str] = frozenset(SERVICES)


def services_of(role: Role) -> frozenset[str]:
    """The DIMSE services a caller with `role` may use, as the HTTP door's roles read:
    read finds and retrieves (and asks the worklist), write also stores and reports
    (MPPS, commitment, print), admin may do everything."""
    read = frozenset({"find", "move", "get", "worklist"})
    if role is Role.READ:
        return read
    if role is Role.WRITE:
        return read | {"store", "mpps", "commit", "print"}
    return frozenset(SERVICES)


class Role(StrEnum):
    """What a caller may do; each role includes the ones above it.

    One model for every door: a bearer token, a logged-in user (``viewer``,
    ``uploader``, ``admin`` are the people's names for the same roles) and a DIMSE
    caller all hold one of these.
    """

    READ = "read"
    """Find and retrieve: QIDO-RS, WADO-RS, FHIR reads, the page; C-FIND, C-MOVE, C-GET."""
    WRITE = "write"
    """And store: STOW-RS, upload on the page; C-STORE, MPPS, storage commitment."""
    ADMIN = "admin"
    """And delete, and manage the worklist."""

    @classmethod
    def _missing_(cls, value: object) -> Role | None:
        aliases = {"viewer": cls.READ, "uploader": cls.WRITE}
        return aliases.get(str(value).lower()) if isinstance(value, str) else None

    def allows(self, needed: Role) -> bool:
        """Whether this role includes `needed`."""
        order = [Role.READ, Role.WRITE, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Token:
    """A bearer token of the HTTP door, named so the log can say who called."""

    name: str
    secret: str = field(repr=False)
    role: Role


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``medbridge serve`` needs; see the module docstring for the file format."""

    data_dir: Path = Path("./var")
    dimse_port: int = 11112
    ae_title: str = "MEDBRIDGE"
    bind: str = ""
    index_url: str | None = None
    duplicates: DuplicatePolicy = DuplicatePolicy.KEEP
    refuse_unknown: bool = False
    check_caller_host: bool = True
    check_called_ae: bool | None = None
    max_pdu: int = 0
    max_associations: int = 32
    fsync: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    known_aes: tuple[KnownAE, ...] = field(default_factory=tuple)
    http_port: int = 8080
    http_host: str = "127.0.0.1"
    insecure: bool = False
    cors_origins: tuple[str, ...] = ()
    cross_origin_isolation: bool = False
    max_body: int = 4 << 30
    tokens: tuple[Token, ...] = field(default_factory=tuple)
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = field(default=None, repr=False)
    audit_log: Path | None = None
    deid_key: str | None = field(default=None, repr=False)
    commit_verify: bool = True

    def open_archive(self) -> Archive:
        """Open the archive these settings describe (index, storage, policies)."""
        return Archive(
            self.data_dir,
            index_url=self.index_url,
            duplicates=self.duplicates,
            fsync=self.fsync,
            storage_url=self.storage_url,
            audit_log=self.audit_log or self.data_dir / "audit.jsonl",
            s3={
                "endpoint_url": self.s3_endpoint_url,
                "region": self.s3_region,
                "access_key_id": self.s3_access_key_id,
                "secret_access_key": self.s3_secret_access_key,
            },
        )

    def known_ae(self, title: str) -> KnownAE | None:
        """Return the known AE with this title, or None."""
        title = title.strip()
        return next((ae for ae in self.known_aes if ae.ae_title == title), None)

    @property
    def checks_called_ae(self) -> bool:
        """Whether callers must call our AE title: ``check_called_ae``, by default on
        exactly when ``refuse_unknown`` is (a server that picks its callers also wants
        to be called by its name; an open one answers any title, as pynetdicom does)."""
        if self.check_called_ae is None:
            return self.refuse_unknown
        return self.check_called_ae

    def admits(self, title: str, address: str) -> bool:
        """Whether a caller may associate: its AE title known, and from its host.

        Without ``refuse_unknown`` everyone may. With it, the calling AE title must be a
        known AE's and, unless ``check_caller_host`` is off, the connection must come
        from one of the addresses that AE's ``host`` resolves to: an AE title is only a
        claim, which any program on the network can make.
        """
        if not self.refuse_unknown:
            return True
        known = self.known_ae(title)
        if known is None:
            return False
        return not self.check_caller_host or address in _addresses(known.host)

    def may(self, title: str, service: str) -> bool:
        """Whether the caller `title` may use `service` (one of `SERVICES`).

        A known AE may use the services its ``services`` list names; an unknown one
        (admitted only without ``refuse_unknown``) may use all of them.
        """
        known = self.known_ae(title)
        return known is None or service in known.services

    def ssl_context(self) -> ssl.SSLContext | None:
        """Return the server-side TLS context, or None when TLS is not configured."""
        if self.tls_cert is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.tls_cert, self.tls_key)
        if self.tls_ca is not None:
            ctx.load_verify_locations(self.tls_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


def _addresses(host: str) -> set[str]:
    """The IP addresses a configured host name or address stands for (none if unknown)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    found = {str(info[4][0]) for info in infos}
    # a caller over IPv4 on a dual-stack socket shows as ::ffff:a.b.c.d
    return found | {f"::ffff:{a}" for a in found if ":" not in a}


def _port(value: object) -> int:
    """A TCP port to listen on: 0 (any free one) to 65535."""
    port = int(str(value))
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is not in 0-65535")
    return port


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _strings(value: object) -> tuple[str, ...]:
    """A list from TOML, or a comma-separated string from the environment."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise TypeError(f"expected a list of strings, not {value!r}")


_CASTS: dict[str, Any] = {
    "data_dir": Path,
    "dimse_port": _port,
    "ae_title": validate_ae_title,
    "bind": str,
    "index_url": str,
    "duplicates": DuplicatePolicy,
    "refuse_unknown": _boolean,
    "check_caller_host": _boolean,
    "check_called_ae": _boolean,
    "max_pdu": int,
    "max_associations": int,
    "fsync": _boolean,
    "tls_cert": Path,
    "tls_key": Path,
    "tls_ca": Path,
    "http_port": _port,
    "http_host": str,
    "insecure": _boolean,
    "cors_origins": _strings,
    "cross_origin_isolation": _boolean,
    "max_body": int,
    "storage_url": str,
    "s3_endpoint_url": str,
    "s3_region": str,
    "s3_access_key_id": str,
    "s3_secret_access_key": str,
    "audit_log": Path,
    "deid_key": str,
    "commit_verify": _boolean,
}


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ServerConfig:
    """Build a `ServerConfig` from a TOML file, environment variables and overrides.

    Parameters
    ----------
    path:
        TOML file, or None.
    env:
        Environment (default ``os.environ``); ``MEDBRIDGE_<FIELD>`` sets a field, e.g.
        ``MEDBRIDGE_DIMSE_PORT=11113``.
    **overrides:
        Field values from the command line; None means "not given".

    Raises
    ------
    ArchiveError
        If the file cannot be read or a value is invalid.
    """
    values: dict[str, Any] = {}
    known: list[KnownAE] = []
    tokens: list[Token] = []
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ArchiveError(f"cannot read config {path}: {exc}") from exc
        values.update(doc.get("server", {}))
        for key, value in doc.get("tls", {}).items():
            values[f"tls_{key}"] = value
        for name, ae in doc.get("aes", {}).items():
            try:
                title = validate_ae_title(ae.get("ae_title", name))
                if "services" in ae:
                    services = frozenset(_strings(ae["services"]))
                else:
                    services = services_of(Role(ae.get("role", "admin")))
                port = int(ae["port"])
                if not 0 < port < 65536:
                    raise ValueError(f"port {port} is not in 1-65535")
                known.append(KnownAE(title, ae["host"], port, services))
            except (KeyError, TypeError, ValueError) as exc:
                raise ArchiveError(
                    f"{path}: [aes.{name}] needs ae_title, host, port (1-65535)"
                ) from exc
            if not services <= set(SERVICES):
                raise ArchiveError(
                    f"{path}: [aes.{name}] services: unknown "
                    f"{', '.join(sorted(services - set(SERVICES)))}; known: {', '.join(SERVICES)}"
                )
        for name, tok in doc.get("tokens", {}).items():
            try:
                tokens.append(Token(name, str(tok["token"]), Role(tok.get("role", "read"))))
            except (KeyError, TypeError, ValueError) as exc:
                raise ArchiveError(
                    f"{path}: [tokens.{name}] needs token and a role (read, write, admin)"
                ) from exc
    environ = os.environ if env is None else env
    for f in fields(ServerConfig):
        if f.name not in _CASTS:
            continue
        key = ENV_PREFIX + f.name.upper()
        if key in environ:
            values[f.name] = environ[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - set(_CASTS)
    if unknown:
        raise ArchiveError(f"unknown settings: {', '.join(sorted(unknown))}")
    try:
        cast = {k: _CASTS[k](v) for k, v in values.items()}
    except (ValueError, TypeError) as exc:
        raise ArchiveError(f"invalid setting: {exc}") from exc
    return replace(ServerConfig(), known_aes=tuple(known), tokens=tuple(tokens), **cast)

"""Options and outcomes shared by the commands of several layers (dimse, archive, server).

Each layer keeps its own ``cli.py``; what they have in common (how a request identifier
is given with ``-k``, how logging is set up for a long-running command, how one error
line ends a command) lives here once, so the commands read and fail alike.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

import click
from pydicom.dataset import Dataset

from medbridge.errors import QueryError
from medbridge.exitcodes import ExitCode

if TYPE_CHECKING:
    from medbridge.web.client import WebPeer

__all__ = [
    "KEY",
    "LEVEL",
    "VERBOSITY",
    "WEB",
    "fail",
    "is_url",
    "open_archive",
    "parse_keys",
    "quiet_pynetdicom",
    "send_target",
    "setup_logging",
    "web_client",
    "web_peer",
]

#: ``click.Context.meta`` key of the ``-v`` count (the group's or the command's).
VERBOSITY = "medbridge.verbosity"

KEY = click.option(
    "-k",
    "--key",
    "keys",
    multiple=True,
    help="KEYWORD=VALUE to match, or KEYWORD to return (repeatable).",
)
LEVEL = click.option(
    "--level",
    default="STUDY",
    show_default=True,
    type=click.Choice(["PATIENT", "STUDY", "SERIES", "IMAGE"], case_sensitive=False),
)


def parse_keys(keys: tuple[str, ...], level: str) -> Dataset:
    """`identifier_from_keys`, a bad key reported as a usage error of ``-k``."""
    from medbridge.archive.keys import identifier_from_keys  # SQLAlchemy: not for `ls`

    try:
        return identifier_from_keys(keys, level)
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="-k") from None


def quiet_pynetdicom(record: logging.LogRecord) -> bool:
    """A handler filter: pynetdicom's records only with ``-vv``, where they explain."""
    return not record.name.startswith("pynetdicom")


def setup_logging(verbose: int) -> None:
    """Log lines with time and source on stderr; pynetdicom's own only with ``-vv``."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[VERBOSITY] = max(verbose, ctx.meta.get(VERBOSITY, 0))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("pynetdicom").setLevel(logging.INFO if verbose > 1 else logging.WARNING)


def fail(exc: Exception, code: ExitCode = ExitCode.ERROR) -> NoReturn:
    """End the command with one line naming what failed and why."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)


# -- DICOMweb: ``find``, ``get`` and ``send`` take a URL instead of HOST PORT ------------


def _web_options(func: Any) -> Any:
    func = click.option(
        "--ca",
        type=click.Path(exists=True, path_type=Path),
        help="With an https URL: the CA file that signed the server's certificate.",
    )(func)
    return click.option(
        "--token",
        envvar="MEDBRIDGE_TOKEN",
        help="With a URL: bearer token for the DICOMweb server (or MEDBRIDGE_TOKEN).",
    )(func)


WEB = _web_options


def is_url(host: str) -> bool:
    """Whether HOST is an http(s) URL, a DICOMweb root, rather than a host name."""
    return host.lower().startswith(("http://", "https://"))


def web_peer(host: str, port: int | None, token: str | None, ca: Path | None) -> WebPeer | None:
    """The DICOMweb server when HOST is a URL, else None; a URL with a PORT is a usage error."""
    if not is_url(host):
        return None
    if port is not None:
        raise click.UsageError(f"{host} is a DICOMweb URL: give its port inside it, not as PORT")
    from medbridge.web.client import WebPeer  # only a URL needs the HTTP client

    return WebPeer(host, token=token, ca=ca)


def web_client() -> ModuleType:
    """`medbridge.web.client`, imported when a command is given a URL."""
    from medbridge.web import client

    return client


def send_target(
    host: str, port: str | None, paths: tuple[Path, ...], token: str | None, ca: Path | None
) -> tuple[WebPeer | None, int | None, tuple[Path, ...]]:
    """``send``'s (DICOMweb server or None, DIMSE port, paths).

    ``send HOST PORT PATHS...`` and ``send URL PATHS...`` share one signature, so after a
    URL click hands the first path over as PORT; it is put back here.
    """
    if not is_url(host):
        if port is None or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.UsageError(f"PORT must be a number in 1-65535, not {port!r} (or a URL)")
        if not paths:
            raise click.UsageError("Missing argument 'PATHS...'.")
        return None, int(port), paths
    if port is not None:
        if port.isdigit() and not Path(port).exists():
            web_peer(host, int(port), token, ca)  # the usage error of a URL with a PORT
        if not Path(port).exists():
            raise click.BadParameter(f"{port!r} does not exist", param_hint="PATHS")
        paths = (Path(port), *paths)
    if not paths:
        raise click.UsageError("Missing argument 'PATHS...'.")
    return web_peer(host, None, token, ca), None, paths


if TYPE_CHECKING:
    from medbridge.archive import Archive


def open_archive(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None = None,
    *,
    create: bool = False,
) -> Archive:
    """Open the archive a command's options name, as `medbridge serve` would with them.

    Unless `create`, a data folder without an index is refused: opening an archive
    there would create an empty one, and a mistyped --data-dir would look empty.
    """
    from medbridge.errors import MedbridgeError
    from medbridge.server.config import load_config

    config = load_config(
        config_file, data_dir=data_dir, index_url=index_url, storage_url=storage_url
    )
    if not create and config.index_url is None and not (config.data_dir / "index.sqlite").is_file():
        fail(MedbridgeError(f"no archive in {config.data_dir} (no index.sqlite): check --data-dir"))
    return config.open_archive()

"""Command-line DIMSE clients: ``echo``, ``send``, ``find``, ``move`` and ``get``.

Plain click commands that the main ``medbridge`` group registers lazily
(``medbridge echo``, ``python -m medbridge find``). Each parses its options, calls one
function of `medbridge.dimse.scu`, prints the result, and on error prints one line and
exits non-zero. ``serve`` lives in `medbridge.server.cli`, ``archive`` in
`medbridge.archive.cli`.
"""

from __future__ import annotations

import functools
import ssl
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from medbridge.archive import QueryModel
from medbridge.cliopts import (
    KEY,
    LEVEL,
    WEB,
    fail,
    is_url,
    parse_keys,
    send_target,
    web_client,
    web_peer,
)
from medbridge.console import make_console
from medbridge.dimse import scu
from medbridge.errors import MedbridgeError

__all__ = ["echo", "find", "get", "move", "send"]

_console = make_console()


# -- SCU commands --------------------------------------------------------------------


def _peer_options(func: Any, *, port_type: Any = int) -> Any:
    func = click.option(
        "--aet", default="MEDBRIDGE", show_default=True, help="Our (calling) AE title."
    )(func)
    func = click.option(
        "--aec", default="ANY-SCP", show_default=True, help="The peer's (called) AE title."
    )(func)
    func = click.option(
        "--max-pdu", default=0, show_default=True, help="Largest PDU we receive (0: no limit)."
    )(func)
    func = click.option(
        "--tls-ca",
        type=click.Path(exists=True, path_type=Path),
        help="Speak TLS, trusting this CA file.",
    )(func)
    func = click.option(
        "--tls-cert",
        type=click.Path(exists=True, path_type=Path),
        help="With --tls-ca: our certificate and key (one PEM), for servers that require one.",
    )(func)
    func = click.argument("port", type=port_type, required=False)(func)
    func = click.argument("host")(func)
    return func


def _peer(
    host: str,
    port: int | None,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None = None,
) -> scu.Peer:
    if is_url(host):
        raise click.UsageError(f"{host}: only find, get and send take a DICOMweb URL")
    if port is None:
        raise click.UsageError("missing argument PORT (or give an http(s) URL as HOST)")
    tls = None
    if tls_ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls_ca))
        tls.check_hostname = False  # DICOM peers are known by AE title and address
        if tls_cert is not None:
            tls.load_cert_chain(tls_cert)
    elif tls_cert is not None:
        raise click.UsageError("--tls-cert needs --tls-ca (the CA that signed the server)")
    return scu.Peer(host, port, ae_title=aec, calling_ae_title=aet, max_pdu=max_pdu, tls=tls)


_MODEL = click.option(
    "--patient-root", is_flag=True, help="Use the Patient Root model instead of Study Root."
)


@click.command()
@_peer_options
def echo(
    host: str,
    port: int | None,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
) -> None:
    """Send a C-ECHO to HOST PORT."""
    try:
        status = scu.echo(_peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert))
    except MedbridgeError as exc:
        fail(exc)
    click.echo(f"C-ECHO {aec}@{host}:{port}: status 0x{status:04X}")
    if status:
        sys.exit(1)


@click.command()
@functools.partial(_peer_options, port_type=str)  # after a URL, the first PATH
@WEB
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def send(
    host: str,
    port: str | None,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    token: str | None,
    ca: Path | None,
    paths: tuple[Path, ...],
) -> None:
    """C-STORE the DICOM files under PATHS to HOST PORT, as they are (STOW-RS to a URL)."""
    web, dimse_port, paths = send_target(host, port, paths, token, ca)
    try:
        if web:
            result = web_client().send(web, paths)
        else:
            result = scu.send(_peer(host, dimse_port, aec, aet, max_pdu, tls_ca, tls_cert), paths)
    except MedbridgeError as exc:
        fail(exc)
    for path, reason in result.failed:
        click.echo(f"{path}: {reason}", err=True)
    click.echo(f"sent {result.sent}, failed {len(result.failed)}")
    if result.failed:
        sys.exit(1)


@click.command()
@_peer_options
@WEB
@KEY
@LEVEL
@_MODEL
def find(
    host: str,
    port: int | None,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    token: str | None,
    ca: Path | None,
    keys: tuple[str, ...],
    level: str,
    patient_root: bool,
) -> None:
    """C-FIND at HOST PORT (QIDO-RS at a URL); prints one row per match."""
    model = QueryModel.PATIENT_ROOT if patient_root else QueryModel.STUDY_ROOT
    identifier = parse_keys(keys, level)
    try:
        if web := web_peer(host, port, token, ca):
            answers = web_client().find(web, identifier, model=model)
        else:
            answers = scu.find(
                _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), identifier, model=model
            )
    except MedbridgeError as exc:
        fail(exc)
    columns = [e.keyword for e in identifier if e.keyword != "QueryRetrieveLevel"]
    table = Table(title=f"{len(answers)} matches")
    for col in columns:
        table.add_column(col)
    for ds in answers:
        table.add_row(*[_show(ds.get(col)) for col in columns])
    _console.print(table)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


@click.command()
@_peer_options
@KEY
@LEVEL
@_MODEL
@click.option("--dest", required=True, help="AE title of the move destination.")
def move(
    host: str,
    port: int | None,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    keys: tuple[str, ...],
    level: str,
    patient_root: bool,
    dest: str,
) -> None:
    """C-MOVE the matches at HOST PORT to the AE --dest."""
    model = QueryModel.PATIENT_ROOT if patient_root else QueryModel.STUDY_ROOT
    try:
        result = scu.move(
            _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert),
            parse_keys(keys, level),
            dest,
            model=model,
        )
    except MedbridgeError as exc:
        fail(exc)
    click.echo(
        f"C-MOVE status 0x{result.status:04X}: completed {result.completed}, "
        f"failed {result.failed}, warning {result.warning}"
    )
    if result.status not in (0x0000, 0xB000):
        sys.exit(1)


@click.command()
@_peer_options
@WEB
@KEY
@LEVEL
@_MODEL
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the received files.",
)
def get(
    host: str,
    port: int | None,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    token: str | None,
    ca: Path | None,
    keys: tuple[str, ...],
    level: str,
    patient_root: bool,
    out_dir: Path,
) -> None:
    """C-GET the matches at HOST PORT into --out (QIDO-RS then WADO-RS at a URL)."""
    model = QueryModel.PATIENT_ROOT if patient_root else QueryModel.STUDY_ROOT
    try:
        if web := web_peer(host, port, token, ca):
            result = web_client().get(web, parse_keys(keys, level), out_dir, model=model)
        else:
            result = scu.get(
                _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert),
                parse_keys(keys, level),
                out_dir,
                model=model,
            )
    except MedbridgeError as exc:
        fail(exc)
    click.echo(
        f"C-GET status 0x{result.status:04X}: received {len(result.received)}, "
        f"completed {result.completed}, failed {result.failed}"
    )
    if result.status not in (0x0000, 0xB000):
        sys.exit(1)

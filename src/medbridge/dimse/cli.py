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
from pydicom.dataset import Dataset
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
from medbridge.console import make_console, progress_bar
from medbridge.dimse import scu
from medbridge.errors import MedbridgeError
from medbridge.exitcodes import ExitCode

__all__ = ["echo", "find", "get", "move", "send"]

_console = make_console()
_err = make_console(stderr=True)


# -- SCU commands --------------------------------------------------------------------


#: A peer's TCP port: 1-65535, checked before anything connects (exit status 2).
PORT = click.IntRange(1, 65535)


def _peer_options(func: Any, *, port_type: Any = PORT) -> Any:
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
        sys.exit(ExitCode.ERROR)


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
    """C-STORE the DICOM files under PATHS to HOST PORT, as they are (STOW-RS to a URL).

    Exit status: 0 all sent, 3 some files not sent (listed with the reason), 1 none sent.
    """
    web, dimse_port, paths = send_target(host, port, paths, token, ca)
    files = list(scu.dicom_files(paths))
    if not files:
        fail(MedbridgeError(f"nothing to send: no files under {' '.join(map(str, paths))}"))
    with progress_bar(_err) as bar:
        task = bar.add_task("sending", total=len(files))
        try:
            if web:
                result = web_client().send(web, paths)
            else:
                peer = _peer(host, dimse_port, aec, aet, max_pdu, tls_ca, tls_cert)
                result = scu.send(peer, files, on_file=lambda _p: bar.advance(task))
        except MedbridgeError as exc:
            bar.stop()
            fail(exc)
    for path, reason in result.failed:
        click.echo(f"{path}: {reason}", err=True)
    for path, reason in result.warnings:
        click.echo(f"{path}: {reason}", err=True)
    warned = f" ({len(result.warnings)} with warnings)" if result.warnings else ""
    click.echo(f"sent {result.sent}{warned}, failed {len(result.failed)}")
    if result.failed:
        sys.exit(ExitCode.PARTIAL if result.sent else ExitCode.ERROR)


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
    """C-FIND at HOST PORT (QIDO-RS at a URL); prints one row per match, columns in the order of -k.

    Without -k, the level's unique key and main attributes are asked for and shown.
    """
    model = _model(patient_root)
    identifier = _identifier(keys or default_keys(level), level, patient_root)
    try:
        if web := web_peer(host, port, token, ca):
            answers = web_client().find(web, identifier, model=model)
        else:
            answers = scu.find(
                _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), identifier, model=model
            )
    except MedbridgeError as exc:
        fail(exc)
    columns = key_columns(keys or default_keys(level))
    table = Table(title=f"{len(answers)} {'match' if len(answers) == 1 else 'matches'}")
    for col in columns:
        table.add_column(col)
    for ds in answers:
        table.add_row(*[_show(ds.get(col)) for col in columns])
    _console.print(table)


#: What ``find`` asks for when no -k is given: each level's unique key and what a
#: person looks for first (PS3.4 C.6.1.1 / C.6.2.1 required and common keys).
DEFAULT_KEYS = {
    "PATIENT": (
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
    ),
    "STUDY": (
        "StudyInstanceUID",
        "StudyDate",
        "StudyDescription",
        "PatientName",
        "PatientID",
        "AccessionNumber",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedInstances",
    ),
    "SERIES": (
        "SeriesInstanceUID",
        "SeriesNumber",
        "Modality",
        "SeriesDescription",
        "NumberOfSeriesRelatedInstances",
    ),
    "IMAGE": ("SOPInstanceUID", "InstanceNumber", "SOPClassUID"),
}


def default_keys(level: str) -> tuple[str, ...]:
    """The return keys ``find`` uses at `level` when the user gives none."""
    return DEFAULT_KEYS[level.upper()]


def key_columns(keys: tuple[str, ...]) -> list[str]:
    """The keywords of ``-k`` items in the order given (QueryRetrieveLevel left out)."""
    columns = []
    for item in keys:
        keyword = item.partition("=")[0].strip()
        if keyword != "QueryRetrieveLevel" and keyword not in columns:
            columns.append(keyword)
    return columns


def _model(patient_root: bool) -> QueryModel:
    return QueryModel.PATIENT_ROOT if patient_root else QueryModel.STUDY_ROOT


def _identifier(keys: tuple[str, ...], level: str, patient_root: bool) -> Dataset:
    """The request identifier; PATIENT level without --patient-root is a usage error.

    The Study Root model (the default) has no PATIENT level (PS3.4 C.6.2): a peer
    answers 0xA900, which says nothing about the remedy.
    """
    identifier = parse_keys(keys, level)
    if identifier.QueryRetrieveLevel == "PATIENT" and not patient_root:
        raise click.UsageError(
            "--level PATIENT needs --patient-root: the Study Root model (the default) "
            "starts at STUDY level (PS3.4 C.6.2); query patients with --patient-root, "
            "or use --level STUDY with -k PatientID=..."
        )
    return identifier


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
    """C-MOVE the matches at HOST PORT to the AE --dest.

    Exit status: 0 all moved, 3 some sub-operations failed, 1 none moved or refused.
    """
    identifier = _identifier(keys, level, patient_root)
    peer = _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert)
    with progress_bar(_err) as bar:
        task = bar.add_task("moving", total=None)
        try:
            result = scu.move(
                peer,
                identifier,
                dest,
                model=_model(patient_root),
                on_response=lambda r: bar.update(
                    task, completed=r.total - r.remaining, total=r.total or None
                ),
            )
        except MedbridgeError as exc:
            bar.stop()
            fail(exc)
    _retrieve_report("C-MOVE", result, f"completed {result.completed}")


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
    """C-GET the matches at HOST PORT into --out (QIDO-RS then WADO-RS at a URL).

    Exit status: 0 all received, 3 some sub-operations failed, 1 none received or refused.
    """
    identifier = _identifier(keys, level, patient_root)
    with progress_bar(_err) as bar:
        task = bar.add_task("receiving", total=None)
        try:
            if web := web_peer(host, port, token, ca):
                result = web_client().get(web, identifier, out_dir, model=_model(patient_root))
            else:
                result = scu.get(
                    _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert),
                    identifier,
                    out_dir,
                    model=_model(patient_root),
                    on_response=lambda r: bar.update(
                        task, completed=r.total - r.remaining, total=r.total or None
                    ),
                )
        except MedbridgeError as exc:
            bar.stop()
            fail(exc)
    _retrieve_report("C-GET", result, f"received {len(result.received)}")


def _retrieve_report(what: str, result: scu.RetrieveResult, done: str) -> None:
    """One summary line; the exit status of PS3.4's outcome (success, warning, failure)."""
    counts = f"{done}, failed {result.failed}, warning {result.warning}"
    if result.status == 0x0000 and result.total == 0:
        click.echo(f"error: {what}: nothing matches the keys at the peer", err=True)
        sys.exit(ExitCode.ERROR)
    if result.status in (0x0000, 0xB000):
        click.echo(f"{what} status 0x{result.status:04X}: {counts}")
        if result.status == 0xB000:
            sys.exit(ExitCode.PARTIAL if result.completed else ExitCode.ERROR)
        return
    click.echo(f"error: {what} refused or failed, {result.text}", err=True)
    sys.exit(ExitCode.PARTIAL if result.completed else ExitCode.ERROR)

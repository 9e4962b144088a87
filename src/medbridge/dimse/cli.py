"""Command-line commands of the PACS: ``serve``, ``echo``, ``send``, ``find``, ``move``,
``get`` and the ``archive`` group (``archive check``).

Plain click commands that the main ``medbridge`` group registers lazily
(``medbridge serve``, ``python -m medbridge serve``). Each parses its options, calls one
function of `medbridge.dimse` or `medbridge.archive`, prints the result, and on error
prints one line and exits non-zero.
"""

from __future__ import annotations

import logging
import shutil
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

import click
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from rich.table import Table

from medbridge.archive import Archive, InstanceRef, QueryModel, check
from medbridge.console import make_console
from medbridge.deid.options import policy_options
from medbridge.deid.policy import Policy
from medbridge.deid.runner import anonymize_paths
from medbridge.dimse import scu
from medbridge.dimse.config import load_config
from medbridge.dimse.server import run
from medbridge.errors import MedbridgeError
from medbridge.exitcodes import ExitCode

__all__ = ["archive", "echo", "find", "get", "move", "send", "serve"]

_console = make_console()


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("pynetdicom").setLevel(logging.INFO if verbose > 1 else logging.WARNING)


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


# -- serve -------------------------------------------------------------------------


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="MEDBRIDGE_DATA_DIR",
    help="Folder for files and the SQLite index [default: ./var].",
)
@click.option(
    "--dimse-port",
    type=int,
    envvar="MEDBRIDGE_DIMSE_PORT",
    help="DIMSE port; 0 picks a free one [default: 11112].",
)
@click.option("--ae-title", envvar="MEDBRIDGE_AE_TITLE", help="Our AE title [default: MEDBRIDGE].")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    envvar="MEDBRIDGE_CONFIG",
    help="TOML settings file (see medbridge.dimse.config).",
)
@click.option(
    "--index-url",
    envvar="MEDBRIDGE_INDEX_URL",
    help="SQLAlchemy URL of the index (postgresql+psycopg://...).",
)
@click.option(
    "--duplicates",
    type=click.Choice(["keep", "replace"]),
    envvar="MEDBRIDGE_DUPLICATES",
    help="Policy for resends with other content [default: keep].",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv: every DIMSE message).")
def serve(
    data_dir: Path | None,
    dimse_port: int | None,
    ae_title: str | None,
    config_file: Path | None,
    index_url: str | None,
    duplicates: str | None,
    verbose: int,
) -> None:
    """Run the PACS: DIMSE C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET on one AE."""
    _setup_logging(verbose)
    try:
        config = load_config(
            config_file,
            env=None,
            data_dir=data_dir,
            dimse_port=dimse_port,
            ae_title=ae_title,
            index_url=index_url,
            duplicates=duplicates,
        )
    except MedbridgeError as exc:
        _fail(exc)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(config, stop)
    except (MedbridgeError, OSError) as exc:
        _fail(exc)


# -- SCU commands --------------------------------------------------------------------


def _peer_options(func: Any) -> Any:
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
    func = click.argument("port", type=int)(func)
    func = click.argument("host")(func)
    return func


def _peer(
    host: str,
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None = None,
) -> scu.Peer:
    tls = None
    if tls_ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls_ca))
        tls.check_hostname = False  # DICOM peers are known by AE title and address
        if tls_cert is not None:
            tls.load_cert_chain(tls_cert)
    elif tls_cert is not None:
        raise click.UsageError("--tls-cert needs --tls-ca (the CA that signed the server)")
    return scu.Peer(host, port, ae_title=aec, calling_ae_title=aet, max_pdu=max_pdu, tls=tls)


def parse_keys(keys: tuple[str, ...], level: str) -> Dataset:
    """Build a request identifier from ``KEYWORD=VALUE`` / ``KEYWORD`` strings."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for item in keys:
        keyword, _, value = item.partition("=")
        keyword = keyword.strip()
        if tag_for_keyword(keyword) is None:
            raise click.BadParameter(f"unknown DICOM keyword {keyword!r}", param_hint="-k")
        if keyword == "QueryRetrieveLevel":
            ds.QueryRetrieveLevel = value.upper()
            continue
        vr = dictionary_VR(keyword)
        if vr == "SQ":
            setattr(ds, keyword, [])
        elif value == "" or vr not in ("US", "UL", "SS", "SL", "FL", "FD"):
            setattr(ds, keyword, value or None)
        else:
            setattr(ds, keyword, int(value) if vr in ("US", "UL", "SS", "SL") else float(value))
    return ds


_KEY = click.option(
    "-k",
    "--key",
    "keys",
    multiple=True,
    help="KEYWORD=VALUE to match, or KEYWORD to return (repeatable).",
)
_LEVEL = click.option(
    "--level",
    default="STUDY",
    show_default=True,
    type=click.Choice(["PATIENT", "STUDY", "SERIES", "IMAGE"], case_sensitive=False),
)
_MODEL = click.option(
    "--patient-root", is_flag=True, help="Use the Patient Root model instead of Study Root."
)


@click.command()
@_peer_options
def echo(
    host: str,
    port: int,
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
        _fail(exc)
        return
    click.echo(f"C-ECHO {aec}@{host}:{port}: status 0x{status:04X}")
    if status:
        sys.exit(1)


@click.command()
@_peer_options
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def send(
    host: str,
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    paths: tuple[Path, ...],
) -> None:
    """C-STORE the DICOM files under PATHS to HOST PORT, as they are."""
    try:
        result = scu.send(_peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), paths)
    except MedbridgeError as exc:
        _fail(exc)
        return
    for path, reason in result.failed:
        click.echo(f"{path}: {reason}", err=True)
    click.echo(f"sent {result.sent}, failed {len(result.failed)}")
    if result.failed:
        sys.exit(1)


@click.command()
@_peer_options
@_KEY
@_LEVEL
@_MODEL
def find(
    host: str,
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    keys: tuple[str, ...],
    level: str,
    patient_root: bool,
) -> None:
    """C-FIND at HOST PORT; prints one row per match."""
    model = QueryModel.PATIENT_ROOT if patient_root else QueryModel.STUDY_ROOT
    identifier = parse_keys(keys, level)
    try:
        answers = scu.find(
            _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), identifier, model=model
        )
    except MedbridgeError as exc:
        _fail(exc)
        return
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
@_KEY
@_LEVEL
@_MODEL
@click.option("--dest", required=True, help="AE title of the move destination.")
def move(
    host: str,
    port: int,
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
        _fail(exc)
        return
    click.echo(
        f"C-MOVE status 0x{result.status:04X}: completed {result.completed}, "
        f"failed {result.failed}, warning {result.warning}"
    )
    if result.status not in (0x0000, 0xB000):
        sys.exit(1)


@click.command()
@_peer_options
@_KEY
@_LEVEL
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
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    keys: tuple[str, ...],
    level: str,
    patient_root: bool,
    out_dir: Path,
) -> None:
    """C-GET the matches at HOST PORT into --out."""
    model = QueryModel.PATIENT_ROOT if patient_root else QueryModel.STUDY_ROOT
    try:
        result = scu.get(
            _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert),
            parse_keys(keys, level),
            out_dir,
            model=model,
        )
    except MedbridgeError as exc:
        _fail(exc)
        return
    click.echo(
        f"C-GET status 0x{result.status:04X}: received {len(result.received)}, "
        f"completed {result.completed}, failed {result.failed}"
    )
    if result.status not in (0x0000, 0xB000):
        sys.exit(1)


# -- archive maintenance ---------------------------------------------------------------


@click.group()
def archive() -> None:
    """Maintain the archive's files and index."""


@archive.command("check")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="MEDBRIDGE_DATA_DIR",
    default=Path("./var"),
    show_default=True,
)
@click.option("--index-url", envvar="MEDBRIDGE_INDEX_URL")
@click.option("--repair", is_flag=True, help="Fix what was found.")
@click.option("--no-checksums", is_flag=True, help="Skip hashing every file.")
def check_command(data_dir: Path, index_url: str | None, repair: bool, no_checksums: bool) -> None:
    """Find (and with --repair fix) index/storage mismatches."""
    try:
        with Archive(data_dir, index_url=index_url) as arc:
            report = check(arc, repair=repair, checksums=not no_checksums)
    except MedbridgeError as exc:
        _fail(exc)
        return
    for name in (
        "missing_files",
        "unindexed_files",
        "checksum_mismatches",
        "temp_files",
        "unreadable_files",
    ):
        items = getattr(report, name)
        click.echo(f"{name.replace('_', ' ')}: {len(items)}")
        for item in items[:20]:
            click.echo(f"  {item}")
    if not report.ok and not repair:
        sys.exit(1)
    if report.unreadable_files:
        sys.exit(1)


@archive.command("export")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="MEDBRIDGE_DATA_DIR",
    default=Path("./var"),
    show_default=True,
)
@click.option("--index-url", envvar="MEDBRIDGE_INDEX_URL")
@_LEVEL
@_KEY
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@policy_options(
    switch="--anonymize",
    switch_help="De-identify on the way out (PS3.15 Annex E), as `medbridge anonymize` does.",
)
def export_command(
    data_dir: Path,
    index_url: str | None,
    level: str,
    keys: tuple[str, ...],
    out: Path,
    policy: Policy | None,
) -> None:
    """Copy the stored instances the unique keys select (-k) into --out.

    Plain exports are the stored files, byte for byte, as OUT/<SOP Instance UID>.dcm.
    With --anonymize they go through the same de-identification as `medbridge anonymize`
    (same options, same key, same pseudonyms) into OUT/<study>/<series>/<instance>.dcm,
    and the archive's files are never changed.
    """
    try:
        with Archive(data_dir, index_url=index_url) as arc:
            refs = arc.instances(parse_keys(keys, level))
    except MedbridgeError as exc:
        _fail(exc)
        return
    if not refs:
        _fail(MedbridgeError(f"no stored instance matches {' '.join(keys) or 'the query'}"))
        return
    if policy is None:
        written, failed = _copy_out(refs, out)
    else:
        summary = anonymize_paths([ref.path for ref in refs], out, policy, jobs=1)
        written = summary.count("written")
        failed = len(summary.results) - written
        for result in summary.results:
            if result.status != "written":
                click.echo(f"{result.status}: {result.source}: {result.reason}", err=True)
    click.echo(f"{written} exported, {failed} failed -> {out}")
    if failed:
        sys.exit(ExitCode.PARTIAL if written else ExitCode.ERROR)


def _copy_out(refs: list[InstanceRef], out: Path) -> tuple[int, int]:
    """Copy stored files out by their (validated) SOP Instance UIDs; count copied, failed."""
    out.mkdir(parents=True, exist_ok=True)
    written = failed = 0
    for ref in refs:
        target = out / f"{ref.sop_instance_uid}.dcm"
        try:
            shutil.copyfile(ref.path, target)
        except OSError as exc:
            click.echo(f"failed: {ref.path}: {exc.strerror or exc}", err=True)
            failed += 1
        else:
            written += 1
    return written, failed

"""``medbridge worklist``, ``mpps``, ``commit`` and ``print``: the workflow services.

``worklist add|list|cancel`` and ``print list`` work on the server's archive (its
``--data-dir``, ``--index-url`` or ``--config``), with or without the server running;
``worklist query``, ``mpps`` and ``commit`` are SCUs against any peer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from rich.table import Table

from medbridge.archive import Archive
from medbridge.archive.printing import PrintStore
from medbridge.archive.worklist import Worklist, item_from_json, new_item
from medbridge.cliopts import fail, open_archive
from medbridge.console import make_console
from medbridge.dimse import workflow_scu
from medbridge.dimse.cli import _peer, _peer_options
from medbridge.errors import MedbridgeError, QueryError

__all__ = ["commit", "mpps", "print_group", "worklist"]

_console = make_console()


def _archive_options(func: Any) -> Any:
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, path_type=Path),
        envvar="MEDBRIDGE_CONFIG",
        help="The server's TOML settings (its data_dir and index_url).",
    )(func)
    func = click.option("--index-url", envvar="MEDBRIDGE_INDEX_URL")(func)
    func = click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        envvar="MEDBRIDGE_DATA_DIR",
        help="The server's data folder [default: ./var].",
    )(func)
    return func


def _open(
    data_dir: Path | None, index_url: str | None, config_file: Path | None, *, create: bool = False
) -> Archive:
    return open_archive(config_file, data_dir, index_url, create=create)


def _print_rows(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[_cell(row.get(col)) for col in columns])
    _console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


# -- worklist -----------------------------------------------------------------------


@click.group()
def worklist() -> None:
    """The Modality Worklist: schedule, list, cancel steps; query any worklist SCP."""


@worklist.command("add")
@_archive_options
@click.option(
    "--json",
    "json_file",
    type=click.Path(exists=True, path_type=Path),
    help="A worklist item (or a list of them) in DICOM JSON (PS3.18 F), as findscu -W shows it.",
)
@click.option("--patient-id")
@click.option("--patient-name", default="", help="DICOM PN, e.g. DOE^JANE.")
@click.option("--birth-date", default="", help="YYYYMMDD.")
@click.option("--sex", default="", type=click.Choice(["", "M", "F", "O"]))
@click.option("--accession", default="")
@click.option("--requested-procedure-id", default="")
@click.option("--procedure-description", default="")
@click.option("--study-uid", default="", help="Study Instance UID [default: generated].")
@click.option("--step-id", default="", help="Scheduled Procedure Step ID [default: generated].")
@click.option("--station-ae", default="", help="Scheduled Station AE Title.")
@click.option("--station-name", default="")
@click.option("--modality")
@click.option("--start-date", default="", help="YYYYMMDD.")
@click.option("--start-time", default="", help="HHMM or HHMMSS.")
@click.option("--physician", default="", help="Scheduled Performing Physician's Name.")
@click.option("--step-description", default="")
def worklist_add(
    data_dir: Path | None,
    index_url: str | None,
    config_file: Path | None,
    json_file: Path | None,
    patient_id: str | None,
    modality: str | None,
    **values: str,
) -> None:
    """Schedule a step: from options, or from a DICOM JSON file (--json)."""
    try:
        if json_file is not None:
            doc = json.loads(json_file.read_text(encoding="utf-8"))
            items = [item_from_json(d) for d in (doc if isinstance(doc, list) else [doc])]
        else:
            if not patient_id or not modality:
                raise click.UsageError("--patient-id and --modality are needed (or --json)")
            items = [
                new_item(
                    patient_id=patient_id,
                    patient_name=values["patient_name"],
                    birth_date=values["birth_date"],
                    sex=values["sex"],
                    accession=values["accession"],
                    requested_procedure_id=values["requested_procedure_id"],
                    procedure_description=values["procedure_description"],
                    study_uid=values["study_uid"],
                    step_id=values["step_id"],
                    station_ae=values["station_ae"],
                    station_name=values["station_name"],
                    modality=modality,
                    start_date=values["start_date"],
                    start_time=values["start_time"],
                    physician=values["physician"],
                    step_description=values["step_description"],
                )
            ]
        with _open(data_dir, index_url, config_file, create=True) as arc:
            wl = Worklist(arc.index)
            ids = [wl.add(item) for item in items]
    except (MedbridgeError, json.JSONDecodeError, OSError) as exc:
        fail(exc)
    for pk in ids:
        click.echo(f"scheduled step {pk}")


@worklist.command("list")
@_archive_options
@click.option("--state", help="SCHEDULED, IN PROGRESS, COMPLETED, DISCONTINUED or CANCELLED.")
@click.option("--station", help="Scheduled Station AE Title.")
@click.option("--date", help="Start date YYYYMMDD or a range YYYYMMDD-YYYYMMDD.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one object per step.")
def worklist_list(
    data_dir: Path | None,
    index_url: str | None,
    config_file: Path | None,
    state: str | None,
    station: str | None,
    date: str | None,
    as_json: bool,
) -> None:
    """List the scheduled steps with their state (as their MPPS reported it)."""
    try:
        with _open(data_dir, index_url, config_file) as arc:
            entries = Worklist(arc.index).entries(state=state, station=station, date=date)
    except MedbridgeError as exc:
        fail(exc)
    rows = [e.summary() for e in entries]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    columns = [
        "id",
        "State",
        "PatientID",
        "PatientName",
        "AccessionNumber",
        "Modality",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledProcedureStepID",
        "PerformedSeries",
    ]
    _print_rows(rows, columns, f"{len(rows)} steps")


@worklist.command("cancel")
@_archive_options
@click.argument("step", type=int)
def worklist_cancel(
    data_dir: Path | None, index_url: str | None, config_file: Path | None, step: int
) -> None:
    """Cancel scheduled step STEP (its id in `worklist list`)."""
    try:
        with _open(data_dir, index_url, config_file) as arc:
            Worklist(arc.index).cancel(step)
    except MedbridgeError as exc:
        fail(exc)
    click.echo(f"cancelled step {step}")


#: Keys inside the Scheduled Procedure Step Sequence (PS3.4 Table K.6-1).
_STEP_KEYS = (
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "Modality",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "ScheduledStationName",
    "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepID",
)
_ITEM_KEYS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "RequestedProcedureID",
    "RequestedProcedureDescription",
    "StudyInstanceUID",
    "ReferringPhysicianName",
)


def worklist_identifier(keys: tuple[str, ...]) -> Dataset:
    """An MWL identifier: the standard return keys, with ``-k KEYWORD=VALUE`` matching.

    Step keys (Modality, ScheduledStationAETitle, dates...) go inside the Scheduled
    Procedure Step Sequence, the others at the top, as PS3.4 Table K.6-1 places them.
    """
    ds = Dataset()
    sps = Dataset()
    for kw in _ITEM_KEYS:
        setattr(ds, kw, "")
    for kw in _STEP_KEYS:
        setattr(sps, kw, "")
    for item in keys:
        keyword, _, value = item.partition("=")
        keyword = keyword.strip()
        target = sps if keyword in _STEP_KEYS else ds
        try:
            setattr(target, keyword, value)
        except (ValueError, TypeError, AttributeError) as exc:
            raise QueryError(f"-k {item!r}: {exc}") from None
        if keyword not in target:
            raise QueryError(f"-k {item!r}: not a DICOM keyword")
    ds.ScheduledProcedureStepSequence = [sps]
    return ds


@worklist.command("query")
@_peer_options
@click.option("-k", "--key", "keys", multiple=True, help="KEYWORD=VALUE to match (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="DICOM JSON, one item per line.")
def worklist_query(
    host: str,
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    keys: tuple[str, ...],
    as_json: bool,
) -> None:
    """Query the Modality Worklist at HOST PORT (e.g. -k Modality=CT -k
    ScheduledStationAETitle=CT1 -k ScheduledProcedureStepStartDate=20260101-)."""
    try:
        identifier = worklist_identifier(keys)
        answers = workflow_scu.worklist_query(
            _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), identifier
        )
    except MedbridgeError as exc:
        fail(exc)
    if as_json:
        for ds in answers:
            click.echo(ds.to_json())
        return
    rows = []
    for ds in answers:
        sps = (
            ds.ScheduledProcedureStepSequence[0]
            if ds.get("ScheduledProcedureStepSequence")
            else Dataset()
        )
        rows.append(
            {
                "PatientID": ds.get("PatientID", ""),
                "PatientName": ds.get("PatientName", ""),
                "AccessionNumber": ds.get("AccessionNumber", ""),
                "Modality": sps.get("Modality", ""),
                "ScheduledStationAETitle": sps.get("ScheduledStationAETitle", ""),
                "Start": f"{sps.get('ScheduledProcedureStepStartDate', '')} "
                f"{sps.get('ScheduledProcedureStepStartTime', '')}",
                "ScheduledProcedureStepID": sps.get("ScheduledProcedureStepID", ""),
                "StudyInstanceUID": ds.get("StudyInstanceUID", ""),
            }
        )
    _print_rows(rows, list(rows[0]) if rows else ["PatientID"], f"{len(rows)} scheduled steps")


# -- mpps -----------------------------------------------------------------------------


@click.group()
def mpps() -> None:
    """Report Modality Performed Procedure Steps to an MPPS SCP (start, complete, discontinue)."""


def _report(status: int, what: str) -> None:
    click.echo(f"{what}: status 0x{status:04X}")
    if status not in (0x0000, 0xB000):
        sys.exit(1)


@mpps.command("start")
@_peer_options
@click.option("--patient-id", required=True)
@click.option("--patient-name", default="")
@click.option("--study-uid", required=True, help="The scheduled step's Study Instance UID.")
@click.option("--step-id", default="", help="The Scheduled Procedure Step ID it performs.")
@click.option("--accession", default="")
@click.option("--modality", required=True)
@click.option("--station-ae", default="", help="Performed Station AE Title [default: --aet].")
@click.option("--uid", default="", help="The MPPS SOP Instance UID [default: generated].")
def mpps_start(
    host: str,
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    patient_id: str,
    patient_name: str,
    study_uid: str,
    step_id: str,
    accession: str,
    modality: str,
    station_ae: str,
    uid: str,
) -> None:
    """N-CREATE an MPPS IN PROGRESS for a scheduled step; prints its UID."""
    from datetime import datetime

    now = datetime.now()
    ds = Dataset()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    step = Dataset()
    step.StudyInstanceUID = study_uid
    step.ScheduledProcedureStepID = step_id
    step.AccessionNumber = accession
    ds.ScheduledStepAttributesSequence = [step]
    ds.PerformedProcedureStepID = generate_uid()[-16:]
    ds.PerformedStationAETitle = station_ae or aet
    ds.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.Modality = modality
    ds.PerformedSeriesSequence = []
    try:
        status, sop_uid = workflow_scu.mpps_create(
            _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), ds, uid or None
        )
    except MedbridgeError as exc:
        fail(exc)
    click.echo(sop_uid)
    _report(status, "N-CREATE")


def _final(state: str) -> Callable[..., None]:
    def command(
        host: str,
        port: int,
        aec: str,
        aet: str,
        max_pdu: int,
        tls_ca: Path | None,
        tls_cert: Path | None,
        uid: str,
        series: tuple[Path, ...],
    ) -> None:
        from datetime import datetime

        from pydicom import dcmread

        from medbridge.dimse.scu import dicom_files

        now = datetime.now()
        ds = Dataset()
        ds.PerformedProcedureStepStatus = state
        ds.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
        ds.PerformedProcedureStepEndTime = now.strftime("%H%M%S")
        by_series: dict[str, Dataset] = {}
        try:
            for path in dicom_files(list(series)):
                inst = dcmread(path, stop_before_pixels=True)
                item = by_series.get(str(inst.SeriesInstanceUID))
                if item is None:
                    item = Dataset()
                    item.SeriesInstanceUID = inst.SeriesInstanceUID
                    item.SeriesDescription = inst.get("SeriesDescription", "")
                    item.PerformingPhysicianName = ""
                    item.OperatorsName = ""
                    item.ProtocolName = inst.get("ProtocolName", "")
                    item.RetrieveAETitle = ""
                    item.ReferencedImageSequence = []
                    by_series[str(inst.SeriesInstanceUID)] = item
                ref = Dataset()
                ref.ReferencedSOPClassUID = inst.SOPClassUID
                ref.ReferencedSOPInstanceUID = inst.SOPInstanceUID
                item.ReferencedImageSequence.append(ref)
        except Exception as exc:
            fail(exc)
        ds.PerformedSeriesSequence = list(by_series.values())
        try:
            status = workflow_scu.mpps_set(
                _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert), uid, ds
            )
        except MedbridgeError as exc:
            fail(exc)
        _report(status, f"N-SET {state}")

    command.__doc__ = f"N-SET the MPPS UID to {state}, listing the series of the files given."
    return command


for _state in ("COMPLETED", "DISCONTINUED"):
    _cmd = _final(_state)
    _cmd = click.argument("series", nargs=-1, type=click.Path(exists=True, path_type=Path))(_cmd)
    _cmd = click.argument("uid")(_cmd)
    _cmd = _peer_options(_cmd)
    mpps.command("complete" if _state == "COMPLETED" else "discontinue")(_cmd)


# -- commit ---------------------------------------------------------------------------


@click.command()
@_peer_options
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--listen-port",
    type=int,
    help="Also take the report on an association the peer opens to this port "
    "(peers such as Orthanc report that way).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the report.")
def commit(
    host: str,
    port: int,
    aec: str,
    aet: str,
    max_pdu: int,
    tls_ca: Path | None,
    tls_cert: Path | None,
    paths: tuple[Path, ...],
    listen_port: int | None,
    timeout: float,
) -> None:
    """Ask HOST PORT to commit to the instances in PATHS (Storage Commitment, PS3.4 J)."""
    try:
        refs = workflow_scu.references_of(list(paths))
        outcome = workflow_scu.commit(
            _peer(host, port, aec, aet, max_pdu, tls_ca, tls_cert),
            refs,
            listen_port=listen_port,
            timeout=timeout,
        )
    except MedbridgeError as exc:
        fail(exc)
    if outcome.action_status != 0x0000:
        click.echo(f"N-ACTION refused: status 0x{outcome.action_status:04X}", err=True)
        sys.exit(1)
    if not outcome.reported:
        click.echo(
            f"no report for transaction {outcome.transaction_uid} in {timeout:g} s", err=True
        )
        sys.exit(1)
    for sop_class, sop_uid, reason in outcome.failed:
        click.echo(f"failed {sop_uid} ({sop_class}): reason 0x{reason:04X}")
    click.echo(
        f"transaction {outcome.transaction_uid}: committed {len(outcome.committed)}, "
        f"failed {len(outcome.failed)}"
    )
    if outcome.failed:
        sys.exit(3)


# -- print ----------------------------------------------------------------------------


@click.group("print")
def print_group() -> None:
    """Films printed to the archive (Basic Grayscale/Color Print Management)."""


@print_group.command("list")
@_archive_options
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one object per film.")
def print_list(
    data_dir: Path | None, index_url: str | None, config_file: Path | None, as_json: bool
) -> None:
    """List the printed films and their PNG and PDF files."""
    try:
        with _open(data_dir, index_url, config_file) as arc:
            films = PrintStore(arc.index, arc.data_dir).films()
    except MedbridgeError as exc:
        fail(exc)
    rows = [f.summary() for f in films]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    columns = ["FilmBoxUID", "CallingAE", "ImageDisplayFormat", "FilmOrientation", "Images", "PDF"]
    _print_rows(rows, columns, f"{len(rows)} films")

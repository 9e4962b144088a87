"""The Modality Worklist held in the index: scheduled steps, their matching and answers.

A worklist item (PS3.4 K.6.1.1.3) is one Scheduled Procedure Step with its Requested
Procedure, Imaging Service Request, Visit and Patient attributes. Each item is stored
whole as DICOM JSON (PS3.18 F) beside columns for the matching keys of PS3.4 K.6.1.2.1
(Scheduled Station AE Title, Modality, Scheduled Procedure Step Start Date and Time,
Scheduled Performing Physician's Name, Patient's Name, Patient ID, Accession Number,
Requested Procedure ID), so a station's query is one indexed SQL statement; keys without
a column are matched on the stored item, with the same rules (PS3.4 C.2.2.2).

An item holds exactly one step in its (0040,0100) 'Scheduled Procedure Step Sequence'
(PS3.4 K.6.1.1.3: "one item per Scheduled Procedure Step"); a request with several
steps is stored as several items.
"""

from __future__ import annotations

import fnmatch
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from medbridge.archive.query import _search_range, _search_single_value, _search_wildcard
from medbridge.archive.workflow_tables import mwl_step, performed_series
from medbridge.errors import InvalidDicomError, NotFoundError, QueryError

if TYPE_CHECKING:
    from medbridge.archive.index import Index

__all__ = [
    "STATES",
    "Worklist",
    "WorklistEntry",
    "item_from_json",
    "item_to_json",
    "new_item",
    "normalise_item",
]

LOGGER = logging.getLogger(__name__)

#: A step's states: scheduled; then as its MPPS reports (PS3.3 C.4.14); or cancelled here.
STATES = ("SCHEDULED", "IN PROGRESS", "COMPLETED", "DISCONTINUED", "CANCELLED")

_SPS = "ScheduledProcedureStepSequence"

#: Step-level matching keys (inside the SPS item) → column.
_STEP_COLUMNS: dict[str, Any] = {
    "ScheduledStationAETitle": mwl_step.c.station_ae,
    "ScheduledStationName": mwl_step.c.station_name,
    "Modality": mwl_step.c.modality,
    "ScheduledProcedureStepStartDate": mwl_step.c.start_date,
    "ScheduledProcedureStepStartTime": mwl_step.c.start_time,
    "ScheduledPerformingPhysicianName": mwl_step.c.physician_upper,
    "ScheduledProcedureStepID": mwl_step.c.step_id,
}
#: Item-level matching keys → column.
_ITEM_COLUMNS: dict[str, Any] = {
    "PatientID": mwl_step.c.patient_id,
    "PatientName": mwl_step.c.patient_name_upper,
    "AccessionNumber": mwl_step.c.accession_number,
    "RequestedProcedureID": mwl_step.c.requested_procedure_id,
    "StudyInstanceUID": mwl_step.c.study_instance_uid,
}
#: Attributes that describe the request, not the data (PS3.4 C.4.1.1.3.2).
_CONTROL = {"SpecificCharacterSet", "TimezoneOffsetFromUTC", "QueryRetrieveLevel"}


@dataclass(frozen=True)
class WorklistEntry:
    """One stored step as listed by ``medbridge worklist list`` and ``GET /api/worklist``."""

    pk: int
    state: str
    mpps_uid: str | None
    item: Dataset
    performed_series: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The listing's columns, by DICOM keyword (plus ``id``, ``State``, ``MPPS``)."""
        sps = self.item[_SPS][0] if _SPS in self.item and self.item[_SPS].value else Dataset()
        return {
            "id": self.pk,
            "State": self.state,
            "PatientID": str(self.item.get("PatientID", "")),
            "PatientName": str(self.item.get("PatientName", "")),
            "AccessionNumber": str(self.item.get("AccessionNumber", "")),
            "RequestedProcedureID": str(self.item.get("RequestedProcedureID", "")),
            "StudyInstanceUID": str(self.item.get("StudyInstanceUID", "")),
            "ScheduledProcedureStepID": str(sps.get("ScheduledProcedureStepID", "")),
            "ScheduledStationAETitle": _text(sps.get("ScheduledStationAETitle", "")),
            "Modality": str(sps.get("Modality", "")),
            "ScheduledProcedureStepStartDate": str(sps.get("ScheduledProcedureStepStartDate", "")),
            "ScheduledProcedureStepStartTime": str(sps.get("ScheduledProcedureStepStartTime", "")),
            "MPPS": self.mpps_uid or "",
            "PerformedSeries": list(self.performed_series),
        }


def _text(value: Any) -> str:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value or "")


def item_from_json(text: str | dict[str, Any]) -> Dataset:
    """Read one worklist item written in DICOM JSON (PS3.18 F.2).

    Raises
    ------
    InvalidDicomError
        If the text is not a DICOM JSON object.
    """
    try:
        doc = json.loads(text) if isinstance(text, str) else text
        if not isinstance(doc, dict):
            raise ValueError("a worklist item is a JSON object of tags")
        return Dataset.from_json(doc)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidDicomError(f"not a DICOM JSON worklist item: {exc}") from exc


def item_to_json(item: Dataset) -> str:
    """The DICOM JSON of an item (PS3.18 F.2), as the index keeps it."""
    return item.to_json()


def item_to_bytes(item: Dataset) -> bytes:
    """The item encoded in Explicit VR Little Endian, as the index keeps it for C-FIND.

    Answers are cut from these bytes: pydicom reads them lazily and the requested
    elements are copied raw, never decoded and encoded again.
    """
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, item)
    return fp.getvalue()


def item_from_bytes(data: bytes) -> Dataset:
    """Read what `item_to_bytes` wrote (lazily: elements stay raw until used)."""
    return read_dataset(io.BytesIO(data), False, True)


def _upper_name(value: Any) -> str:
    return str(value or "").upper()


def _check_date(value: str, keyword: str) -> str:
    value = value.strip()
    if value and (len(value) != 8 or not value.isdigit()):
        raise InvalidDicomError(f"{keyword} {value!r} is not a date (DA: YYYYMMDD)")
    if value:
        try:
            datetime.strptime(value, "%Y%m%d")
        except ValueError:
            raise InvalidDicomError(f"{keyword} {value!r} is not a calendar date") from None
    return value


def _check_time(value: str, keyword: str) -> str:
    value = value.strip().replace(":", "")
    head = value.split(".")[0]
    if value and (not head.isdigit() or len(head) not in (2, 4, 6)):
        raise InvalidDicomError(f"{keyword} {value!r} is not a time (TM: HHMMSS)")
    if head and (int(head[:2]) > 23 or (len(head) >= 4 and int(head[2:4]) > 59)):
        raise InvalidDicomError(f"{keyword} {value!r} is not a time of day")
    return value


def normalise_item(item: Dataset) -> Dataset:
    """Check a new item and fill in what the SCP generates; return it.

    The item needs (0010,0020) 'Patient ID' and one step in (0040,0100) with (0008,0060)
    'Modality' and a valid (0040,0002) start date; a missing Study Instance UID,
    Scheduled Procedure Step ID or Requested Procedure ID is generated, as an RIS would.

    Raises
    ------
    InvalidDicomError
        If a required attribute is missing or a date or time is malformed.
    """
    if not str(item.get("PatientID", "")).strip():
        raise InvalidDicomError("the worklist item has no (0010,0020) 'Patient ID'")
    if _SPS not in item or len(item[_SPS].value) != 1:
        raise InvalidDicomError(
            "the worklist item needs exactly one item in (0040,0100) "
            "'Scheduled Procedure Step Sequence'"
        )
    sps = item[_SPS][0]
    if not str(sps.get("Modality", "")).strip():
        raise InvalidDicomError("the scheduled step has no (0008,0060) 'Modality'")
    _check_date(
        str(sps.get("ScheduledProcedureStepStartDate", "")), "ScheduledProcedureStepStartDate"
    )
    _check_time(
        str(sps.get("ScheduledProcedureStepStartTime", "")), "ScheduledProcedureStepStartTime"
    )
    if not str(item.get("StudyInstanceUID", "")).strip():
        item.StudyInstanceUID = generate_uid()
    if not str(sps.get("ScheduledProcedureStepID", "")).strip():
        sps.ScheduledProcedureStepID = str(item.StudyInstanceUID).split(".")[-1][-16:]
    if not str(item.get("RequestedProcedureID", "")).strip():
        item.RequestedProcedureID = str(sps.ScheduledProcedureStepID)
    if "ScheduledProcedureStepStatus" not in sps:
        sps.ScheduledProcedureStepStatus = "SCHEDULED"
    item.SpecificCharacterSet = "ISO_IR 192"
    return item


def _row_values(item: Dataset) -> dict[str, Any]:
    """The item's matching columns; a value longer than its VR allows is refused.

    Raises
    ------
    InvalidDicomError
        If a value exceeds its column (its VR's maximum length, PS3.5 6.2).
    """
    values = _columns_of(item)
    for key, value in values.items():
        limit = getattr(mwl_step.c[key].type, "length", None)
        if limit is not None and len(value) > limit:
            name = _KEYWORDS.get(key, key)
            raise InvalidDicomError(f"{name} {value[:40]!r} is longer than {limit} characters")
    return values


_KEYWORDS = {
    "study_instance_uid": "StudyInstanceUID",
    "step_id": "ScheduledProcedureStepID",
    "requested_procedure_id": "RequestedProcedureID",
    "accession_number": "AccessionNumber",
    "patient_id": "PatientID",
    "patient_name": "PatientName",
    "patient_name_upper": "PatientName",
    "station_ae": "ScheduledStationAETitle",
    "station_name": "ScheduledStationName",
    "modality": "Modality",
    "start_date": "ScheduledProcedureStepStartDate",
    "start_time": "ScheduledProcedureStepStartTime",
    "physician_upper": "ScheduledPerformingPhysicianName",
}


def _columns_of(item: Dataset) -> dict[str, Any]:
    sps = item[_SPS][0]
    return {
        "study_instance_uid": str(item.StudyInstanceUID),
        "step_id": str(sps.ScheduledProcedureStepID),
        "requested_procedure_id": str(item.get("RequestedProcedureID", "")),
        "accession_number": str(item.get("AccessionNumber", "")),
        "patient_id": str(item.PatientID),
        "patient_name": str(item.get("PatientName", "")),
        "patient_name_upper": _upper_name(item.get("PatientName", "")),
        "station_ae": _text(sps.get("ScheduledStationAETitle", "")),
        "station_name": str(sps.get("ScheduledStationName", "")),
        "modality": str(sps.Modality),
        "start_date": str(sps.get("ScheduledProcedureStepStartDate", "")),
        "start_time": str(sps.get("ScheduledProcedureStepStartTime", "")).replace(":", ""),
        "physician_upper": _upper_name(sps.get("ScheduledPerformingPhysicianName", "")),
    }


class Worklist:
    """The worklist of one archive index: add, list, cancel and C-FIND matching."""

    def __init__(self, index: Index) -> None:
        self.index = index

    # -- management ----------------------------------------------------------------

    def add(self, item: Dataset) -> int:
        """Store one scheduled step; return its id (the ``cancel`` argument).

        Raises
        ------
        InvalidDicomError
            If the item is incomplete or malformed (see `normalise_item`).
        QueryError
            If a step with the same Study Instance UID and Step ID exists.
        """
        item = normalise_item(item)
        values = _row_values(item)
        now = datetime.now(UTC)
        try:
            with self.index.write() as conn:
                result = conn.execute(
                    mwl_step.insert().values(
                        **values,
                        state="SCHEDULED",
                        dataset=item_to_json(item),
                        encoded=item_to_bytes(item),
                        created_at=now,
                    )
                )
                pk = result.inserted_primary_key
        except sa.exc.IntegrityError:
            raise QueryError(
                f"step {values['step_id']} of study {values['study_instance_uid']} "
                "is scheduled already"
            ) from None
        assert pk is not None
        return int(pk[0])

    def add_many(self, items: Sequence[Dataset]) -> int:
        """Store many steps in one transaction (a day's schedule); return how many."""
        now = datetime.now(UTC)
        rows = []
        for item in items:
            item = normalise_item(item)
            rows.append(
                {
                    **_row_values(item),
                    "state": "SCHEDULED",
                    "dataset": item_to_json(item),
                    "encoded": item_to_bytes(item),
                    "created_at": now,
                    "mpps_uid": None,
                }
            )
        if rows:
            with self.index.write() as conn:
                conn.execute(mwl_step.insert(), rows)
        return len(rows)

    def entries(
        self, *, state: str | None = None, station: str | None = None, date: str | None = None
    ) -> list[WorklistEntry]:
        """The stored steps (all states unless `state`), oldest first."""
        stmt = sa.select(mwl_step).order_by(mwl_step.c.pk)
        if state:
            stmt = stmt.where(mwl_step.c.state == state.upper())
        if station:
            stmt = stmt.where(mwl_step.c.station_ae == station)
        if date:
            stmt = stmt.where(
                _search_range(mwl_step.c.start_date, date, "DA")
                if "-" in date
                else mwl_step.c.start_date == date
            )
        with self.index.read() as conn:
            rows = conn.execute(stmt).mappings().all()
            links = conn.execute(
                sa.select(performed_series.c.step_pk, performed_series.c.series_instance_uid)
            ).all()
        series: dict[int, list[str]] = {}
        for step_pk, uid in links:
            if step_pk is not None:
                series.setdefault(int(step_pk), []).append(str(uid))
        return [
            WorklistEntry(
                pk=int(r["pk"]),
                state=str(r["state"]),
                mpps_uid=r["mpps_uid"],
                item=item_from_json(r["dataset"]),
                performed_series=tuple(series.get(int(r["pk"]), ())),
            )
            for r in rows
        ]

    def cancel(self, step: int) -> None:
        """Cancel a scheduled step: it no longer answers worklist queries.

        Raises
        ------
        NotFoundError
            If no step has this id.
        QueryError
            If the step is no longer scheduled (an MPPS is in progress or done).
        """
        with self.index.write() as conn:
            state = conn.execute(
                sa.select(mwl_step.c.state).where(mwl_step.c.pk == step)
            ).scalar_one_or_none()
            if state is None:
                raise NotFoundError(f"no worklist step with id {step}")
            if state != "SCHEDULED":
                raise QueryError(f"worklist step {step} is {state}, not SCHEDULED")
            conn.execute(mwl_step.update().where(mwl_step.c.pk == step).values(state="CANCELLED"))

    # -- C-FIND --------------------------------------------------------------------

    def find(self, identifier: Dataset) -> Iterator[Dataset]:
        """Yield the MWL C-FIND answers to a request identifier (PS3.4 K.6.1).

        Only scheduled steps (not cancelled, not yet started) are offered, as a
        modality's worklist should. Each answer holds every key of the request: the
        stored value, or empty; sequence keys with their requested sub-keys
        (PS3.4 C.2.2.2.6: an empty item asks for every attribute of the items).

        Raises
        ------
        QueryError
            If a matching key's value is malformed (a date range that is not one).
        """
        stmt = sa.select(mwl_step.c.encoded).where(mwl_step.c.state == "SCHEDULED")
        leftovers: list[tuple[tuple[str, ...], DataElement]] = []
        for path, elem in _matching_keys(identifier):
            column = (_STEP_COLUMNS if len(path) == 2 else _ITEM_COLUMNS).get(path[-1])
            clause = _clause(column, elem) if column is not None else None
            if clause is None:
                leftovers.append((path, elem))
            else:
                stmt = stmt.where(clause)
        stmt = stmt.order_by(mwl_step.c.start_date, mwl_step.c.start_time, mwl_step.c.pk)
        with self.index.read() as conn:
            rows = conn.execute(stmt).scalars().all()
        for blob in rows:
            item = item_from_bytes(blob)
            if all(_matches_item(item, path, elem) for path, elem in leftovers):
                yield _answer(identifier, item)

    # -- MPPS ----------------------------------------------------------------------

    def step_for(
        self, conn: sa.Connection, study_uid: str, step_id: str, accession: str
    ) -> int | None:
        """The pk of the step an MPPS's Scheduled Step Attributes item names, if any."""
        stmt = sa.select(mwl_step.c.pk)
        if study_uid and step_id:
            stmt = stmt.where(
                mwl_step.c.study_instance_uid == study_uid, mwl_step.c.step_id == step_id
            )
        elif study_uid:
            stmt = stmt.where(mwl_step.c.study_instance_uid == study_uid)
        elif accession and step_id:
            stmt = stmt.where(
                mwl_step.c.accession_number == accession, mwl_step.c.step_id == step_id
            )
        else:
            return None
        found = conn.execute(stmt.order_by(mwl_step.c.pk)).scalars().first()
        return int(found) if found is not None else None


def _matching_keys(identifier: Dataset) -> Iterator[tuple[tuple[str, ...], DataElement]]:
    """The keys with a value: top-level ones, and those inside the first SPS item."""
    for elem in identifier:
        if not elem.keyword or elem.keyword in _CONTROL or elem.tag.group in (0, 2):
            continue
        if elem.VR == "SQ":
            if elem.keyword == _SPS and elem.value:
                for sub in elem.value[0]:
                    if sub.VR != "SQ" and _value(sub):
                        yield (_SPS, sub.keyword), sub
            continue
        if _value(elem):
            yield (elem.keyword,), elem


def _value(elem: DataElement) -> str:
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return value.decode("ascii", "replace").strip("\x00 ")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _clause(column: Any, elem: DataElement) -> sa.ColumnElement[bool] | None:
    """The SQL condition of one matching key (PS3.4 C.2.2.2), None for universal."""
    value = _value(elem)
    if value in ("", "*"):
        return sa.true()
    vr = elem.VR if elem.VR != "UN" else dictionary_VR(elem.tag)
    if vr in ("DA", "TM"):
        if "-" in value:
            lower, _, upper = value.partition("-")
            for part in (lower, upper):
                _check_temporal(part, vr, elem.keyword)
            return _search_range(column, value, vr)
        _check_temporal(value, vr, elem.keyword)
    if vr == "PN":
        value = value.upper()
    if vr == "UI":
        uids = [u for u in value.split("\\") if u]
        return column.in_(uids) if len(uids) > 1 else column == uids[0]  # type: ignore[no-any-return]
    if "*" in value or "?" in value:
        return _search_wildcard(column, value)
    return _search_single_value(column, value, vr)


def _check_temporal(value: str, vr: str, keyword: str) -> None:
    try:
        if vr == "DA":
            _check_date(value.replace(".", ""), keyword)
        else:
            _check_time(value, keyword)
    except InvalidDicomError as exc:
        raise QueryError(str(exc)) from None


def _matches_item(item: Dataset, path: tuple[str, ...], elem: DataElement) -> bool:
    """Match a key without a column on the stored item (single value or wildcard)."""
    holder = item
    if len(path) == 2:
        if _SPS not in item or not item[_SPS].value:
            return False
        holder = item[_SPS][0]
    if path[-1] not in holder:
        return False  # a key with a value matches only entities that have one
    have = _value(holder[path[-1]])
    want = _value(elem)
    if not have:
        return False
    if elem.VR == "PN":
        have, want = have.upper(), want.upper()
    if "*" in want or "?" in want:
        return fnmatch.fnmatchcase(have, want.replace("[", "[[]"))
    return any(have == w for w in want.split("\\"))


def _answer(identifier: Dataset, item: Dataset) -> Dataset:
    """The response identifier: each requested key with its stored value, or empty."""
    out = Dataset()
    out.SpecificCharacterSet = "ISO_IR 192"
    for elem in identifier:
        if not elem.keyword or elem.tag.group in (0, 2) or elem.keyword == "SpecificCharacterSet":
            continue
        out[elem.tag] = _returned(elem, item)
    return out


def _returned(elem: DataElement, holder: Dataset) -> DataElement | RawDataElement:
    """The stored element a key asks for: raw as stored, or empty; sequences by sub-keys."""
    if elem.VR != "SQ":
        raw = holder.get_item(elem.tag)
        return raw if raw is not None else DataElement(elem.tag, elem.VR, None)
    stored = holder.get(elem.tag)
    if stored is None or stored.VR != "SQ":
        return DataElement(elem.tag, "SQ", DicomSequence([]))
    wanted = elem.value[0] if elem.value else None
    if wanted is None or len(wanted) == 0:
        return DataElement(elem.tag, "SQ", DicomSequence(list(stored.value)))
    items = []
    for got in stored.value:
        sub = Dataset()
        for key in wanted:
            sub[key.tag] = _returned(key, got)
        items.append(sub)
    return DataElement(elem.tag, "SQ", DicomSequence(items))


def new_item(
    *,
    patient_id: str,
    patient_name: str = "",
    birth_date: str = "",
    sex: str = "",
    accession: str = "",
    requested_procedure_id: str = "",
    procedure_description: str = "",
    study_uid: str = "",
    step_id: str = "",
    station_ae: str = "",
    station_name: str = "",
    modality: str,
    start_date: str = "",
    start_time: str = "",
    physician: str = "",
    step_description: str = "",
    referring_physician: str = "",
) -> Dataset:
    """A worklist item from the values a scheduler types (``medbridge worklist add``).

    The item carries the return keys of PS3.4 Table K.6-1 that a modality asks for
    (empty where not given), so a ``findscu -W`` answer lists them all.

    Raises
    ------
    InvalidDicomError
        If a date or time is malformed (checked before pydicom sees the value).
    """
    _check_date(start_date, "ScheduledProcedureStepStartDate")
    _check_time(start_time, "ScheduledProcedureStepStartTime")
    _check_date(birth_date, "PatientBirthDate")
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.AccessionNumber = accession
    item.ReferringPhysicianName = referring_physician
    item.PatientName = patient_name
    item.PatientID = patient_id
    item.PatientBirthDate = birth_date
    item.PatientSex = sex
    item.StudyInstanceUID = study_uid
    item.RequestedProcedureDescription = procedure_description
    item.RequestedProcedureID = requested_procedure_id
    item.RequestedProcedurePriority = ""
    item.AdmissionID = ""
    item.CurrentPatientLocation = ""
    sps = Dataset()
    sps.Modality = modality
    sps.ScheduledStationAETitle = station_ae
    sps.ScheduledProcedureStepStartDate = start_date
    sps.ScheduledProcedureStepStartTime = start_time
    sps.ScheduledPerformingPhysicianName = physician
    sps.ScheduledProcedureStepDescription = step_description
    sps.ScheduledStationName = station_name
    sps.ScheduledProcedureStepID = step_id
    sps.ScheduledProcedureStepStatus = "SCHEDULED"
    item.ScheduledProcedureStepSequence = [sps]
    return item

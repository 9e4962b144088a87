"""Index rows of one instance: what a store extracts, inserts, and a delete takes away.

A durable C-STORE is a handful of SQL statements and one commit, and on one association
their Python cost adds straight to every instance's round trip (issue 7's ingest target
leaves about 5 ms an instance for everything). So the statements are built once, with
bind parameters, and SQLAlchemy's compiled cache serves every later execution; a store
into a series the index already holds costs one lookup, one insert and two counter
updates. The header values come from medbridge's own element walker
(`medbridge.dicom._header`), which decodes only the indexed attributes, with pydicom as
the fallback for the encodings the walker leaves to it (Big Endian, Deflate).
"""

from __future__ import annotations

import functools
import warnings
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydicom.datadict import dictionary_VR, tag_for_keyword
from sqlalchemy.engine import Connection

from medbridge.archive.index import (
    IMAGE_COLUMNS,
    PATIENT_COLUMNS,
    SERIES_COLUMNS,
    STUDY_COLUMNS,
    instance,
    patient,
    series,
    study,
)
from medbridge.archive.names import fuzzy_key
from medbridge.archive.storage import validate_uid
from medbridge.dicom import read_dataset
from medbridge.dicom._header import NeedsFullParse, read_raw_header_bytes, tag_label
from medbridge.errors import InvalidDicomError, StorageError

__all__ = ["HEADER_KEYWORDS", "delete_row", "header_values", "insert_row", "stored_copy"]

#: The attributes the index keeps, in the order of its columns.
HEADER_KEYWORDS = [*PATIENT_COLUMNS, *STUDY_COLUMNS, *SERIES_COLUMNS, *IMAGE_COLUMNS]

#: VRs decoded with the Specific Character Set; UI, DA, TM, CS, IS are ASCII by
#: definition (PS3.5 6.1.2).
_TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC"})


def _wanted(keyword: str) -> tuple[int, tuple[str, str]]:
    tag = int(tag_for_keyword(keyword) or 0)
    vr = dictionary_VR(tag)
    return tag, (keyword, "text" if vr in _TEXT_VRS else "us" if vr == "US" else "ascii")


_WANTED = dict(_wanted(kw) for kw in ("SpecificCharacterSet", *HEADER_KEYWORDS))
_UID_NAMES = {
    kw: tag_label(int(tag_for_keyword(kw) or 0))
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
} | {"TransferSyntaxUID": tag_label(0x00020010)}


def header_values(data: bytes) -> dict[str, str]:
    """Return the indexed attributes of Part 10 bytes as text, with validated UIDs.

    Raises
    ------
    InvalidDicomError
        The bytes do not parse, or a UID the index needs is missing or malformed.
    """
    try:
        values = _walked_values(data)
    except NeedsFullParse:
        values = _pydicom_values(data)
    for kw, name in _UID_NAMES.items():
        try:
            values[kw] = validate_uid(values[kw], name=name)
        except StorageError as exc:
            raise InvalidDicomError(str(exc)) from None
    return values


def _walked_values(data: bytes) -> dict[str, str]:
    raw = read_raw_header_bytes(data, _WANTED)  # InvalidDicomError names what is broken
    found = raw.values
    values = {kw: str(found.get(kw, "")).strip() for kw in HEADER_KEYWORDS}
    values["TransferSyntaxUID"] = raw.transfer_syntax_uid if raw.has_meta else ""
    return values


def _pydicom_values(data: bytes) -> dict[str, str]:
    ds = read_dataset(
        data, stop_before_pixels=True, specific_tags=["SpecificCharacterSet", *HEADER_KEYWORDS]
    )
    try:
        with warnings.catch_warnings():
            # an invalid IS/US (NumberOfFrames "1A") is indexed as empty, not refused
            warnings.simplefilter("ignore", UserWarning)
            values = {kw: _text(ds.get(kw)) for kw in HEADER_KEYWORDS}
        meta = getattr(ds, "file_meta", None)
        values["TransferSyntaxUID"] = str(meta.get("TransferSyntaxUID", "") if meta else "")
    except Exception as exc:  # pydicom converts values lazily; damaged ones raise here
        raise InvalidDicomError(f"cannot parse dataset: {type(exc).__name__}: {exc}") from exc
    return values


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int_or_none(text: str) -> int | None:
    try:
        return int(text.split("\\")[0])
    except ValueError:
        return None


# -- statements, built once ---------------------------------------------------------

_PARENTS = sa.select(series.c.pk, series.c.study_pk).where(
    series.c.series_instance_uid == sa.bindparam("b_uid")
)
_STORED = sa.select(instance.c.sha256, instance.c.relpath).where(
    instance.c.sop_instance_uid == sa.bindparam("b_uid")
)
_INSERT_INSTANCE = instance.insert()
_COUNT_SERIES = (
    series.update()
    .where(series.c.pk == sa.bindparam("b_pk"))
    .values(num_instances=series.c.num_instances + 1)
)
_COUNT_STUDY = (
    study.update()
    .where(study.c.pk == sa.bindparam("b_pk"))
    .values(
        num_instances=study.c.num_instances + 1,
        num_series=study.c.num_series + sa.bindparam("b_new_series"),
    )
)


@functools.cache
def _lookup(table: sa.Table, key: str) -> sa.Select[Any]:
    return sa.select(table.c.pk).where(table.c[key] == sa.bindparam("b_key"))


@functools.cache
def _upsert(dialect: str, table: sa.Table, key: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING pk, for SQLite or PostgreSQL."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c.pk)


def _get_or_insert(
    conn: Connection, table: sa.Table, key: str, values: dict[str, Any]
) -> tuple[int, bool]:
    """Return (pk, inserted) of the row with ``values[key]``, inserting it if missing."""
    lookup = _lookup(table, key)
    pk = conn.execute(lookup, {"b_key": values[key]}).scalar_one_or_none()
    if pk is not None:
        return int(pk), False
    # RETURNING tells whether this statement inserted: psycopg reports rowcount -1 here
    pk = conn.execute(_upsert(conn.dialect.name, table, key), values).scalar_one_or_none()
    if pk is not None:
        return int(pk), True
    # another transaction (another node, with PostgreSQL) inserted it first
    return int(conn.execute(lookup, {"b_key": values[key]}).scalar_one()), False


def _parents(conn: Connection, v: dict[str, str]) -> tuple[int, int, bool]:
    """(series pk, study pk, series is new) for an instance, inserting missing parents."""
    found = conn.execute(_PARENTS, {"b_uid": v["SeriesInstanceUID"]}).first()
    if found is not None:
        return int(found.pk), int(found.study_pk), False
    patient_pk, _ = _get_or_insert(
        conn,
        patient,
        "patient_id",
        {
            "patient_id": v["PatientID"][:64],
            "patient_name": v["PatientName"],
            "patient_name_upper": v["PatientName"].upper(),
            "patient_name_fuzzy": fuzzy_key(v["PatientName"]),
            "patient_birth_date": v["PatientBirthDate"][:8],
            "patient_sex": v["PatientSex"][:16],
        },
    )
    study_pk, _ = _get_or_insert(
        conn,
        study,
        "study_instance_uid",
        {
            "patient_pk": patient_pk,
            "study_instance_uid": v["StudyInstanceUID"],
            "study_date": v["StudyDate"][:8],
            "study_time": v["StudyTime"][:16],
            "accession_number": v["AccessionNumber"][:16],
            "study_id": v["StudyID"][:16],
            "study_description": v["StudyDescription"][:64],
            "referring_physician_name": v["ReferringPhysicianName"],
            "referring_physician_name_upper": v["ReferringPhysicianName"].upper(),
            "referring_physician_name_fuzzy": fuzzy_key(v["ReferringPhysicianName"]),
            "num_series": 0,
            "num_instances": 0,
        },
    )
    series_pk, new_series = _get_or_insert(
        conn,
        series,
        "series_instance_uid",
        {
            "study_pk": study_pk,
            "series_instance_uid": v["SeriesInstanceUID"],
            "modality": v["Modality"][:16],
            "series_number": _int_or_none(v["SeriesNumber"]),
            "series_description": v["SeriesDescription"][:64],
            "series_date": v["SeriesDate"][:8],
            "series_time": v["SeriesTime"][:16],
            "body_part_examined": v["BodyPartExamined"][:16],
            "num_instances": 0,
        },
    )
    return series_pk, study_pk, new_series


def stored_copy(conn: Connection, sop_uid: str) -> Any:
    """The (sha256, relpath) row of an instance already stored, or None."""
    return conn.execute(_STORED, {"b_uid": sop_uid}).first()


def insert_row(conn: Connection, v: dict[str, str], relpath: str, size: int, sha: str) -> None:
    """Insert an instance row and its parents, updating the counters, in `conn`'s transaction.

    The parents (patient, study, series) are taken as the first instance of the series
    described them; later instances only count.
    """
    series_pk, study_pk, new_series = _parents(conn, v)
    conn.execute(
        _INSERT_INSTANCE,
        {
            "series_pk": series_pk,
            "sop_instance_uid": v["SOPInstanceUID"],
            "sop_class_uid": v["SOPClassUID"],
            "instance_number": _int_or_none(v["InstanceNumber"]),
            "rows": _int_or_none(v["Rows"]),
            "columns": _int_or_none(v["Columns"]),
            "bits_allocated": _int_or_none(v["BitsAllocated"]),
            "number_of_frames": _int_or_none(v["NumberOfFrames"]),
            "transfer_syntax_uid": v["TransferSyntaxUID"],
            "relpath": relpath,
            "size": size,
            "sha256": sha,
            "stored_at": datetime.now(UTC),
        },
    )
    conn.execute(_COUNT_SERIES, {"b_pk": series_pk})
    conn.execute(_COUNT_STUDY, {"b_pk": study_pk, "b_new_series": int(new_series)})


def delete_row(conn: Connection, sop_uid: str) -> str | None:
    """Delete an instance row, fix the counters, drop emptied parents; return its relpath."""
    row = conn.execute(
        sa.select(
            instance.c.pk,
            instance.c.series_pk,
            instance.c.relpath,
            series.c.study_pk,
            study.c.patient_pk,
        )
        .select_from(instance.join(series).join(study))
        .where(instance.c.sop_instance_uid == sop_uid)
    ).first()
    if row is None:
        return None
    conn.execute(instance.delete().where(instance.c.pk == row.pk))
    left = conn.execute(
        series.update()
        .where(series.c.pk == row.series_pk)
        .values(num_instances=series.c.num_instances - 1)
        .returning(series.c.num_instances)
    ).scalar_one()
    emptied = left <= 0
    if emptied:
        conn.execute(series.delete().where(series.c.pk == row.series_pk))
    conn.execute(
        study.update()
        .where(study.c.pk == row.study_pk)
        .values(
            num_instances=study.c.num_instances - 1,
            num_series=study.c.num_series - (1 if emptied else 0),
        )
    )
    if emptied:
        remaining = conn.execute(
            sa.select(study.c.num_series).where(study.c.pk == row.study_pk)
        ).scalar_one()
        if remaining <= 0:
            conn.execute(study.delete().where(study.c.pk == row.study_pk))
            others = conn.execute(
                sa.select(sa.func.count()).where(study.c.patient_pk == row.patient_pk)
            ).scalar_one()
            if not others:
                conn.execute(patient.delete().where(patient.c.pk == row.patient_pk))
    return str(row.relpath)

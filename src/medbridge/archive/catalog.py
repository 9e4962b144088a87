"""The archive as a catalogue of patients and studies, each study with its series and
instances: what an EHR-facing view (FHIR ImagingStudy and Patient, the web page's study
list) reads, in one shape, without speaking DICOM matching.

Filters are plain values (a patient ID, a date range, a modality), turned into SQL on
the index here, so the web layer never touches the schema. Studies page in SQL
(``LIMIT``/``OFFSET`` ordered by their key) and their series and instances are fetched
for one page at a time, in two statements whatever the page's size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from medbridge.archive.index import Index, instance, patient, series, study

__all__ = [
    "InstanceEntry",
    "PatientEntry",
    "PatientFilter",
    "SeriesEntry",
    "StudyEntry",
    "StudyFilter",
    "find_patients",
    "find_studies",
]


@dataclass(frozen=True)
class PatientEntry:
    """A patient as the index knows them."""

    key: int
    patient_id: str
    name: str
    birth_date: str
    sex: str


@dataclass(frozen=True)
class InstanceEntry:
    sop_instance_uid: str
    sop_class_uid: str
    number: int | None


@dataclass(frozen=True)
class SeriesEntry:
    series_instance_uid: str
    number: int | None
    modality: str
    description: str
    body_part: str
    date: str
    time: str
    num_instances: int
    instances: list[InstanceEntry] = field(default_factory=list)


@dataclass(frozen=True)
class StudyEntry:
    """A study with its patient, series and instances, and when it last changed."""

    key: int
    study_instance_uid: str
    date: str
    time: str
    accession_number: str
    description: str
    referring_physician: str
    num_series: int
    num_instances: int
    patient: PatientEntry
    last_updated: datetime | None
    modalities: list[str]
    series: list[SeriesEntry] = field(default_factory=list)


@dataclass(frozen=True)
class StudyFilter:
    """Which studies; every field None means "any". Dates are ``YYYYMMDD`` strings."""

    study_uids: tuple[str, ...] | None = None
    accession_numbers: tuple[str, ...] | None = None
    patient_id: str | None = None
    patient_key: int | None = None
    date_from: str | None = None
    date_to: str | None = None
    modalities: tuple[str, ...] | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    patient_name: str | None = None
    """Case-insensitive substring of the patient's name (the page's search box)."""


@dataclass(frozen=True)
class PatientFilter:
    """Which patients; every field None means "any"."""

    patient_key: int | None = None
    patient_id: str | None = None
    name: str | None = None
    """Case-insensitive substring of any name component."""
    birth_date: str | None = None
    sex: str | None = None


_LAST_UPDATED = (
    sa.select(sa.func.max(instance.c.stored_at))
    .select_from(instance.join(series))
    .where(series.c.study_pk == study.c.pk)
    .scalar_subquery()
)


def _study_where(f: StudyFilter) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if f.study_uids is not None:
        where.append(study.c.study_instance_uid.in_(f.study_uids))
    if f.accession_numbers is not None:
        where.append(study.c.accession_number.in_(f.accession_numbers))
    if f.patient_id is not None:
        where.append(patient.c.patient_id == f.patient_id)
    if f.patient_key is not None:
        where.append(patient.c.pk == f.patient_key)
    if f.date_from is not None:
        where.append(study.c.study_date >= f.date_from)
    if f.date_to is not None:
        where.append(study.c.study_date <= f.date_to)
    if f.date_from is not None or f.date_to is not None:
        where.append(study.c.study_date != "")
    if f.modalities is not None:
        where.append(
            sa.exists().where(series.c.study_pk == study.c.pk, series.c.modality.in_(f.modalities))
        )
    if f.updated_from is not None:
        where.append(_LAST_UPDATED >= f.updated_from)  # noqa: SIM300 (SQL on the left)
    if f.updated_to is not None:
        where.append(_LAST_UPDATED <= f.updated_to)  # noqa: SIM300
    if f.patient_name:
        where.append(patient.c.patient_name_upper.contains(f.patient_name.upper(), autoescape=True))
    return where


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns: they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def find_studies(
    index: Index,
    where: StudyFilter,
    *,
    limit: int | None = None,
    offset: int = 0,
    with_instances: bool = True,
) -> tuple[int, list[StudyEntry]]:
    """The total number of matching studies, and one page of them, oldest key first."""
    clauses = _study_where(where)
    joined = study.join(patient, patient.c.pk == study.c.patient_pk)
    with index.read() as conn:
        total = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(joined).where(*clauses)
            ).scalar_one()
        )
        stmt = (
            sa.select(
                study,
                patient.c.pk.label("patient_pk_"),
                patient.c.patient_id,
                patient.c.patient_name,
                patient.c.patient_birth_date,
                patient.c.patient_sex,
                _LAST_UPDATED.label("last_updated"),
            )
            .select_from(joined)
            .where(*clauses)
            .order_by(study.c.pk)
            .offset(offset)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = conn.execute(stmt).all()
        keys = [row.pk for row in rows]
        series_of = _series(conn, keys, with_instances)
    studies = []
    for row in rows:
        found = series_of.get(row.pk, [])
        studies.append(
            StudyEntry(
                key=row.pk,
                study_instance_uid=row.study_instance_uid,
                date=row.study_date,
                time=row.study_time,
                accession_number=row.accession_number,
                description=row.study_description,
                referring_physician=row.referring_physician_name,
                num_series=row.num_series,
                num_instances=row.num_instances,
                patient=PatientEntry(
                    row.patient_pk_,
                    row.patient_id,
                    row.patient_name,
                    row.patient_birth_date,
                    row.patient_sex,
                ),
                last_updated=_aware(row.last_updated),
                modalities=sorted({s.modality for s in found if s.modality}),
                series=found,
            )
        )
    return total, studies


def _series(
    conn: Connection, study_keys: list[int], with_instances: bool
) -> dict[int, list[SeriesEntry]]:
    """The series (and their instances) of the given studies, by study key."""
    if not study_keys:
        return {}
    by_study: dict[int, list[SeriesEntry]] = defaultdict(list)
    by_key: dict[int, SeriesEntry] = {}
    rows = conn.execute(
        sa.select(series)
        .where(series.c.study_pk.in_(study_keys))
        .order_by(series.c.study_pk, series.c.series_number, series.c.pk)
    )
    for row in rows:
        entry = SeriesEntry(
            series_instance_uid=row.series_instance_uid,
            number=row.series_number,
            modality=row.modality,
            description=row.series_description,
            body_part=row.body_part_examined,
            date=row.series_date,
            time=row.series_time,
            num_instances=row.num_instances,
        )
        by_study[row.study_pk].append(entry)
        by_key[row.pk] = entry
    if with_instances and by_key:
        rows = conn.execute(
            sa.select(
                instance.c.series_pk,
                instance.c.sop_instance_uid,
                instance.c.sop_class_uid,
                instance.c.instance_number,
            )
            .where(instance.c.series_pk.in_(list(by_key)))
            .order_by(instance.c.series_pk, instance.c.instance_number, instance.c.pk)
        )
        for row in rows:
            by_key[row.series_pk].instances.append(
                InstanceEntry(row.sop_instance_uid, row.sop_class_uid, row.instance_number)
            )
    return by_study


def find_patients(
    index: Index, where: PatientFilter, *, limit: int | None = None, offset: int = 0
) -> tuple[int, list[PatientEntry]]:
    """The total number of matching patients, and one page of them."""
    clauses: list[sa.ColumnElement[bool]] = []
    if where.patient_key is not None:
        clauses.append(patient.c.pk == where.patient_key)
    if where.patient_id is not None:
        clauses.append(patient.c.patient_id == where.patient_id)
    if where.name:
        clauses.append(patient.c.patient_name_upper.contains(where.name.upper(), autoescape=True))
    if where.birth_date is not None:
        clauses.append(patient.c.patient_birth_date == where.birth_date)
    if where.sex is not None:
        clauses.append(patient.c.patient_sex == where.sex)
    with index.read() as conn:
        total = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(patient).where(*clauses)
            ).scalar_one()
        )
        stmt = sa.select(patient).where(*clauses).order_by(patient.c.pk).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = conn.execute(stmt).all()
    return total, [
        PatientEntry(r.pk, r.patient_id, r.patient_name, r.patient_birth_date, r.patient_sex)
        for r in rows
    ]

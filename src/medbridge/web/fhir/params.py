"""FHIR search parameters as the archive's catalogue filters, and the CapabilityStatement
that lists them (one table, so what is announced is what is parsed).

Value syntax per FHIR R4's search page: ``token`` as ``[system|]code``, ``reference``
as ``[Type/]id``, ``date`` with the prefixes ``eq ne gt lt ge le sa eb`` (ne is refused:
not supported) at the precision given (``2024``, ``2024-03``, ``2024-03-05``, or a
dateTime), comma-separated values as OR.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import Request

from medbridge.archive.catalog import PatientFilter, StudyFilter
from medbridge.web.fhir.resources import patient_key_from_id

__all__ = [
    "FhirError",
    "PatientSearch",
    "StudySearch",
    "capability_statement",
    "parse_patient_search",
    "parse_study_search",
    "valid_id",
]

DEFAULT_COUNT = 50
MAX_COUNT = 1000
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_PREFIXES = ("eq", "gt", "lt", "ge", "le", "sa", "eb", "ne", "ap")

#: Search parameters per resource: name → (FHIR type, what it matches).
STUDY_PARAMS = {
    "_id": ("token", "the Study Instance UID"),
    "_lastUpdated": ("date", "when an instance of the study last arrived"),
    "identifier": ("token", "urn:oid:<Study Instance UID>, or the accession number"),
    "patient": ("reference", "Patient/<id>"),
    "subject": ("reference", "Patient/<id>"),
    "subject:Patient.identifier": ("token", "the Patient ID"),
    "started": ("date", "the study date"),
    "modality": ("token", "a modality of the study's series (DCM code)"),
}
PATIENT_PARAMS = {
    "_id": ("token", "the Patient resource id"),
    "identifier": ("token", "the Patient ID"),
    "name": ("string", "any part of the name"),
    "family": ("string", "the family name"),
    "given": ("string", "a given name"),
    "birthdate": ("date", "the birth date (a whole day)"),
    "gender": ("token", "male, female, other, unknown"),
}
_PAGING = ("_count", "_offset", "_format", "_pretty", "_summary", "_elements")


class FhirError(Exception):
    """An error answered as an OperationOutcome with this status and issue code."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


def valid_id(value: str) -> str:
    """A FHIR logical id (``[A-Za-z0-9-.]{1,64}``), or 400."""
    if not _ID.match(value):
        raise FhirError(400, "invalid", f"{value[:80]!r} is not a FHIR id ([A-Za-z0-9-.]{{1,64}})")
    return value


@dataclass
class StudySearch:
    filter: StudyFilter
    count: int
    offset: int
    used: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PatientSearch:
    filter: PatientFilter
    count: int
    offset: int
    used: list[tuple[str, str]] = field(default_factory=list)


def _paging(request: Request) -> tuple[int, int]:
    try:
        count = int(request.query_params.get("_count", DEFAULT_COUNT))
        offset = int(request.query_params.get("_offset", 0))
    except ValueError:
        raise FhirError(400, "invalid", "_count and _offset take whole numbers") from None
    if count < 0 or offset < 0:
        raise FhirError(400, "invalid", "_count and _offset cannot be negative")
    return min(count, MAX_COUNT), offset


def _strict(request: Request) -> bool:
    return "handling=strict" in request.headers.get("prefer", "").replace(" ", "")


def _known(request: Request, known: dict[str, Any]) -> list[tuple[str, str]]:
    """The parameters this server understands; the rest ignored (or 400 when strict)."""
    used = []
    for name, value in request.query_params.multi_items():
        if name in known:
            used.append((name, value))
        elif name not in _PAGING and _strict(request):
            raise FhirError(400, "not-supported", f"unknown search parameter {name!r}")
    return used


def _token(value: str) -> tuple[str | None, str]:
    system, sep, code = value.partition("|")
    return (system, code) if sep else (None, value)


def _day(moment: date) -> str:
    return moment.strftime("%Y%m%d")


def _date_range(value: str) -> tuple[str, datetime, datetime]:
    """A FHIR date search value: (prefix, first instant, last instant) of its precision."""
    prefix = value[:2] if value[:2] in _PREFIXES and not value[:2].isdigit() else "eq"
    text = value[2:] if value[:2] == prefix else value
    m = _DATE.match(text)
    if m is None:
        raise FhirError(400, "invalid", f"{value!r} is not a FHIR date (YYYY[-MM[-DD[Thh:mm...]]])")
    if prefix in ("ne", "ap"):
        raise FhirError(400, "not-supported", f"date prefix {prefix!r} is not supported")
    year, month, day, hh, mi, ss, zone = m.groups()
    try:
        if hh is not None:
            start = datetime.fromisoformat(f"{year}-{month}-{day}T{hh}:{mi}:{ss or '00'}")
            start = (
                start.replace(tzinfo=UTC)
                if zone in (None, "Z")
                else start.replace(
                    tzinfo=datetime.fromisoformat(f"2000-01-01T00:00:00{zone}").tzinfo
                )
            )
            end = start + timedelta(seconds=1) - timedelta(microseconds=1)
        else:
            y = int(year)
            mo_first = int(month) if month else 1
            mo_last = int(month) if month else 12
            d_first = int(day) if day else 1
            d_last = int(day) if day else calendar.monthrange(y, mo_last)[1]
            start = datetime(y, mo_first, d_first, tzinfo=UTC)
            end = datetime(y, mo_last, d_last, 23, 59, 59, 999999, tzinfo=UTC)
    except ValueError as exc:
        raise FhirError(400, "invalid", f"{value!r}: {exc}") from None
    return prefix, start, end


def _bounds(values: list[str]) -> tuple[datetime | None, datetime | None]:
    """AND of date conditions as one [low, high] interval (None: open)."""
    low: datetime | None = None
    high: datetime | None = None
    for value in values:
        for part in value.split(","):
            if part != value and "," in value:
                raise FhirError(400, "not-supported", "OR of dates (a,b) is not supported")
            prefix, start, end = _date_range(part)
            lo, hi = {
                "eq": (start, end),
                "ge": (start, None),
                "sa": (end + timedelta(microseconds=1), None),
                "gt": (end + timedelta(microseconds=1), None),
                "le": (None, end),
                "eb": (None, start - timedelta(microseconds=1)),
                "lt": (None, start - timedelta(microseconds=1)),
            }[prefix]
            if lo is not None:
                low = lo if low is None else max(low, lo)
            if hi is not None:
                high = hi if high is None else min(high, hi)
    return low, high


def _patient_reference(value: str) -> str:
    ref = value.rsplit("/", 1)
    if len(ref) == 2 and not ref[0].endswith("Patient"):
        raise FhirError(400, "invalid", f"{value!r}: expected Patient/<id>")
    return valid_id(ref[-1])


def parse_study_search(request: Request) -> StudySearch:
    """The ImagingStudy search of a request, as a `StudyFilter`."""
    count, offset = _paging(request)
    used = _known(request, STUDY_PARAMS)
    f = StudyFilter()
    dates: list[str] = []
    updated: list[str] = []
    for name, value in used:
        if name == "_id":
            uids = tuple(valid_id(v) for v in value.split(","))
            f = replace(f, study_uids=_and(f.study_uids, uids))
        elif name == "identifier":
            f = _identifier(f, value)
        elif name in ("patient", "subject"):
            rid = _patient_reference(value)
            key = patient_key_from_id(rid)
            f = replace(f, patient_key=key) if key is not None else replace(f, patient_id=rid)
        elif name == "subject:Patient.identifier":
            f = replace(f, patient_id=_token(value)[1])
        elif name == "started":
            dates.append(value)
        elif name == "_lastUpdated":
            updated.append(value)
        elif name == "modality":
            codes = tuple(_token(v)[1].upper() for v in value.split(","))
            f = replace(f, modalities=_and(f.modalities, codes))
    if dates:
        low, high = _bounds(dates)
        f = replace(
            f,
            date_from=_day(low) if low else None,
            date_to=_day(high) if high else None,
        )
    if updated:
        low, high = _bounds(updated)
        f = replace(f, updated_from=low, updated_to=high)
    return StudySearch(f, count, offset, used)


def _and(old: tuple[str, ...] | None, new: tuple[str, ...]) -> tuple[str, ...]:
    """Two conditions on one field (a repeated parameter): both must hold."""
    return new if old is None else tuple(v for v in old if v in new)


def _identifier(f: StudyFilter, value: str) -> StudyFilter:
    uids: list[str] = []
    accessions: list[str] = []
    for part in value.split(","):
        system, code = _token(part)
        if code.startswith("urn:oid:"):
            uids.append(valid_id(code.removeprefix("urn:oid:")))
        elif system == "urn:dicom:uid":
            uids.append(valid_id(code))
        else:
            accessions.append(code)
    if uids and accessions:
        raise FhirError(
            400, "not-supported", "identifier: give study UIDs or accession numbers, not both"
        )
    if uids:
        return replace(f, study_uids=_and(f.study_uids, tuple(uids)))
    return replace(f, accession_numbers=_and(f.accession_numbers, tuple(accessions)))


def parse_patient_search(request: Request) -> PatientSearch:
    """The Patient search of a request, as a `PatientFilter`."""
    count, offset = _paging(request)
    used = _known(request, PATIENT_PARAMS)
    f = PatientFilter()
    for name, value in used:
        if name == "_id":
            rid = valid_id(value)
            key = patient_key_from_id(rid)
            f = replace(f, patient_key=key) if key is not None else replace(f, patient_id=rid)
        elif name == "identifier":
            f = replace(f, patient_id=_token(value)[1])
        elif name in ("name", "family", "given"):
            f = replace(f, name=value)
        elif name == "birthdate":
            prefix, start, _end = _date_range(value)
            if prefix != "eq" or len(value.removeprefix("eq")) != 10:
                raise FhirError(400, "not-supported", "birthdate: a whole day (YYYY-MM-DD) only")
            f = replace(f, birth_date=_day(start))
        elif name == "gender":
            sex = {"male": "M", "female": "F", "other": "O", "unknown": ""}.get(value)
            if sex is None:
                raise FhirError(400, "invalid", f"gender {value!r}: male, female, other, unknown")
            f = replace(f, sex=sex)
    return PatientSearch(f, count, offset, used)


def capability_statement(base: str, version: str) -> dict[str, Any]:
    """The server's CapabilityStatement, built from the parameter tables above."""

    def resource(kind: str, params: dict[str, tuple[str, str]]) -> dict[str, Any]:
        return {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": kind_, "documentation": doc}
                for name, (kind_, doc) in params.items()
            ],
        }

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date.today().isoformat(),
        "kind": "instance",
        "software": {"name": "medbridge", "version": version},
        "implementation": {"description": "medbridge archive", "url": f"{base}/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    resource("ImagingStudy", STUDY_PARAMS),
                    resource("Patient", PATIENT_PARAMS),
                    resource("Endpoint", {"_id": ("token", "the endpoint id")}),
                ],
            }
        ],
    }

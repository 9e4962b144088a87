"""FHIR R4 resources from the archive's catalogue: ImagingStudy, Patient, Endpoint.

The mapping follows FHIR R4's ImagingStudy page and its DICOM mapping (PS3.17 / HL7's
"Imaging Study" mapping): the Study Instance UID is both the resource id (a UID is a
valid FHIR id: digits and dots, at most 64) and an identifier
``urn:dicom:uid``/``urn:oid:...``; the accession number is an identifier of type ACSN;
modalities are DCM codes; SOP classes are ``urn:oid:`` codings; every ImagingStudy
references one Endpoint, the archive's own DICOMweb root, so a FHIR client can fetch
the images.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from medbridge.archive.catalog import PatientEntry, SeriesEntry, StudyEntry

__all__ = [
    "ENDPOINT_ID",
    "endpoint",
    "imaging_study",
    "patient",
    "patient_id_for",
    "patient_key_from_id",
]

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
ENDPOINT_ID = "dicomweb"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_KEY_PREFIX = "mb-patient-"

#: BodyPartExamined defined terms → SNOMED CT (PS3.16 Annex L, the common ones).
BODY_PARTS: dict[str, tuple[str, str]] = {
    "ABDOMEN": ("818981001", "Abdomen"),
    "ANKLE": ("70258002", "Ankle joint"),
    "BRAIN": ("12738006", "Brain"),
    "BREAST": ("76752008", "Breast"),
    "CHEST": ("816094009", "Thorax"),
    "CSPINE": ("122494005", "Cervical spine"),
    "ELBOW": ("127949000", "Elbow"),
    "EXTREMITY": ("66019005", "Limb"),
    "FOOT": ("56459004", "Foot"),
    "HAND": ("85562004", "Hand"),
    "HEAD": ("69536005", "Head"),
    "HEART": ("80891009", "Heart"),
    "HIP": ("24136001", "Hip joint"),
    "KNEE": ("72696002", "Knee"),
    "LSPINE": ("122496007", "Lumbar spine"),
    "NECK": ("45048000", "Neck"),
    "PELVIS": ("816092008", "Pelvis"),
    "SHOULDER": ("16982005", "Shoulder"),
    "SKULL": ("89546000", "Skull"),
    "SPINE": ("421060004", "Spine"),
    "TSPINE": ("122495006", "Thoracic spine"),
    "WRIST": ("74670003", "Wrist joint"),
    "WHOLEBODY": ("38266002", "Entire body as a whole"),
}
_GENDER = {"M": "male", "F": "female", "O": "other"}


def patient_id_for(entry: PatientEntry) -> str:
    """The Patient resource id: the Patient ID when it is a valid FHIR id, else the key."""
    if _FHIR_ID.match(entry.patient_id) and not entry.patient_id.startswith(_KEY_PREFIX):
        return entry.patient_id
    return f"{_KEY_PREFIX}{entry.key}"


def patient_key_from_id(resource_id: str) -> int | None:
    """The index key an id made by `patient_id_for` names, if it names one by key."""
    if resource_id.startswith(_KEY_PREFIX) and resource_id[len(_KEY_PREFIX) :].isdigit():
        return int(resource_id[len(_KEY_PREFIX) :])
    return None


def _date(value: str) -> str | None:
    """DICOM DA ``YYYYMMDD`` as FHIR date ``YYYY-MM-DD`` (None when not a full date)."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return None


def _local_offset(day: str) -> str:
    """The site's UTC offset on `day` (``+01:00``): DICOM times are the site's local time
    (PS3.3 C.12.1.1.8 without Timezone Offset From UTC), FHIR times must carry a zone."""
    moment = datetime.fromisoformat(f"{day}T12:00:00").astimezone()
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _datetime(date: str, time: str) -> str | None:
    """DA + TM as FHIR dateTime; a date alone when the time is missing or partial."""
    day = _date(date)
    if day is None:
        return None
    digits = time.split(".")[0].strip()
    if len(digits) >= 4 and digits.isdigit():
        hh, mm, ss = digits[:2], digits[2:4], (digits[4:6] or "00")
        if int(hh) < 24 and int(mm) < 60 and int(ss) < 60:
            return f"{day}T{hh}:{mm}:{ss}{_local_offset(day)}"
    return day


def _human_name(pn: str) -> list[dict[str, Any]]:
    """A DICOM PN's alphabetic group as FHIR HumanName (family, given, prefix, suffix)."""
    alphabetic = pn.split("=")[0]
    if not alphabetic.strip():
        return []
    parts = (alphabetic.split("^") + [""] * 5)[:5]
    family, given, middle, prefix, suffix = (p.strip() for p in parts)
    name: dict[str, Any] = {
        "use": "official",
        "text": " ".join(p for p in (prefix, given, middle, family, suffix) if p),
    }
    if family:
        name["family"] = family
    givens = [g for g in (given, middle) if g]
    if givens:
        name["given"] = givens
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = [suffix]
    return [name]


def _meta(updated: datetime | None) -> dict[str, str]:
    return {"lastUpdated": updated.isoformat(timespec="milliseconds")} if updated else {}


def patient(entry: PatientEntry) -> dict[str, Any]:
    """The Patient resource of one archive patient."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id_for(entry),
        "identifier": [{"use": "usual", "value": entry.patient_id}] if entry.patient_id else [],
        "gender": _GENDER.get(entry.sex.strip().upper(), "unknown"),
    }
    names = _human_name(entry.name)
    if names:
        resource["name"] = names
    born = _date(entry.birth_date)
    if born:
        resource["birthDate"] = born
    if not resource["identifier"]:
        del resource["identifier"]
    return resource


def endpoint(dicomweb_base: str) -> dict[str, Any]:
    """The Endpoint every ImagingStudy references: this archive's WADO-RS root."""
    return {
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
        },
        "name": "medbridge DICOMweb",
        "payloadType": [{"text": "DICOM"}],
        "payloadMimeType": ["application/dicom"],
        "address": dicomweb_base,
    }


def _series(entry: SeriesEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"uid": entry.series_instance_uid}
    if entry.number is not None:
        out["number"] = entry.number
    out["modality"] = {"system": DCM, "code": entry.modality or "OT"}
    if entry.description:
        out["description"] = entry.description
    out["numberOfInstances"] = entry.num_instances
    part = entry.body_part.strip().upper()
    if part:
        code = BODY_PARTS.get(part)
        out["bodySite"] = (
            {"system": SNOMED, "code": code[0], "display": code[1]} if code else {"display": part}
        )
    started = _datetime(entry.date, entry.time)
    if started:
        out["started"] = started
    if entry.instances:
        out["instance"] = [
            {
                "uid": i.sop_instance_uid,
                "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{i.sop_class_uid}"},
                **({"number": i.number} if i.number is not None else {}),
            }
            for i in entry.instances
        ]
    return out


def imaging_study(entry: StudyEntry) -> dict[str, Any]:
    """The ImagingStudy resource of one archive study (with series and instances)."""
    identifiers: list[dict[str, Any]] = [
        {
            "use": "official",
            "system": "urn:dicom:uid",
            "value": f"urn:oid:{entry.study_instance_uid}",
        }
    ]
    if entry.accession_number:
        identifiers.append(
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}
                    ]
                },
                "value": entry.accession_number,
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": entry.study_instance_uid,
        "meta": _meta(entry.last_updated),
        "identifier": identifiers,
        "status": "available",
        "subject": {"reference": f"Patient/{patient_id_for(entry.patient)}"},
        "endpoint": [{"reference": f"Endpoint/{ENDPOINT_ID}"}],
        "numberOfSeries": entry.num_series,
        "numberOfInstances": entry.num_instances,
    }
    if not resource["meta"]:
        del resource["meta"]
    if entry.modalities:
        resource["modality"] = [{"system": DCM, "code": m} for m in entry.modalities]
    started = _datetime(entry.date, entry.time)
    if started:
        resource["started"] = started
    if entry.referring_physician.strip("^ "):
        resource["referrer"] = {"display": entry.referring_physician.replace("^", " ").strip()}
    if entry.description:
        resource["description"] = entry.description
    if entry.series:
        resource["series"] = [_series(s) for s in entry.series]
    return resource

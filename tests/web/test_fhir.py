"""FHIR R4 ImagingStudy, Patient and Endpoint: valid resources, resolvable references,
the search parameters, paging, freshness and OperationOutcome errors.

Resources are validated with fhir.resources' R4B models (R4B's ImagingStudy, Patient,
Endpoint, Bundle and CapabilityStatement are R4's, plus optional elements).
"""

from __future__ import annotations

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from archive.factory import Spec, corpus, make_bytes

MODELS = {"ImagingStudy": ImagingStudy, "Patient": Patient, "Endpoint": Endpoint}
STUDIES = {s.study_uid for s in corpus()}


def fhir(web, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{web.base}/fhir/{path}", params=params, headers={"Accept": "application/fhir+json"}
    )


def bundle(web, path: str, **params: str) -> dict:
    rsp = fhir(web, path, **params)
    assert rsp.status_code == 200, rsp.text
    assert rsp.headers["content-type"].startswith("application/fhir+json")
    body = rsp.json()
    Bundle.model_validate(body)
    for entry in body.get("entry", []):
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    return body


def ids(body: dict) -> set[str]:
    return {e["resource"]["id"] for e in body.get("entry", [])}


def test_capability_statement(web) -> None:
    rsp = fhir(web, "metadata")
    CapabilityStatement.model_validate(rsp.json())
    resources = {r["type"]: r for r in rsp.json()["rest"][0]["resource"]}
    assert {"ImagingStudy", "Patient", "Endpoint"} <= set(resources)
    names = {p["name"] for p in resources["ImagingStudy"]["searchParam"]}
    assert {"patient", "identifier", "started", "modality", "_lastUpdated"} <= names


def test_every_study_and_its_references_resolve(web) -> None:
    body = bundle(web, "ImagingStudy")
    assert body["total"] == len(STUDIES) and ids(body) == STUDIES
    for entry in body["entry"]:
        study = entry["resource"]
        assert entry["fullUrl"].endswith(f"/fhir/ImagingStudy/{study['id']}")
        read = fhir(web, f"ImagingStudy/{study['id']}").json()
        assert read == study
        subject = fhir(web, study["subject"]["reference"])
        assert subject.status_code == 200
        Patient.model_validate(subject.json())
        endpoint = fhir(web, study["endpoint"][0]["reference"]).json()
        Endpoint.model_validate(endpoint)
        assert endpoint["address"] == f"{web.base}/dicom-web"


def test_study_content(web) -> None:
    uid = Spec(study=3).study_uid
    study = fhir(web, f"ImagingStudy/{uid}").json()
    assert study["identifier"][0] == {
        "use": "official",
        "system": "urn:dicom:uid",
        "value": f"urn:oid:{uid}",
    }
    assert study["identifier"][1]["value"] == "ACC3"
    assert study["numberOfSeries"] == 2 and study["numberOfInstances"] == 4
    assert [m["code"] for m in study["modality"]] == ["CT", "PT"]
    assert study["started"].startswith("2023-12-24T23:59:59")
    assert study["description"] == "ABDOMEN"
    first = study["series"][0]
    assert first["uid"] == Spec(study=3).series_uid and first["numberOfInstances"] == 3
    assert [i["number"] for i in first["instance"]] == [1, 2, 3]
    assert first["instance"][0]["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.2"
    patient = fhir(web, study["subject"]["reference"]).json()
    assert patient["identifier"][0]["value"] == "PAT2"
    assert patient["name"][0]["family"] == "Smith" and patient["name"][0]["given"] == ["John"]
    assert patient["gender"] == "male" and patient["birthDate"] == "1980-02-02"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"patient": "Patient/PAT2"}, {3}),
        ({"patient": "PAT1"}, {1, 2}),
        ({"subject:Patient.identifier": "PAT3"}, {4}),
        ({"identifier": f"urn:oid:{Spec(study=2).study_uid}"}, {2}),
        ({"identifier": f"urn:dicom:uid|urn:oid:{Spec(study=4).study_uid}"}, {4}),
        ({"identifier": "ACC3"}, {3}),
        ({"identifier": "ACC3,ACC4"}, {3, 4}),
        ({"started": "ge2024-01-01"}, {1, 2, 4}),
        ({"started": "2024-03"}, {2}),
        ({"started": "lt2024-01-15"}, {3}),
        ({"started": "2023"}, {3}),
        ({"modality": "MR"}, {2}),
        ({"modality": "http://dicom.nema.org/resources/ontology/DCM|PT"}, {3}),
        ({"modality": "PT,MR"}, {2, 3}),
        ({"patient": "PAT1", "modality": "CT"}, {1}),
        ({"_id": Spec(study=1).study_uid}, {1}),
        ({"_lastUpdated": "ge2000-01-01"}, {1, 2, 3, 4}),
        ({"_lastUpdated": "lt2000-01-01"}, set()),
        ({"unknownparameter": "x"}, {1, 2, 3, 4}),
    ],
)
def test_search(web, params: dict[str, str], expected: set[int]) -> None:
    body = bundle(web, "ImagingStudy", **params)
    assert ids(body) == {Spec(study=n).study_uid for n in expected}
    assert body["total"] == len(expected)
    self_link = body["link"][0]["url"]
    assert "unknownparameter" not in self_link


def test_paging_walks_every_study(web) -> None:
    seen: list[str] = []
    url = f"{web.base}/fhir/ImagingStudy?_count=1"
    while url:
        body = httpx.get(url).json()
        Bundle.model_validate(body)
        assert body["total"] == len(STUDIES)
        seen += [e["resource"]["id"] for e in body.get("entry", [])]
        url = next((link["url"] for link in body["link"] if link["relation"] == "next"), "")
    assert sorted(seen) == sorted(STUDIES)


def test_patient_search(web) -> None:
    assert {e["resource"]["identifier"][0]["value"] for e in bundle(web, "Patient")["entry"]} == {
        "PAT1", "PAT2", "PAT3",
    }  # fmt: skip
    assert ids(bundle(web, "Patient", name="smith")) == {"PAT2", "PAT3"}
    assert ids(bundle(web, "Patient", identifier="PAT3")) == {"PAT3"}
    assert ids(bundle(web, "Patient", birthdate="1980-02-02")) == {"PAT2"}
    assert ids(bundle(web, "Patient", gender="female")) == {"PAT1"}


def test_a_new_instance_is_current_at_once(empty_web) -> None:
    assert bundle(empty_web, "ImagingStudy")["total"] == 0
    spec = Spec(patient_id="ODD ID^1", study=77)
    empty_web.archive.store(make_bytes(spec))
    body = bundle(empty_web, "ImagingStudy")
    assert ids(body) == {spec.study_uid}
    study = body["entry"][0]["resource"]
    assert study["meta"]["lastUpdated"]
    # a Patient ID that is no FHIR id still gets a resolvable reference
    ref = study["subject"]["reference"]
    assert ref.startswith("Patient/mb-patient-")
    assert fhir(empty_web, ref).json()["identifier"][0]["value"] == "ODD ID^1"


@pytest.mark.parametrize(
    ("path", "params", "headers", "status"),
    [
        ("ImagingStudy/1.2.3.4", {}, {}, 404),
        ("ImagingStudy/bad%20id", {}, {}, 400),
        ("Patient/NOBODY", {}, {}, 404),
        ("Endpoint/other", {}, {}, 404),
        ("ImagingStudy", {"started": "yesterday"}, {}, 400),
        ("ImagingStudy", {"started": "ne2024-01-01"}, {}, 400),
        ("ImagingStudy", {"_count": "many"}, {}, 400),
        ("ImagingStudy", {"patient": "Group/1"}, {}, 400),
        ("ImagingStudy", {"bogus": "1"}, {"Prefer": "handling=strict"}, 400),
        ("ImagingStudy", {}, {"Accept": "application/fhir+xml"}, 406),
        ("ImagingStudy", {"_format": "xml"}, {}, 406),
        ("Patient", {"gender": "x"}, {}, 400),
    ],
)
def test_errors_are_operation_outcomes(web, path, params, headers, status) -> None:
    rsp = httpx.get(f"{web.base}/fhir/{path}", params=params, headers=headers)
    assert rsp.status_code == status, rsp.text
    OperationOutcome.model_validate(rsp.json())
    assert rsp.json()["issue"][0]["diagnostics"]

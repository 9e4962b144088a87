"""Orthanc as a DICOMweb *client* of ``medbridge serve``: it queries, retrieves and stores.

Orthanc's DICOMweb plugin, given medbridge's door in ``DicomWeb.Servers``, sends its
own QIDO-RS, WADO-RS and STOW-RS requests when its REST API is asked to
(``/dicom-web/servers/medbridge/qido|retrieve|stow|get``): an independent
implementation judges the door. medbridge runs as a process (``medbridge serve``);
the corpus goes in and is checked over its DIMSE door, which does not depend on the
routes under test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from archive.factory import Spec, corpus, make_bytes, write_files
from dimse.peers import MedbridgeServer
from medbridge.archive.keys import identifier_from_keys
from medbridge.dimse import scu
from web.orthanc import OrthancPeer, orthanc_dicomweb

HOST = "127.0.0.1"
STUDY1 = corpus()[0].study_uid
SERIES1 = corpus()[0].series_uid


@pytest.fixture(scope="module")
def medbridge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedbridgeServer]:
    """``medbridge serve`` (both doors) holding the corpus, sent over DIMSE."""
    work = tmp_path_factory.mktemp("medbridge")
    paths = write_files(work / "corpus", corpus())
    with MedbridgeServer(work / "var") as srv:
        sent = scu.send(scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE"), paths)
        assert (sent.sent, sent.failed) == (len(paths), [])
        yield srv


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, medbridge_server: MedbridgeServer
) -> Iterator[OrthancPeer]:
    """Orthanc with medbridge's door as its remote DICOMweb server ``medbridge``."""
    work = tmp_path_factory.mktemp("orthanc")
    servers = {"medbridge": f"{medbridge_server.http_url}/dicom-web"}
    with orthanc_dicomweb(work, servers=servers) as orth:
        yield orth


def medbridge_find(srv: MedbridgeServer, keys: list[str], level: str) -> list[Dataset]:
    return scu.find(
        scu.Peer(HOST, srv.port, ae_title="MEDBRIDGE"), identifier_from_keys(keys, level)
    )


def value(item: dict, tag: str) -> object:
    """The first value of `tag` in an answer, None when absent.

    Orthanc hands on ``/get`` answers as DICOM JSON (PS3.18 F.2, ``"Value": [...]``)
    but reshapes ``/qido`` answers into its own form (``"Value": "..."``).
    """
    values = item.get(tag, {}).get("Value")
    if isinstance(values, list):
        return values[0] if values else None
    return values


class TestQido:
    def test_studies(self, orthanc):
        """Orthanc's QIDO-RS of medbridge finds PAT1's two studies, with the asked fields."""
        answer = orthanc.post_json(
            "/dicom-web/servers/medbridge/qido",
            {"Uri": "/studies", "Arguments": {"PatientID": "PAT1", "includefield": "StudyDate"}},
        )
        assert isinstance(answer, list)
        uids = sorted(value(item, "0020000D") for item in answer)
        assert uids == sorted({s.study_uid for s in corpus() if s.patient_id == "PAT1"})
        assert {value(item, "00080020") for item in answer} == {"20240115", "20240301"}

    def test_series_of_a_study(self, orthanc):
        answer = orthanc.post_json(
            "/dicom-web/servers/medbridge/qido", {"Uri": f"/studies/{STUDY1}/series"}
        )
        assert isinstance(answer, list)
        got = sorted((value(i, "0020000E"), value(i, "00080060")) for i in answer)
        want = sorted({(s.series_uid, s.modality) for s in corpus() if s.study_uid == STUDY1})
        assert got == want

    def test_wildcard_and_encoded_person_name(self, orthanc):
        """Orthanc sends ``PatientName=Smith*``; the door matches as C-FIND does."""
        answer = orthanc.post_json(
            "/dicom-web/servers/medbridge/qido",
            {"Uri": "/studies", "Arguments": {"PatientName": "Smith*"}},
        )
        assert isinstance(answer, list)
        assert sorted(value(i, "00100020") for i in answer) == ["PAT2", "PAT3"]

    def test_metadata_through_get(self, orthanc):
        """Orthanc's plain GET proxy reads a series' /metadata: one object per instance."""
        answer = orthanc.post_json(
            "/dicom-web/servers/medbridge/get",
            {"Uri": f"/studies/{STUDY1}/series/{SERIES1}/metadata"},
        )
        assert isinstance(answer, list)
        want = sorted(s.sop_uid for s in corpus() if s.series_uid == SERIES1)
        assert sorted(value(i, "00080018") for i in answer) == want
        for item in answer:
            pixel = item.get("7FE00010", {})
            assert "InlineBinary" not in pixel  # bulk data as BulkDataURI, never inline


class TestRetrieve:
    @pytest.mark.parametrize(
        "resource",
        [
            {"Study": STUDY1},
            {"Study": STUDY1, "Series": SERIES1},
            {"Study": STUDY1, "Series": SERIES1, "Instance": corpus()[2].sop_uid},
        ],
        ids=["study", "series", "instance"],
    )
    def test_orthanc_retrieves_from_medbridge(self, orthanc, resource):
        """WADO-RS by Orthanc brings the instances, datasets unchanged, into Orthanc."""
        orthanc.post_json("/dicom-web/servers/medbridge/retrieve", {"Resources": [resource]})
        wanted = [
            s
            for s in corpus()
            if s.study_uid == resource["Study"]
            and resource.get("Series", s.series_uid) == s.series_uid
            and resource.get("Instance", s.sop_uid) == s.sop_uid
        ]
        assert wanted
        for spec in wanted:
            status, body = orthanc.request("POST", "/tools/lookup", spec.sop_uid)
            found = json.loads(body)
            assert status == 200 and found, f"{spec.sop_uid} not retrieved"
            status, data = orthanc.request("GET", f"/instances/{found[0]['ID']}/file")
            assert status == 200
            assert _dataset(data) == _dataset(make_bytes(spec))


def _dataset(data: bytes) -> Dataset:
    ds = dcmread(BytesIO(data))
    del ds.file_meta
    return ds


class TestStow:
    def test_orthanc_stores_into_medbridge(self, orthanc, medbridge_server, tmp_path: Path):
        """STOW-RS by Orthanc: the instances are then found over medbridge's DIMSE door."""
        specs = [Spec(patient_id="PAT6", study=6, number=n) for n in (1, 2, 3)]
        ids = []
        for spec in specs:
            status, body = orthanc.request("POST", "/instances", make_bytes(spec))
            assert status == 200, body
            ids.append(json.loads(body)["ID"])
        orthanc.post_json("/dicom-web/servers/medbridge/stow", {"Resources": ids})
        found = medbridge_find(medbridge_server, ["PatientID=PAT6", "SOPInstanceUID"], "IMAGE")
        assert sorted(str(ds.SOPInstanceUID) for ds in found) == sorted(s.sop_uid for s in specs)

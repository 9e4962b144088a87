"""``medbridge find|get|send URL`` against Orthanc's DICOMweb, judged by the same over DIMSE.

One Orthanc (Debian ``orthanc`` with ``orthanc-dicomweb``) holds the factory corpus and
answers both doors from one store, so every DICOMweb answer is compared with the DIMSE
answer to the same request: what a user sees must not depend on the door.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from archive.factory import Spec, corpus, make_bytes, write_files
from dimse.peers import medbridge
from medbridge.archive import QueryModel
from medbridge.archive.keys import identifier_from_keys
from medbridge.dimse import scu
from medbridge.web import client
from web.orthanc import OrthancPeer, orthanc_dicomweb

HOST = "127.0.0.1"
STUDY1 = corpus()[0].study_uid
SERIES1 = corpus()[0].series_uid


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancPeer]:
    """Orthanc with DICOMweb, holding the corpus, knowing our DIMSE AE title."""
    work = tmp_path_factory.mktemp("orthanc")
    with orthanc_dicomweb(work, modalities={"medbridge": ("MEDBRIDGE", HOST, 104)}) as orth:
        for spec in corpus():
            orth.upload(make_bytes(spec))
        yield orth


def dimse(peer: OrthancPeer) -> scu.Peer:
    return scu.Peer(HOST, peer.dicom_port, ae_title=peer.aet, calling_ae_title="MEDBRIDGE")


def web(peer: OrthancPeer) -> client.WebPeer:
    return client.WebPeer(peer.dicomweb)


def rows(answers, keys: list[str]) -> list[tuple[str, ...]]:
    """The answers as the table shows them: the asked keys' values as text, sorted."""
    names = [k.partition("=")[0] for k in keys]
    out = []
    for ds in answers:
        out.append(tuple(_text(ds.get(name)) for name in names))
    return sorted(out)


def _text(value) -> str:
    if value is None:
        return ""
    if type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


FIND_CASES = {
    "study by PatientID": (
        "STUDY",
        ["PatientID=PAT1", "StudyInstanceUID", "StudyDate", "AccessionNumber", "PatientName"],
    ),
    "study date range": ("STUDY", ["StudyDate=20240101-20240228", "StudyInstanceUID", "PatientID"]),
    "study by full name": ("STUDY", ["PatientName=Doe^Jane", "StudyInstanceUID"]),
    "study wildcard name": ("STUDY", ["PatientName=Smith*", "StudyInstanceUID", "PatientID"]),
    "study UID list": (
        "STUDY",
        [f"StudyInstanceUID={STUDY1}\\{corpus()[5].study_uid}", "StudyDate"],
    ),
    "all studies with counts": (
        "STUDY",
        ["StudyInstanceUID", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"],
    ),
    "series of a study": (
        "SERIES",
        [f"StudyInstanceUID={STUDY1}", "SeriesInstanceUID", "Modality", "SeriesNumber"],
    ),
    "instances of a series": (
        "IMAGE",
        [
            f"StudyInstanceUID={STUDY1}",
            f"SeriesInstanceUID={SERIES1}",
            "SOPInstanceUID",
            "InstanceNumber",
        ],
    ),
}


class TestFind:
    @pytest.mark.parametrize("case", list(FIND_CASES), ids=list(FIND_CASES))
    def test_same_answers_as_dimse(self, peer, case):
        """QIDO-RS answers to a C-FIND identifier equal Orthanc's C-FIND answers."""
        level, keys = FIND_CASES[case]
        identifier = identifier_from_keys(keys, level)
        over_dimse = scu.find(dimse(peer), identifier)
        over_web = client.find(web(peer), identifier_from_keys(keys, level))
        assert over_dimse, "C-FIND found nothing: is the caller known to Orthanc?"
        assert rows(over_web, keys) == rows(over_dimse, keys)
        assert all(ds.QueryRetrieveLevel == level for ds in over_web)

    def test_patient_level(self, peer):
        """A PATIENT query (no QIDO level of its own) answers as Patient Root C-FIND does."""
        keys = ["PatientID", "PatientName", "PatientBirthDate", "NumberOfPatientRelatedStudies"]
        model = QueryModel.PATIENT_ROOT
        over_dimse = scu.find(dimse(peer), identifier_from_keys(keys, "PATIENT"), model=model)
        over_web = client.find(web(peer), identifier_from_keys(keys, "PATIENT"), model=model)
        assert len(over_web) == 3
        assert rows(over_web, keys) == rows(over_dimse, keys)

    def test_cli_prints_the_same_table(self, peer):
        """``medbridge find URL`` prints what ``medbridge find HOST PORT`` prints."""
        keys = ["-k", "PatientID=PAT*", "-k", "StudyInstanceUID", "-k", "StudyDate"]
        by_dimse = medbridge("find", "--aec", peer.aet, *keys, HOST, str(peer.dicom_port))
        by_web = medbridge("find", *keys, peer.dicomweb)
        assert by_dimse.returncode == by_web.returncode == 0, by_web.stderr
        assert "4 matches" in by_web.stdout
        assert sorted(by_web.stdout.splitlines()) == sorted(by_dimse.stdout.splitlines())


GET_CASES = {
    "study": ("STUDY", [f"StudyInstanceUID={STUDY1}"]),
    "series": ("SERIES", [f"StudyInstanceUID={STUDY1}", f"SeriesInstanceUID={SERIES1}"]),
    "instance": (
        "IMAGE",
        [
            f"StudyInstanceUID={STUDY1}",
            f"SeriesInstanceUID={SERIES1}",
            f"SOPInstanceUID={corpus()[1].sop_uid}",
        ],
    ),
}


def datasets(folder: Path) -> dict[str, object]:
    """File name → dataset without its File Meta Information (who wrote it differs)."""
    out = {}
    for path in sorted(folder.iterdir()):
        ds = dcmread(path)
        del ds.file_meta
        out[path.name] = ds
    return out


class TestGet:
    @pytest.mark.parametrize("case", list(GET_CASES), ids=list(GET_CASES))
    def test_same_files_as_dimse(self, peer, tmp_path, case):
        """WADO-RS writes the files C-GET writes: same names, same datasets."""
        level, keys = GET_CASES[case]
        by_dimse = scu.get(dimse(peer), identifier_from_keys(keys, level), tmp_path / "dimse")
        by_web = client.get(web(peer), identifier_from_keys(keys, level), tmp_path / "web")
        assert by_dimse.completed > 0
        assert (by_web.status, by_web.completed, by_web.failed) == (0, by_dimse.completed, 0)
        assert datasets(tmp_path / "web") == datasets(tmp_path / "dimse")
        assert sorted(p.name for p in by_web.received) == sorted(p.name for p in by_dimse.received)

    def test_cli_summary_line(self, peer, tmp_path):
        """``medbridge get URL`` prints C-GET's summary line and exits 0."""
        keys = ["-k", f"StudyInstanceUID={STUDY1}"]
        out_dimse, out_web = tmp_path / "dimse", tmp_path / "web"
        by_dimse = medbridge(
            "get", "--aec", peer.aet, "-o", str(out_dimse), *keys, HOST, str(peer.dicom_port)
        )
        by_web = medbridge("get", "-o", str(out_web), *keys, peer.dicomweb)
        assert by_dimse.returncode == by_web.returncode == 0, by_web.stderr
        assert (
            by_web.stdout
            == by_dimse.stdout
            == ("C-GET status 0x0000: received 5, failed 0, warning 0\n")
        )
        assert sorted(p.name for p in out_web.iterdir()) == sorted(
            p.name for p in out_dimse.iterdir()
        )

    def test_by_other_keys(self, peer, tmp_path):
        """A get by PatientID (no UID) reads the patient's studies, as one C-GET of each.

        Orthanc's C-GET accepts only UIDs as keys, so the DIMSE side names the study.
        """
        study3 = next(s.study_uid for s in corpus() if s.patient_id == "PAT2")
        keys = [f"StudyInstanceUID={study3}"]
        by_dimse = scu.get(dimse(peer), identifier_from_keys(keys, "STUDY"), tmp_path / "dimse")
        by_web = client.get(
            web(peer), identifier_from_keys(["PatientID=PAT2"], "PATIENT"), tmp_path / "web"
        )
        assert (by_web.status, by_web.completed) == (0, by_dimse.completed) == (0, 4)
        assert datasets(tmp_path / "web") == datasets(tmp_path / "dimse")

    def test_nothing_matches(self, peer, tmp_path):
        """A get matching nothing reads nothing and succeeds, as C-GET does."""
        keys = ["StudyInstanceUID=1.2.3.4.5.6.7"]
        result = client.get(web(peer), identifier_from_keys(keys, "STUDY"), tmp_path)
        assert (result.status, result.completed, result.failed) == (0, 0, 0)


class TestSend:
    def test_same_output_as_dimse(self, peer, tmp_path):
        """STOW-RS of a folder with a non-DICOM file reports as C-STORE does; all arrive."""
        specs = [Spec(patient_id="PAT9", study=9, number=n) for n in range(1, 5)]
        folder = tmp_path / "in"
        write_files(folder, specs)
        (folder / "notes.txt").write_text("not dicom")
        by_dimse = medbridge("send", "--aec", peer.aet, HOST, str(peer.dicom_port), str(folder))
        by_web = medbridge("send", peer.dicomweb, str(folder))
        assert by_web.stdout == by_dimse.stdout == "sent 4, failed 1\n", (by_web, by_dimse)
        assert by_web.returncode == by_dimse.returncode != 0
        assert "notes.txt: not a DICOM file" in by_web.stderr
        found = client.find(
            web(peer), identifier_from_keys(["PatientID=PAT9", "SOPInstanceUID"], "IMAGE")
        )
        assert sorted(str(ds.SOPInstanceUID) for ds in found) == sorted(s.sop_uid for s in specs)

    def test_batches(self, peer, tmp_path):
        """Many instances go in several requests; each one is accounted for."""
        specs = [Spec(patient_id="PAT8", study=8, number=n) for n in range(1, 12)]
        paths = write_files(tmp_path / "in", specs)
        result = client.send(web(peer), paths, batch_instances=4)
        assert (result.sent, result.failed) == (11, [])

    def test_bytes_arrive_unchanged(self, peer, tmp_path):
        """What STOW-RS stored is the file sent, byte for byte (Orthanc keeps files as sent)."""
        spec = Spec(patient_id="PAT7", study=7, number=1)
        paths = write_files(tmp_path / "in", [spec])
        assert client.send(web(peer), paths).sent == 1
        status, body = peer.request("POST", "/tools/lookup", spec.sop_uid)
        found = json.loads(body)
        assert status == 200 and found, body
        status, body = peer.request("GET", f"/instances/{found[0]['ID']}/file")
        assert status == 200 and body == paths[0].read_bytes()


class TestUsage:
    def test_url_with_port_is_a_usage_error(self, peer):
        result = medbridge("find", peer.dicomweb, "8042")
        assert result.returncode == 2
        assert "give its port inside it" in result.stderr

    def test_send_url_with_port_is_a_usage_error(self, peer, tmp_path):
        result = medbridge("send", peer.dicomweb, "8042", str(tmp_path))
        assert result.returncode == 2
        assert "give its port inside it" in result.stderr

    def test_echo_takes_no_url(self, peer):
        result = medbridge("echo", peer.dicomweb)
        assert result.returncode == 2
        assert "only find, get and send" in result.stderr

    def test_missing_port_for_dimse(self):
        result = medbridge("find", "-k", "PatientID", HOST)
        assert result.returncode == 2
        assert "PORT" in result.stderr

    def test_unreachable_server_is_one_line(self):
        result = medbridge("find", "-k", "PatientID", "http://127.0.0.1:9/dicom-web")
        assert result.returncode == 1
        assert result.stderr.startswith("error: QIDO-RS /studies: cannot reach")
        assert "Traceback" not in result.stderr

"""medbridge's SCU commands (``medbridge echo|send|find|move|get``) against real peers.

The peers are DCMTK's storescp and Orthanc (Debian package), each started by the test
on free ports; every command runs as a ``python -m medbridge`` process.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from archive.factory import ROOT, corpus, make_bytes
from dimse.conftest import dataset_body
from dimse.peers import free_port, medbridge, orthanc, orthanc_get, storescp

HOST = "127.0.0.1"


def bodies_by_uid(folder: Path) -> dict[str, bytes]:
    """SOP Instance UID → dataset bytes of every file in `folder`."""
    return {dcmread(p).SOPInstanceUID: dataset_body(p.read_bytes()) for p in folder.iterdir()}


def expected_bodies(study: int | None = None) -> dict[str, bytes]:
    return {
        s.sop_uid: dataset_body(make_bytes(s))
        for s in corpus()
        if study is None or s.study == study
    }


class TestAgainstStorescp:
    def test_echo(self, tmp_path):
        """medbridge echo gets status 0x0000 from storescp."""
        with storescp(tmp_path / "out", "STORESCP") as port:
            result = medbridge("echo", "--aec", "STORESCP", HOST, str(port))
        assert result.returncode == 0, result.stderr
        assert "status 0x0000" in result.stdout

    def test_send_arrives_byte_for_byte(self, tmp_path, corpus_dir):
        """medbridge send delivers every file of a folder unchanged."""
        out = tmp_path / "out"
        with storescp(out, "STORESCP") as port:
            result = medbridge("send", "--aec", "STORESCP", HOST, str(port), str(corpus_dir))
        assert result.returncode == 0, result.stderr
        assert f"sent {len(corpus())}, failed 0" in result.stdout
        assert bodies_by_uid(out) == expected_bodies()

    def test_send_reports_non_dicom(self, tmp_path, corpus_dir):
        """A file that is not DICOM is named on stderr and the exit status is 1."""
        junk = tmp_path / "junk.txt"
        junk.write_text("not dicom")
        with storescp(tmp_path / "out", "STORESCP") as port:
            result = medbridge("send", "--aec", "STORESCP", HOST, str(port), str(junk))
        assert result.returncode == 1
        assert "junk.txt: not a DICOM file" in result.stderr


@pytest.fixture(scope="module")
def orthanc_peer(tmp_path_factory, corpus_dir) -> Iterator[tuple[int, int, int, Path]]:
    """Orthanc that knows MEDBRIDGE and DEST, holding the corpus sent by medbridge send.

    Yields (http port, DICOM port, DEST port, DEST folder).
    """
    work = tmp_path_factory.mktemp("orthanc")
    dest_dir = work / "dest"
    with storescp(dest_dir, "DEST") as dest_port:
        modalities = {
            "medbridge": ("MEDBRIDGE", HOST, free_port()),
            "dest": ("DEST", HOST, dest_port),
        }
        with orthanc(work, aet="ORTHANC", modalities=modalities) as (http, dicom):
            sent = medbridge("send", "--aec", "ORTHANC", HOST, str(dicom), str(corpus_dir))
            assert sent.returncode == 0, sent.stderr + sent.stdout
            yield http, dicom, dest_port, dest_dir


class TestAgainstOrthanc:
    def test_echo(self, orthanc_peer):
        """medbridge echo gets status 0x0000 from Orthanc."""
        _http, dicom, _dp, _dd = orthanc_peer
        result = medbridge("echo", "--aec", "ORTHANC", HOST, str(dicom))
        assert result.returncode == 0, result.stderr

    def test_send_is_stored_unchanged(self, orthanc_peer):
        """Every instance sent is in Orthanc, its dataset the bytes we sent."""
        http, _dicom, _dp, _dd = orthanc_peer
        ids = orthanc_get(http, "/instances")
        assert isinstance(ids, list) and len(ids) == len(corpus())
        stored = {}
        for oid in ids:
            url = f"http://{HOST}:{http}/instances/{oid}/file"
            with urllib.request.urlopen(url, timeout=30) as rsp:
                data = rsp.read()
            tags = orthanc_get(http, f"/instances/{oid}/simplified-tags")
            assert isinstance(tags, dict)
            stored[tags["SOPInstanceUID"]] = dataset_body(data)
        assert stored == expected_bodies()

    def test_find_studies_by_wildcard(self, orthanc_peer):
        """medbridge find at STUDY level lists the matching studies (not an empty answer)."""
        _http, dicom, _dp, _dd = orthanc_peer
        result = medbridge(
            "find", "--aec", "ORTHANC", "--level", "STUDY", "-k", "PatientName=SMITH*",
            "-k", "StudyInstanceUID", "-k", "PatientID", HOST, str(dicom),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "2 matches" in result.stdout
        assert f"{ROOT}.1.3" in result.stdout and f"{ROOT}.1.4" in result.stdout

    def test_get_series_arrives_byte_for_byte(self, orthanc_peer, tmp_path):
        """medbridge get of a series receives its instances unchanged."""
        _http, dicom, _dp, _dd = orthanc_peer
        result = medbridge(
            "get", "--aec", "ORTHANC", "-o", str(tmp_path), "--level", "SERIES",
            "-k", f"StudyInstanceUID={ROOT}.1.1", "-k", f"SeriesInstanceUID={ROOT}.2.1.1",
            HOST, str(dicom),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + result.stdout
        want = {u: b for u, b in expected_bodies(1).items() if u.startswith(f"{ROOT}.3.1.1.")}
        assert bodies_by_uid(tmp_path) == want

    def test_move_study_to_storescp(self, orthanc_peer):
        """medbridge move makes Orthanc send a study to the storescp DEST."""
        _http, dicom, _dp, dest_dir = orthanc_peer
        result = medbridge(
            "move", "--aec", "ORTHANC", "--dest", "DEST", "-k", f"StudyInstanceUID={ROOT}.1.3",
            HOST, str(dicom),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr + result.stdout
        assert "completed 4, failed 0" in result.stdout
        assert bodies_by_uid(dest_dir) == expected_bodies(3)

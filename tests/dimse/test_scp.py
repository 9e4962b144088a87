"""The SCP driven by DCMTK's echoscu, storescu, findscu, movescu and getscu as processes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pynetdicom import AE

from archive.factory import ROOT, Spec, corpus, make_bytes
from dimse.conftest import dataset_body, stored_path
from dimse.peers import MedbridgeServer, need, run

HOST = "127.0.0.1"


def findscu(server, level: str, *keys: str, model: str = "-S", out: Path) -> list[Dataset]:
    """Run findscu with -X and return the extracted responses in order."""
    need("findscu")
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "findscu",
        model,
        "-aec",
        "MEDBRIDGE",
        "-X",
        "-od",
        str(out),
        "-k",
        f"QueryRetrieveLevel={level}",
    ]
    for key in keys:
        args += ["-k", key]
    result = run([*args, HOST, str(server.port)])
    assert result.returncode == 0, result.stderr + result.stdout
    return [dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def content(ds: Dataset) -> dict[int, object]:
    """Tag → value, without group lengths and trailing padding, which storescu drops."""
    return {int(e.tag): e.value for e in ds if e.tag.element != 0 and e.tag != 0xFFFCFFFC}


class TestEcho:
    def test_echoscu(self, server):
        """echoscu gets a success."""
        need("echoscu")
        result = run(["echoscu", "-aec", "MEDBRIDGE", HOST, str(server.port)])
        assert result.returncode == 0, result.stderr


class TestStore:
    def test_storescu_instances_are_stored_byte_for_byte(self, server, corpus_dir):
        """Each dataset storescu sent is on disk exactly as sent, under its UID."""
        for spec, path in zip(corpus(), sorted(corpus_dir.glob("*.dcm")), strict=True):
            stored = stored_path(server.data_dir, spec.sop_uid).read_bytes()
            assert dataset_body(stored) == dataset_body(path.read_bytes())

    @pytest.mark.parametrize(
        ("name", "propose"),
        [
            ("SC_rgb_jpeg_dcmtk.dcm", "-xy"),
            ("JPEG-lossy.dcm", "-xx"),
            ("JPEG2000.dcm", "-xw"),
            ("SC_rgb_rle.dcm", "-xr"),
            ("MR_small_jpeg_ls_lossless.dcm", "-xt"),
            ("image_dfl.dcm", "-xd"),
            ("CT_small.dcm", "-xe"),
            ("rtplan.dcm", "-xi"),
        ],
    )
    def test_transfer_syntaxes_are_kept(self, server, tmp_path, name, propose):
        """Compressed and deflated instances are stored as sent, in their transfer syntax.

        storescu re-encodes the header (e.g. sequence lengths), so the check is element
        by element plus the pixel data bytes, which must not have been re-encoded.
        """
        src = Path(get_testdata_file(name))
        shutil.copy(src, tmp_path / name)
        result = run(
            ["storescu", propose, "-aec", "MEDBRIDGE", HOST, str(server.port), str(tmp_path / name)]
        )
        assert result.returncode == 0, result.stderr
        original = dcmread(src)
        stored = dcmread(stored_path(server.data_dir, original.SOPInstanceUID))
        assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert content(stored) == content(original)

    def test_malformed_dataset_fails_and_server_goes_on(self, server, tmp_path):
        """A dataset that does not parse gets 0xC000; the next association still works."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6"
        meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        good = Dataset()
        good.file_meta = meta
        good.SOPClassUID = meta.MediaStorageSOPClassUID
        path = tmp_path / "bad.dcm"
        good.save_as(path, enforce_file_format=True)
        with path.open("ab") as f:  # a UI element claiming 4 GB
            f.write(b"\x08\x00\x18\x00UI\xff\xff" + b"1.2.3" * 3)
        ae = AE(ae_title="BADSENDER")
        ae.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        status = assoc.send_c_store(path)
        assoc.release()
        assert status.Status == 0xC000
        assert "ErrorComment" in status
        result = run(["echoscu", "-aec", "MEDBRIDGE", HOST, str(server.port)])
        assert result.returncode == 0
        assert not stored_path(server.data_dir, "1.2.3.4.5.6").exists()

    def test_conflicting_resend_is_reported(self, server, tmp_path):
        """Other content under a stored SOP Instance UID gets storescu's "Warning"
        (0xB000, a C-STORE status it knows) and changes nothing."""
        changed = tmp_path / "changed.dcm"
        changed.write_bytes(make_bytes(Spec(number=1, description="CHANGED")))
        before = stored_path(server.data_dir, Spec(number=1).sop_uid).read_bytes()
        result = run(["storescu", "-v", "-aec", "MEDBRIDGE", HOST, str(server.port), str(changed)])
        assert result.returncode == 0, result.stderr
        assert "Unknown Status" not in result.stdout + result.stderr
        assert "Warning" in result.stdout + result.stderr
        assert stored_path(server.data_dir, Spec(number=1).sop_uid).read_bytes() == before


class TestFind:
    def test_patient_level_patient_root(self, server, tmp_path):
        """Patient Root PATIENT level: 3 patients with their related counts."""
        rsp = findscu(
            server,
            "PATIENT",
            "PatientID=PAT*",
            "PatientName",
            "NumberOfPatientRelatedStudies",
            "NumberOfPatientRelatedInstances",
            model="-P",
            out=tmp_path,
        )
        got = sorted(
            (d.PatientID, d.NumberOfPatientRelatedStudies, d.NumberOfPatientRelatedInstances)
            for d in rsp
        )
        assert got == [("PAT1", 2, 7), ("PAT2", 1, 4), ("PAT3", 1, 2)]

    def test_study_level_wildcard_on_name(self, server, tmp_path):
        """PatientName=smith* (case-insensitive) finds the two Smith studies."""
        rsp = findscu(
            server,
            "STUDY",
            "PatientName=smith*",
            "StudyInstanceUID",
            "ModalitiesInStudy",
            "NumberOfStudyRelatedSeries",
            out=tmp_path,
        )
        got = sorted(
            (d.StudyInstanceUID, str(d.ModalitiesInStudy), d.NumberOfStudyRelatedSeries)
            for d in rsp
        )
        assert got == [(f"{ROOT}.1.3", "['CT', 'PT']", 2), (f"{ROOT}.1.4", "CT", 1)]
        assert all(d.RetrieveAETitle == "MEDBRIDGE" for d in rsp)

    def test_study_level_date_range(self, server, tmp_path):
        """StudyDate=20240101-20240131 finds the two January studies."""
        rsp = findscu(
            server,
            "STUDY",
            "StudyDate=20240101-20240131",
            "StudyInstanceUID",
            out=tmp_path,
        )
        assert sorted(d.StudyInstanceUID for d in rsp) == [f"{ROOT}.1.1", f"{ROOT}.1.4"]
        assert {d.StudyDate for d in rsp} == {"20240115"}

    def test_series_level_in_study(self, server, tmp_path):
        """SERIES level under study 3: a CT series of 3 and a PT series of 1."""
        rsp = findscu(
            server,
            "SERIES",
            f"StudyInstanceUID={ROOT}.1.3",
            "SeriesInstanceUID",
            "Modality",
            "NumberOfSeriesRelatedInstances",
            out=tmp_path,
        )
        assert sorted((d.Modality, d.NumberOfSeriesRelatedInstances) for d in rsp) == [
            ("CT", 3),
            ("PT", 1),
        ]

    def test_image_level_uid_list(self, server, tmp_path):
        """IMAGE level with a list of two SOP Instance UIDs returns those two."""
        uids = f"{ROOT}.3.1.1.1\\{ROOT}.3.4.1.2"
        rsp = findscu(
            server, "IMAGE", f"SOPInstanceUID={uids}", "InstanceNumber", "Rows", out=tmp_path
        )
        assert sorted((d.SOPInstanceUID, d.InstanceNumber, d.Rows) for d in rsp) == [
            (f"{ROOT}.3.1.1.1", 1, 16),
            (f"{ROOT}.3.4.1.2", 2, 16),
        ]

    def test_universal_matching_counts_all_studies(self, server, tmp_path):
        """An empty StudyInstanceUID returns every study of the corpus (and the extras)."""
        rsp = findscu(server, "STUDY", "StudyInstanceUID", "PatientID=PAT*", out=tmp_path)
        assert sorted(d.StudyInstanceUID for d in rsp) == [f"{ROOT}.1.{n}" for n in (1, 2, 3, 4)]


class TestMove:
    def test_movescu_study_to_storescp(self, server, destination, tmp_path):
        """C-MOVE of study 3 to DEST delivers its 4 instances byte for byte."""
        need("movescu")
        _port, out = destination
        result = run(
            [
                "movescu",
                "-S",
                "-aet",
                "MOVER",
                "-aec",
                "MEDBRIDGE",
                "-aem",
                "DEST",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={ROOT}.1.3",
                HOST,
                str(server.port),
            ]
        )
        assert result.returncode == 0, result.stderr
        received = {dcmread(p).SOPInstanceUID: p for p in out.iterdir()}
        expected = [s for s in corpus() if s.study == 3]
        assert sorted(received) == sorted(s.sop_uid for s in expected)
        for spec in expected:
            assert dataset_body(received[spec.sop_uid].read_bytes()) == dataset_body(
                make_bytes(spec)
            )

    def test_unknown_destination_is_refused(self, server):
        """C-MOVE to an AE that is not configured fails with 0xA801."""
        result = run(
            [
                "movescu",
                "-S",
                "-aec",
                "MEDBRIDGE",
                "-aem",
                "NOWHERE",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={ROOT}.1.3",
                HOST,
                str(server.port),
            ]
        )
        assert result.returncode != 0
        assert "MoveDestinationUnknown" in result.stdout + result.stderr


class TestGet:
    def test_getscu_series(self, server, tmp_path):
        """C-GET of series 1.1 returns its 3 instances byte for byte on the same association."""
        need("getscu")
        result = run(
            [
                "getscu",
                "-S",
                "-aec",
                "MEDBRIDGE",
                "-od",
                str(tmp_path),
                "-k",
                "QueryRetrieveLevel=SERIES",
                "-k",
                f"SeriesInstanceUID={ROOT}.2.1.1",
                HOST,
                str(server.port),
            ]
        )
        assert result.returncode == 0, result.stderr
        files = sorted(tmp_path.iterdir())
        assert len(files) == 3
        for path in files:
            uid = dcmread(path).SOPInstanceUID
            spec = next(s for s in corpus() if s.sop_uid == uid)
            assert dataset_body(path.read_bytes()) == dataset_body(make_bytes(spec))


class TestAccessControl:
    def test_unknown_caller_is_refused(self, tmp_path, destination):
        """With refuse_unknown, only configured AE titles may associate."""
        need("echoscu")
        config = tmp_path / "medbridge.toml"
        config.write_text(
            f"[server]\nrefuse_unknown = true\n\n"
            f'[aes.DEST]\nae_title = "DEST"\nhost = "127.0.0.1"\nport = {destination[0]}\n'
        )
        with MedbridgeServer(tmp_path / "var", config=config) as srv:
            stranger = run(
                ["echoscu", "-aet", "STRANGER", "-aec", "MEDBRIDGE", HOST, str(srv.port)]
            )
            friend = run(["echoscu", "-aet", "DEST", "-aec", "MEDBRIDGE", HOST, str(srv.port)])
        assert stranger.returncode != 0
        assert friend.returncode == 0, friend.stderr

    def test_known_title_from_another_host_is_refused(self, tmp_path):
        """A known AE title is refused from an address its configured host is not."""
        need("echoscu")
        config = tmp_path / "medbridge.toml"
        config.write_text(
            "[server]\nrefuse_unknown = true\n\n"
            '[aes.FAR]\nae_title = "FAR"\nhost = "192.0.2.7"\nport = 104\n\n'
            '[aes.NEAR]\nae_title = "NEAR"\nhost = "localhost"\nport = 104\n'
        )
        with MedbridgeServer(tmp_path / "var", config=config) as srv:
            far = run(["echoscu", "-aet", "FAR", "-aec", "MEDBRIDGE", HOST, str(srv.port)])
            near = run(["echoscu", "-aet", "NEAR", "-aec", "MEDBRIDGE", HOST, str(srv.port)])
            log = srv.log
        assert far.returncode != 0
        assert "FAR@127.0.0.1" in log and "refused" in log
        assert near.returncode == 0, near.stderr

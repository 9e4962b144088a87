"""Issue 15, the server side: what DCMTK's tools and pynetdicom see in everyday use.

Refused retrieves must send a failure status, resends in another transfer syntax are
the same instance, conflicting resends get a standard C-STORE status, the called AE
title is checked when the config says so, and every C-STORE success is logged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from archive.factory import Spec, make_bytes
from dimse.conftest import stored_path
from dimse.peers import MedbridgeServer, medbridge, need, run
from medbridge.dimse.handlers import error_comment

HOST = "127.0.0.1"


def _patient_level(patient_id: str = "PAT1") -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "PATIENT"
    ds.PatientID = patient_id
    return ds


class TestRefusedRetrieve:
    def test_get_patient_level_in_study_root_fails(self, server):
        """C-GET at PATIENT level in the Study Root model ends with 0xA900, not Success."""
        ae = AE(ae_title="GETTER")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        responses = list(
            assoc.send_c_get(_patient_level(), StudyRootQueryRetrieveInformationModelGet)
        )
        assoc.release()
        final = responses[-1][0]
        assert final.Status == 0xA900
        assert "PATIENT" in final.ErrorComment
        assert final.get("NumberOfCompletedSuboperations", 0) == 0

    def test_movescu_patient_level_in_study_root_fails(self, server):
        """movescu -S at PATIENT level gets a failure (0xA900), never Success."""
        need("movescu")
        result = run(
            [
                "movescu", "-S", "-aec", "MEDBRIDGE", "-aem", "DEST",
                "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=PAT1",
                HOST, str(server.port),
            ]
        )  # fmt: skip
        text = result.stdout + result.stderr
        assert "DataSetDoesNotMatchSOPClass" in text, text  # DCMTK's name of 0xA900

    def test_move_failure_comment_through_pynetdicom(self, server):
        """The C-MOVE failure carries the reason as its Error Comment."""
        ae = AE(ae_title="MOVER")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        responses = list(
            assoc.send_c_move(_patient_level(), "DEST", StudyRootQueryRetrieveInformationModelMove)
        )
        assoc.release()
        final = responses[-1][0]
        assert final.Status == 0xA900
        assert "Study Root" in final.ErrorComment


class TestRefusedFind:
    def test_find_failure_carries_the_reason(self, server):
        """C-FIND at PATIENT level in Study Root: 0xA900 with the reason as Error Comment."""
        ae = AE(ae_title="FINDER")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        assert assoc.is_established
        responses = list(
            assoc.send_c_find(_patient_level(), StudyRootQueryRetrieveInformationModelFind)
        )
        assoc.release()
        final = responses[-1][0]
        assert final.Status == 0xA900
        assert "Study Root" in final.ErrorComment


class TestResend:
    def test_big_endian_then_storescu_is_identical(self, server, tmp_path):
        """A big endian file stored as sent, then sent again by storescu (which converts
        it to little endian) is the same instance: success, stored copy unchanged."""
        need("storescu")
        src = Path(get_testdata_file("MR_small_bigendian.dcm"))
        shutil.copy(src, tmp_path / "be.dcm")
        uid = dcmread(src).SOPInstanceUID
        first = medbridge(
            "send", "--aec", "MEDBRIDGE", HOST, str(server.port), str(tmp_path / "be.dcm")
        )
        assert first.returncode == 0, first.stderr
        stored = stored_path(server.data_dir, uid)
        assert dcmread(stored).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"
        before = stored.read_bytes()
        for _ in range(2):  # storescu converts to little endian, twice
            again = run(
                ["storescu", "-aec", "MEDBRIDGE", HOST, str(server.port), str(tmp_path / "be.dcm")]
            )
            assert again.returncode == 0, again.stderr
            assert "Unknown Status" not in again.stdout + again.stderr
            assert "0x0111" not in again.stdout + again.stderr
        assert stored.read_bytes() == before
        assert f"C-STORE {uid} from" in server.log and "identical" in server.log

    def test_conflicting_resend_is_a_warning(self, server, tmp_path):
        """Other content under a stored UID: 0xB000 (coercion), a log line, nothing changed."""
        changed = tmp_path / "changed.dcm"
        changed.write_bytes(make_bytes(Spec(number=2, description="CHANGED AGAIN")))
        before = stored_path(server.data_dir, Spec(number=2).sop_uid).read_bytes()
        ae = AE(ae_title="RESENDER")
        ae.add_requested_context(dcmread(changed).SOPClassUID, "1.2.840.10008.1.2.1")
        assoc = ae.associate(HOST, server.port, ae_title="MEDBRIDGE")
        status = assoc.send_c_store(changed)
        assoc.release()
        assert status.Status == 0xB000
        assert "kept" in status.ErrorComment
        assert stored_path(server.data_dir, Spec(number=2).sop_uid).read_bytes() == before
        assert "stored copy is kept" in server.log


class TestLogging:
    def test_store_success_is_logged_at_info(self, server):
        """Each C-STORE success is one INFO line naming the instance and the caller."""
        uid = Spec(number=3).sop_uid
        lines = [line for line in server.lines if f"C-STORE {uid} from" in line]
        assert lines and " INFO " in lines[0] and "STORESCU@" in lines[0]


class TestCalledAE:
    @pytest.mark.parametrize(
        "settings",
        ["refuse_unknown = true", "check_called_ae = true"],
    )
    def test_wrong_called_title_is_refused(self, tmp_path, settings):
        """echoscu -aec WRONG is rejected when the called title is checked."""
        need("echoscu")
        config = tmp_path / "medbridge.toml"
        config.write_text(
            f"[server]\n{settings}\n\n"
            '[aes.ECHO]\nae_title = "ECHOSCU"\nhost = "127.0.0.1"\nport = 104\n'
        )
        with MedbridgeServer(tmp_path / "var", config=config) as srv:
            wrong = run(["echoscu", "-aec", "WRONG", HOST, str(srv.port)])
            right = run(["echoscu", "-aec", "MEDBRIDGE", HOST, str(srv.port)])
            stranger = run(
                ["echoscu", "-aet", "STRANGER", "-aec", "MEDBRIDGE", HOST, str(srv.port)]
            )
            log = srv.log
        assert wrong.returncode != 0
        assert "Called AE Title Not Recognized" in wrong.stdout + wrong.stderr
        assert "called AE title 'WRONG'" in log
        assert right.returncode == 0, right.stderr
        if "refuse_unknown" in settings:  # the reason reaches the caller, not an abort
            assert "Calling AE Title Not Recognized" in stranger.stdout + stranger.stderr

    def test_open_server_answers_any_called_title(self, server):
        """Without refuse_unknown (and no check_called_ae) any called title is answered."""
        need("echoscu")
        result = run(["echoscu", "-aec", "ANYTHING", HOST, str(server.port)])
        assert result.returncode == 0, result.stderr


class TestErrorComment:
    def test_short_text_is_kept(self):
        """A comment that fits is sent as it is."""
        assert error_comment("could not store the instance") == "could not store the instance"

    def test_uids_go_before_words(self):
        """A long comment loses its UIDs first, never half a UID."""
        uid = "1.2.826.0.1.3680043.10.1337.3.1.1.123456789012345678"
        text = f"invalid value for (0020,000D) 'Study Instance UID' {uid}: too long"
        comment = error_comment(text)
        assert len(comment) <= 64
        assert "1.2.826" not in comment and comment.endswith("too long")

    def test_words_are_cut_whole(self):
        """Without UIDs, the text is cut between words and marked."""
        comment = error_comment("word " * 30)
        assert len(comment) <= 64 and comment.endswith("word...")


class TestClientOutput:
    def test_find_without_keys_shows_the_studies(self, server):
        """``find`` with no -k prints each study's UID and main attributes, not a blank."""
        result = medbridge("find", "--aec", "MEDBRIDGE", HOST, str(server.port))
        assert result.returncode == 0, result.stderr
        header = next(line for line in result.stdout.splitlines() if "StudyInstanceUID" in line)
        assert header.index("StudyInstanceUID") < header.index("StudyDate")
        assert Spec(study=1).study_uid in result.stdout
        assert "PAT1" in result.stdout

    def test_find_columns_follow_the_keys(self, server):
        """Columns come in the order of -k, not in tag order."""
        result = medbridge(
            "find", "--aec", "MEDBRIDGE", "-k", "StudyDate", "-k", "PatientName",
            "-k", "StudyInstanceUID", HOST, str(server.port),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        header = next(line for line in result.stdout.splitlines() if "StudyDate" in line)
        positions = [header.index(k) for k in ("StudyDate", "PatientName", "StudyInstanceUID")]
        assert positions == sorted(positions)

    def test_get_reports_progress_counts(self, server, tmp_path):
        """`scu.get` reports the announced and done sub-operations as they arrive."""
        from medbridge.archive import QueryModel
        from medbridge.dimse import scu

        seen: list[tuple[int, int]] = []
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "SERIES"
        identifier.SeriesInstanceUID = Spec().series_uid
        result = scu.get(
            scu.Peer(HOST, server.port, ae_title="MEDBRIDGE"),
            identifier,
            tmp_path,
            model=QueryModel.STUDY_ROOT,
            on_response=lambda r: seen.append((r.total - r.remaining, r.total)),
        )
        assert result.status == 0x0000 and len(result.received) == 3
        assert seen[0][1] == 3 and seen[-1] == (3, 3)

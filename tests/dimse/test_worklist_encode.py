"""MWL answers encoded without pydicom's writer read back as pydicom's own encoding does."""

from __future__ import annotations

import io

import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pynetdicom.dsutils import encode

from medbridge.archive import Archive
from medbridge.archive.worklist import Worklist, new_item
from medbridge.dimse.worklist import encode_answer


def decoded(data: bytes, *, explicit_vr: bool) -> dict[str, object]:
    return read_dataset(io.BytesIO(data), not explicit_vr, True).to_json_dict()


@pytest.mark.parametrize("explicit_vr", [True, False], ids=["explicit", "implicit"])
def test_same_answers_as_pydicom(tmp_path, explicit_vr):
    with Archive(tmp_path / "var") as arc:
        wl = Worklist(arc.index)
        item = new_item(
            patient_id="E1",
            patient_name="Müller^Jörg=ミュラー",
            modality="CT",
            station_ae="CT1",
            start_date="20270101",
            start_time="0815",
            accession="ODD",
        )
        item.OtherPatientIDsSequence = [Dataset()]
        item.OtherPatientIDsSequence[0].PatientID = "X7"
        wl.add(item)
        wl.add(new_item(patient_id="E2", modality="MR", station_ae="MR1"))
        for ident in (_everything(), _sub_keys()):
            answers = list(wl.find(ident))
            assert len(answers) == 2
            for answer in answers:
                ours = encode_answer(answer, explicit_vr=explicit_vr)
                theirs = encode(answer, not explicit_vr, True, False)
                assert theirs is not None
                assert decoded(ours, explicit_vr=explicit_vr) == decoded(
                    theirs, explicit_vr=explicit_vr
                )


def _everything() -> Dataset:
    ds = Dataset()
    ds.PatientName = ""
    ds.PatientID = ""
    ds.AccessionNumber = ""
    ds.OtherPatientIDsSequence = []
    ds.ScheduledProcedureStepSequence = []
    return ds


def _sub_keys() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = ""
    ds.PatientBirthDate = ""
    ds.AdmissionID = ""
    sps = Dataset()
    sps.ScheduledStationAETitle = ""
    sps.ScheduledProcedureStepStartTime = ""
    sps.ScheduledProtocolCodeSequence = []
    ds.ScheduledProcedureStepSequence = [sps]
    return ds

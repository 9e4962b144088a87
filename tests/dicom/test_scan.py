"""Scanning real files: pydicom's test data and dcm2niix's dcm_qa sets, checked against
independent readers (pydicom's full parser and DCMTK's dcmdump)."""

from __future__ import annotations

import subprocess
import warnings
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from conftest import require_tool
from medbridge.dicom import InstanceRecord, ScanFailure, build_hierarchy, scan
from medbridge.dicom.dicomdir import MEDIA_STORAGE_DIRECTORY

# Every file in pydicom's test data that a scan must refuse, with the reason it must
# give. These are pydicom's own broken or non-DICOM samples (see its test_files README).
EXPECTED_PYDICOM_FAILURES = {
    "MR_truncated.dcm": "truncated",
    "rtplan_truncated.dcm": "truncated",
    "README.txt": "not a DICOM file",
    "crayons.icc": "not a DICOM file",
    "dicomdirtests/README.txt": "not a DICOM file",
    "dicomdirtests/TINY_ALPHA/README": "not a DICOM file",
    "no_meta.dcm": "not a DICOM file",  # starts with a stray byte before its first element
    "rtplan.dump": "not a DICOM file",
    "rtstruct.dump": "not a DICOM file",
    "test1.json": "not a DICOM file",
    "test_PN.json": "not a DICOM file",
    "zipMR.gz": "not a DICOM file",
    "empty_charset_LEI.dcm": "not an instance",
}


def _split(
    results: list[InstanceRecord | ScanFailure],
) -> tuple[list[InstanceRecord], list[ScanFailure]]:
    records = [r for r in results if isinstance(r, InstanceRecord)]
    failures = [r for r in results if isinstance(r, ScanFailure)]
    assert len(records) + len(failures) == len(results)
    return records, failures


def _assert_same_as_pydicom(record: InstanceRecord, ds: pydicom.Dataset) -> None:
    where = record.path
    meta = getattr(ds, "file_meta", {})
    assert record.sop_instance_uid == str(
        ds.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID", "")
    ), where
    assert record.study_instance_uid == str(ds.get("StudyInstanceUID", "")), where
    assert record.series_instance_uid == str(ds.get("SeriesInstanceUID", "")), where
    assert record.patient_id == str(ds.get("PatientID", "")).strip(), where
    assert record.patient_name == str(ds.get("PatientName", "")).strip(), where
    assert record.modality == str(ds.get("Modality", "")), where
    assert record.rows == ds.get("Rows"), where
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
    except ValueError:
        frames = 1
        assert any("Number of Frames" in w for w in record.warnings), where
    assert record.number_of_frames == frames, where
    if "TransferSyntaxUID" in meta:
        assert record.transfer_syntax_uid == meta.TransferSyntaxUID, where


def _pydicom_read(path: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True, stop_before_pixels=True)


@pytest.fixture(scope="module")
def results(pydicom_data: Path) -> list[InstanceRecord | ScanFailure]:
    return list(scan([pydicom_data]))


@pytest.fixture(scope="module")
def scanned(dcm_qa: Path) -> tuple[list[InstanceRecord], list[ScanFailure]]:
    return _split(list(scan(sorted(dcm_qa.glob("*/In")))))


class TestScanPydicomData:
    """Every file pydicom ships is either listed or refused with a clear reason."""

    def test_every_file_is_accounted_for(self, pydicom_data: Path, results: list) -> None:
        """Each regular file appears exactly once, as a record or a failure."""
        on_disk = {str(p) for p in pydicom_data.rglob("*") if p.is_file()}
        dicomdirs = {p for p in on_disk if Path(p).name.startswith("DICOMDIR")}
        seen = [r.path for r in results]
        assert len(seen) == len(set(seen))
        assert set(seen) == on_disk - dicomdirs

    def test_failures_are_the_broken_files(self, pydicom_data: Path, results: list) -> None:
        """The refused files are exactly pydicom's broken samples, each with its reason."""
        _, failures = _split(results)
        got = {str(Path(f.path).relative_to(pydicom_data)): f.reason for f in failures}
        assert set(got) == set(EXPECTED_PYDICOM_FAILURES)
        for name, reason in got.items():
            assert EXPECTED_PYDICOM_FAILURES[name] in reason, (name, reason)

    def test_records_agree_with_pydicom(self, results: list) -> None:
        """Every field the fast reader decodes equals pydicom's full parse of the file."""
        records, _ = _split(results)
        assert len(records) > 140
        for record in records:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns on values it must convert
                _assert_same_as_pydicom(record, _pydicom_read(record.path))

    def test_non_conformant_files_are_read_with_warnings(
        self, pydicom_data: Path, results: list
    ) -> None:
        """Files without preamble or File Meta Information are read, and say so."""
        records, _ = _split(results)
        by_name = {Path(r.path).name: r for r in records}
        assert any("File Meta" in w for w in by_name["ExplVR_LitEndNoMeta.dcm"].warnings)
        assert any("File Meta" in w for w in by_name["ExplVR_BigEndNoMeta.dcm"].warnings)
        assert by_name["ExplVR_BigEndNoMeta.dcm"].transfer_syntax_uid == "1.2.840.10008.1.2.2"
        assert not by_name["CT_small.dcm"].warnings

    def test_transfer_syntaxes_are_all_seen(self, results: list) -> None:
        """The scan reports every transfer syntax pydicom's samples use."""
        records, _ = _split(results)
        seen = {r.transfer_syntax_uid for r in records}
        for uid in (
            "1.2.840.10008.1.2",  # implicit
            "1.2.840.10008.1.2.1",  # explicit LE
            "1.2.840.10008.1.2.2",  # explicit BE
            "1.2.840.10008.1.2.1.99",  # deflated
            "1.2.840.10008.1.2.5",  # RLE
            "1.2.840.10008.1.2.4.50",  # JPEG baseline
            "1.2.840.10008.1.2.4.51",  # JPEG extended
            "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
            "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
            "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
            "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
            "1.2.840.10008.1.2.4.91",  # JPEG 2000
        ):
            assert uid in seen, uid


@pytest.fixture(scope="module")
def dcm_qa_oracle(dcm_qa: Path) -> dict[str, tuple[str, str, str, str, str]]:
    """pydicom's reading of every DICOM input: path -> (ID, name, study, series, SOP UID).

    Files pydicom (not forced) refuses are the sets' non-DICOM extras (.nii, .mat).
    """
    oracle = {}
    for path in sorted(p for p in dcm_qa.glob("*/In/**/*") if p.is_file()):
        try:
            ds = _pydicom_read_strict(str(path))
        except pydicom.errors.InvalidDicomError:
            continue
        if ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY:
            continue  # a File-set's directory (PS3.10 8.6), not a composite instance
        oracle[str(path)] = (
            str(ds.get("PatientID", "")),
            str(ds.get("PatientName", "")),
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            ds.SOPInstanceUID,
        )
    return oracle


def _listed_missing(dcm_qa: Path) -> set[str]:
    """Input paths each set's MISSING.txt says the copy lacks."""
    absent = set()
    for listing in dcm_qa.glob("*/MISSING.txt"):
        for line in listing.read_text().splitlines():
            if line.startswith("In/"):
                absent.add(str(listing.parent / line.strip()))
    return absent


def _pydicom_read_strict(path: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


class TestScanDcmQa:
    """The dcm_qa sets: the hierarchy counts equal those of independent readers."""

    def test_every_input_file_is_an_instance(
        self, dcm_qa: Path, dcm_qa_oracle: dict, scanned: tuple
    ) -> None:
        """Each DICOM input is read without warnings; the rest (.nii, .mat) are refused.

        A DICOMDIR is no instance but leads to its files; the ones it names that the
        copy lacks (each set's MISSING.txt) are reported as missing, and only those.
        """
        records, failures = scanned
        assert sorted(r.path for r in records) == sorted(dcm_qa_oracle)
        assert [r for r in records if r.warnings] == []
        absent = _listed_missing(dcm_qa)
        for failure in failures:
            if "referenced by DICOMDIR" in failure.reason:
                assert failure.reason.endswith("but missing"), failure
                assert failure.path in absent, failure
            else:
                assert failure.reason.startswith("not a DICOM file"), failure

    def test_hierarchy_matches_pydicom_count(self, dcm_qa_oracle: dict, scanned: tuple) -> None:
        """Patients, studies, series and instances per series equal pydicom's count."""
        records, _ = scanned
        expected: dict[tuple[str, str], dict[str, dict[str, set[str]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(set))
        )
        for patient_id, name, study, series, sop in dcm_qa_oracle.values():
            expected[(patient_id, name)][study][series].add(sop)
        patients = build_hierarchy(records)
        got = {
            (p.patient_id, p.patient_name): {
                study.study_instance_uid: {
                    s.series_instance_uid: set(s.instances) for s in study.series.values()
                }
                for study in p.studies.values()
            }
            for p in patients
        }
        assert got == {
            k: {s: dict(v) for s, v in studies.items()} for k, studies in expected.items()
        }

    def test_series_and_instances_match_dcmtk(self, dcm_qa_oracle: dict, scanned: tuple) -> None:
        """DCMTK's dcmdump, a parser written apart from pydicom, finds the same UIDs."""
        dcmdump = require_tool("dcmdump")
        records, _ = scanned
        found: dict[str, dict[str, str]] = {}
        inputs = sorted(dcm_qa_oracle)
        for start in range(0, len(inputs), 500):
            out = subprocess.run(
                [
                    dcmdump,
                    "-q",
                    "+F",
                    "+p",
                    "+P",
                    "0020,000e",
                    "+P",
                    "0008,0018",
                    *inputs[start : start + 500],
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            current = ""
            for line in out.splitlines():
                if line.startswith("# dcmdump"):
                    current = line.split(": ", 1)[1]
                    found[current] = {}
                elif line.startswith(("(0020,000e) ", "(0008,0018) ")):  # top level only
                    found[current][line[:11]] = line.split("[", 1)[1].split("]", 1)[0]
        pairs = {(f, t["(0020,000e)"], t["(0008,0018)"]) for f, t in found.items()}
        ours = {(r.path, r.series_instance_uid, r.sop_instance_uid) for r in records}
        assert ours == pairs

"""Files without a complete File Meta group (issue 13): what ``ls`` lists, ``anonymize`` writes.

CDs and old archives hold bare data sets (no preamble, no meta), meta groups without a
transfer syntax or with empty SOP UIDs; ``ls`` reads them with a warning, so the
de-identifier builds the meta from the data set as the reader does, and refuses, with
what to do, only what no DICOM file can hold (no SOP Class or Instance UID anywhere).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medbridge.deid import Policy
from medbridge.deid.runner import anonymize_paths
from medbridge.dicom import InstanceRecord, scan

KEY = b"k" * 32


def _testdata(name: str) -> Path:
    return Path(str(get_testdata_file(name)))


def _bare(tmp_path: Path, implicit: bool) -> Path:
    ds = pydicom.dcmread(_testdata("MR_small.dcm"))
    del ds.file_meta
    ds.preamble = None
    path = tmp_path / ("bare-implicit.dcm" if implicit else "bare-explicit.dcm")
    ds.save_as(path, implicit_vr=implicit, little_endian=True)
    return path


def _meta_without(tmp_path: Path, keyword: str) -> Path:
    ds = pydicom.dcmread(_testdata("CT_small.dcm"))
    delattr(ds.file_meta, keyword)
    path = tmp_path / f"no-{keyword}.dcm"
    ds.save_as(path)
    return path


class TestAnonymizeWhatLsReads:
    @pytest.mark.parametrize(
        "make",
        [
            lambda tmp: _bare(tmp, True),
            lambda tmp: _bare(tmp, False),
            lambda tmp: shutil.copy(_testdata("ExplVR_BigEndNoMeta.dcm"), tmp / "be.dcm"),
            lambda tmp: _meta_without(tmp, "MediaStorageSOPClassUID"),
            lambda tmp: _meta_without(tmp, "TransferSyntaxUID"),
        ],
        ids=["bare-implicit", "bare-explicit", "bare-big-endian", "no-0002-0002", "no-0002-0010"],
    )
    def test_written_with_a_meta_built_from_the_data_set(self, tmp_path: Path, make) -> None:
        """Listed by ``ls``; written by ``anonymize`` with a complete, consistent meta."""
        (tmp_path / "in").mkdir()
        source = Path(make(tmp_path / "in"))
        (listed,) = scan([source])
        assert isinstance(listed, InstanceRecord)
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        (result,) = summary.results
        assert result.status == "written", result.reason
        out = pydicom.dcmread(result.output)  # not forced: a proper Part 10 file
        meta = out.file_meta
        assert meta.MediaStorageSOPClassUID == out.SOPClassUID == listed.sop_class_uid
        assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID != listed.sop_instance_uid
        assert meta.TransferSyntaxUID == listed.transfer_syntax_uid
        assert out.PatientIdentityRemoved == "YES"

    def test_no_uid_anywhere_is_refused_with_what_to_do(self, tmp_path: Path) -> None:
        """pydicom's meta_missing_tsyntax.dcm names no SOP class or instance: refused."""
        (tmp_path / "in").mkdir()
        shutil.copy(_testdata("meta_missing_tsyntax.dcm"), tmp_path / "in")
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        (result,) = summary.results
        assert result.status == "failed"
        assert "(0008,0016) 'SOP Class UID'" in result.reason
        assert "dcmodify" in result.reason
        assert not list((tmp_path / "out").rglob("*.dcm"))

    def test_meta_only_instance_uid_is_remapped(self, tmp_path: Path) -> None:
        """A SOP Instance UID only the old meta names is remapped, never copied."""
        ds = pydicom.dcmread(_testdata("CT_small.dcm"))
        original = ds.SOPInstanceUID
        del ds.SOPInstanceUID
        (tmp_path / "in").mkdir()
        ds.save_as(tmp_path / "in" / "meta-uid.dcm")
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        (result,) = summary.results
        assert result.status == "written", result.reason
        data = Path(result.output).read_bytes()
        assert original.encode() not in data

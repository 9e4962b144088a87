"""Index rows (archive/_rows.py): the fast header walk agrees with pydicom."""

from __future__ import annotations

from pathlib import Path

import pytest

from medbridge.archive import _rows
from medbridge.dicom._header import NeedsFullParse
from medbridge.errors import InvalidDicomError


def _part10_files(root: Path, step: int = 1) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() != ".json")
    parts = [p for p in files if p.read_bytes()[128:132] == b"DICM"]
    return parts[::step]


def _compare(path: Path) -> bool:
    """Whether the walk read `path`; it then must agree with pydicom value for value."""
    data = path.read_bytes()
    try:
        walked = _rows._walked_values(data)
    except (NeedsFullParse, InvalidDicomError):
        return False
    try:
        expected = _rows._pydicom_values(data)
    except InvalidDicomError:
        pytest.fail(f"the walk read {path}, which pydicom refuses")
    assert walked == expected, path
    return True


class TestHeaderValues:
    def test_pydicom_test_files(self, pydicom_data):
        """Every bundled Part 10 file the walk reads gives pydicom's values."""
        read = [p for p in _part10_files(pydicom_data) if _compare(p)]
        assert len(read) > 50

    def test_dcm_qa_files(self, dcm_qa):
        """Every 7th Part 10 file of the dcm_qa sets (all vendors) gives pydicom's values."""
        read = [p for p in _part10_files(dcm_qa, step=7) if _compare(p)]
        assert len(read) > 300

    def test_big_endian_falls_back_to_pydicom(self, pydicom_data):
        """A file the walk leaves to pydicom is still indexed, through pydicom."""
        data = (pydicom_data / "MR_small_bigendian.dcm").read_bytes()
        with pytest.raises(NeedsFullParse):
            _rows._walked_values(data)
        assert _rows.header_values(data)["Modality"] == "MR"

    def test_truncated_dataset_is_refused(self, pydicom_data):
        """Bytes cut inside the pixel data are refused with the reason."""
        data = (pydicom_data / "CT_small.dcm").read_bytes()
        with pytest.raises(InvalidDicomError, match="truncated"):
            _rows.header_values(data[: len(data) - 1000])

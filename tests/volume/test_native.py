"""Uncompressed pixels read by offset equal pydicom's decoding.

Every native single-frame, single-sample file pydicom ships is read three ways: at the
offset the fast scan found, by searching for the element (no offset), and by pydicom
(the oracle); the header is given as a parsed Dataset and as the fast scan's values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from medbridge.convert._values import SCAN_TAGS, decode_values
from medbridge.dicom._header import IMPLICIT_VR_LE, read_raw_header
from medbridge.volume._native import read_native_pixels

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
# pydicom's set holds files with invalid values on purpose; pydicom warns reading them.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _read(path: Path, **kwargs: object) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)  # type: ignore[arg-type]


def _native_files() -> list[str]:
    """Native files both pydicom and the fast scan read (pydicom ships broken ones too)."""
    names = []
    for path in sorted(PYDICOM_FILES.glob("*.dcm")):
        try:
            ds = _read(path, stop_before_pixels=True)
            read_raw_header(path)
        except Exception:
            continue
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) and "Rows" in ds:
            names.append(path.name)
    return names


NATIVE = _native_files()


class TestReadNativePixels:
    @pytest.mark.parametrize("name", NATIVE)
    def test_by_offset_and_by_search_equal_pydicom(self, name: str) -> None:
        """Both ways give pydicom's array, or both decline (colour, multi-frame...)."""
        path = PYDICOM_FILES / name
        header = _read(path, stop_before_pixels=True)
        raw = read_raw_header(path)
        by_search = read_native_pixels(str(path), header)
        by_offset = read_native_pixels(str(path), header, offset=raw.pixel_data_offset)
        if by_search is None:
            assert by_offset is None
            return
        assert by_offset is not None
        expected = _read(path).pixel_array
        for got in (by_search, by_offset):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)

    def test_shipped_files_cover_the_fast_path(self) -> None:
        """Several shipped files (8/16/32-bit, signed, implicit VR) are read by offset."""
        taken = 0
        for name in NATIVE:
            path = PYDICOM_FILES / name
            raw = read_raw_header(path)
            header = _read(path, stop_before_pixels=True)
            taken += read_native_pixels(str(path), header, offset=raw.pixel_data_offset) is not None
        assert taken >= 5

    def test_scanned_values_serve_as_the_header(self) -> None:
        """The fast scan's values with the file's syntax read the same pixels."""
        for name in ("CT_small.dcm", "MR_small_implicit.dcm"):
            path = PYDICOM_FILES / name
            raw = read_raw_header(path, SCAN_TAGS)
            scanned = decode_values(
                raw.elements, explicit_vr=raw.transfer_syntax_uid != IMPLICIT_VR_LE
            )
            assert scanned is not None
            got = read_native_pixels(
                str(path),
                scanned.values,
                syntax=raw.transfer_syntax_uid,
                offset=raw.pixel_data_offset,
            )
            assert got is not None
            np.testing.assert_array_equal(got, _read(path).pixel_array)

    def test_odd_length_values_with_their_padding_byte(self, tmp_path: Path) -> None:
        """8-bit 3×5 data (15 bytes, padded to 16) is found by offset and by search."""
        ds = _read(PYDICOM_FILES / "CT_small.dcm")
        ds.Rows, ds.Columns = 3, 5
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = bytes(range(15))
        ds["PixelData"].VR = "OB"
        path = tmp_path / "odd.dcm"
        ds.save_as(path, enforce_file_format=True)
        raw = read_raw_header(path)
        header = _read(path, stop_before_pixels=True)
        expected = np.arange(15, dtype=np.uint8).reshape(3, 5)
        for offset in (None, raw.pixel_data_offset):
            got = read_native_pixels(str(path), header, offset=offset)
            assert got is not None
            np.testing.assert_array_equal(got, expected)

    def test_a_wrong_offset_falls_back_to_the_search(self) -> None:
        """An offset that does not follow a (7FE0,0010) header is not trusted."""
        path = PYDICOM_FILES / "CT_small.dcm"
        header = _read(path, stop_before_pixels=True)
        got = read_native_pixels(str(path), header, offset=200)
        assert got is not None
        np.testing.assert_array_equal(got, _read(path).pixel_array)

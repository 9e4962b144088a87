"""Compressed single frames decoded the cheap way equal pydicom's default decoding.

The oracle is pydicom's own pipeline (``dcmread(...).pixel_array``, plugins in its
default order), on every RLE and JPEG-LS file pydicom ships plus generated RLE images
whose unused high bits hold garbage (which pydicom shifts out).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import rle
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLSLossless, RLELossless

from medbridge.dicom._header import read_raw_header
from medbridge.volume._encapsulated import decode_with_preferred_plugin, read_rle_frame

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
RLE = sorted(p.name for p in PYDICOM_FILES.glob("*.dcm") if "rle" in p.name.lower())
JPEG_LS = sorted(
    p.name
    for p in PYDICOM_FILES.glob("*.dcm")
    if any(mark in p.name.lower() for mark in ("jls", "jpeg_ls", "jpegls"))
)


def _reference(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path).pixel_array


def _header(path: Path) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


class TestReadRleFrame:
    @pytest.mark.parametrize("name", RLE)
    def test_equals_pydicom_or_declines(self, name: str) -> None:
        """Single-sample, single-frame RLE: pydicom's values; colour or multi-frame: None."""
        path = PYDICOM_FILES / name
        raw = read_raw_header(path)
        assert raw.pixel_data_offset is not None
        header = _header(path)
        got = read_rle_frame(str(path), header, offset=raw.pixel_data_offset)
        single = header.get("SamplesPerPixel", 1) == 1 and int(header.get("NumberOfFrames", 1)) == 1
        if not single:
            assert got is None
            return
        assert got is not None
        expected = _reference(path)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)

    def test_shipped_files_cover_the_fast_path(self) -> None:
        """At least two shipped RLE files take the direct path (16-bit signed, 32-bit)."""
        taken = 0
        for name in RLE:
            path = PYDICOM_FILES / name
            raw = read_raw_header(path)
            assert raw.pixel_data_offset is not None
            taken += (
                read_rle_frame(str(path), _header(path), offset=raw.pixel_data_offset) is not None
            )
        assert taken >= 2

    @pytest.mark.parametrize(
        ("stored", "signed"), [(12, False), (12, True), (10, True), (8, False)]
    )
    def test_unused_high_bits_are_shifted_out_as_pydicom_does(
        self, tmp_path: Path, stored: int, signed: bool
    ) -> None:
        """Garbage above (0028,0101) 'Bits Stored' is masked, or sign-extended when signed."""
        ds = _header(PYDICOM_FILES / "MR_small.dcm")
        rng = np.random.default_rng(stored)
        stored_values = rng.integers(0, 1 << 16, size=(ds.Rows, ds.Columns), dtype=np.uint16)
        frame = rle.encode_pixel_data(
            stored_values.tobytes(),
            rows=ds.Rows,
            columns=ds.Columns,
            samples_per_pixel=1,
            bits_allocated=16,
            byteorder="<",
        )
        ds.BitsStored, ds.HighBit = stored, stored - 1
        ds.PixelRepresentation = int(signed)
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.PixelData = encapsulate([frame])
        ds["PixelData"].VR = "OB"
        path = tmp_path / "garbage_bits.dcm"
        ds.save_as(path, enforce_file_format=True)
        raw = read_raw_header(path)
        assert raw.pixel_data_offset is not None
        got = read_rle_frame(str(path), _header(path), offset=raw.pixel_data_offset)
        assert got is not None
        expected = _reference(path)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)

    def test_other_syntaxes_are_declined(self) -> None:
        """A JPEG-LS file is not RLE: None, whatever its layout."""
        path = PYDICOM_FILES / "MR_small_jpeg_ls_lossless.dcm"
        raw = read_raw_header(path)
        assert raw.pixel_data_offset is not None
        assert read_rle_frame(str(path), _header(path), offset=raw.pixel_data_offset) is None

    def test_a_broken_codestream_is_left_to_pydicom(self, tmp_path: Path) -> None:
        """Segments that do not decode: None, so pydicom's pipeline raises its own error."""
        ds = _header(PYDICOM_FILES / "MR_small_RLE.dcm")
        ds.PixelData = encapsulate([b"\x01\x00\x00\x00" + b"\x00" * 60 + b"\x05abc"])
        ds["PixelData"].VR = "OB"
        path = tmp_path / "broken.dcm"
        ds.save_as(path, enforce_file_format=True)
        raw = read_raw_header(path)
        assert raw.pixel_data_offset is not None
        assert read_rle_frame(str(path), _header(path), offset=raw.pixel_data_offset) is None


class TestPreferredPlugin:
    @pytest.mark.parametrize("name", JPEG_LS)
    def test_jpeg_ls_equals_pydicom_default_order(self, name: str) -> None:
        """pyjpegls first gives pydicom's values (JPEG-LS decoding is exact by definition)."""
        path = PYDICOM_FILES / name
        syntax = str(_header(path).file_meta.TransferSyntaxUID)
        got = decode_with_preferred_plugin(str(path), syntax)
        assert got is not None
        expected = _reference(path)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)

    def test_syntaxes_without_a_preference_are_declined(self) -> None:
        """RLE and others keep pydicom's default order: None."""
        assert (
            decode_with_preferred_plugin(str(PYDICOM_FILES / "MR_small_RLE.dcm"), RLELossless)
            is None
        )

    def test_a_stream_the_plugin_refuses_is_left_to_pydicom(self, tmp_path: Path) -> None:
        """A corrupt JPEG-LS stream: None, and pydicom's default pipeline decides."""
        ds = _header(PYDICOM_FILES / "MR_small_jpeg_ls_lossless.dcm")
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + b"\x00" * 40])
        ds["PixelData"].VR = "OB"
        path = tmp_path / "broken.dcm"
        ds.save_as(path, enforce_file_format=True)
        assert decode_with_preferred_plugin(str(path), JPEGLSLossless) is None

"""Tests for medbridge.deid._encode: the fast writer gives pydicom's bytes or steps aside."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from planted_data import KEY, build_planted
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from medbridge.deid import Policy, deidentify
from medbridge.deid._encode import _file_meta_bytes, encode_file

POLICY = Policy(key=KEY, dates="shift", retain_safe_private=True)
FAST = (
    "CT_small.dcm",  # explicit VR, GE private block
    "MR_small_implicit.dcm",
    "JPEG2000.dcm",  # encapsulated pixel data: undefined length
    "SC_rgb_rle.dcm",
    "rtplan.dcm",  # nested sequences
    "reportsi.dcm",  # SR content tree
)
SLOW = ("MR_small_bigendian.dcm", "image_dfl.dcm")  # big endian, deflated


def _pydicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _read(name: str) -> Dataset:
    path = get_testdata_file(name)
    assert path is not None, name
    return dcmread(path)


class TestEncodeFile:
    @pytest.mark.parametrize("name", FAST)
    def test_same_bytes_as_pydicom(self, name):
        """For little-endian files the fast writer gives exactly pydicom's bytes."""
        ds = deidentify(_read(name), POLICY)
        data = encode_file(ds)
        assert data is not None, "the fast path should apply"
        assert data == _pydicom_bytes(ds)

    def test_planted_explicit_and_implicit(self):
        """A planted dataset in both little-endian syntaxes encodes as pydicom does."""
        for syntax in (None, ImplicitVRLittleEndian):
            source = build_planted()
            if syntax is not None:
                source.file_meta.TransferSyntaxUID = syntax
            back = dcmread(io.BytesIO(_pydicom_bytes(source)))
            ds = deidentify(back, POLICY)
            assert _file_meta_bytes(ds.file_meta) is not None  # our meta encoder, not pydicom's
            data = encode_file(ds)
            assert data is not None and data == _pydicom_bytes(ds)

    @pytest.mark.parametrize("name", SLOW)
    def test_steps_aside_for_big_endian_and_deflate(self, name):
        """Big endian and deflated files are left to pydicom (None)."""
        assert encode_file(deidentify(_read(name), POLICY)) is None

    def test_vendor_preamble_not_copied(self):
        """The output preamble is zero even when the input's held text."""
        source = build_planted()
        source.preamble = b"Zyxwert^Plantedfirst".ljust(128, b" ")
        back = dcmread(io.BytesIO(_pydicom_bytes(source)))
        assert back.preamble.startswith(b"Zyxwert")
        ds = deidentify(back, POLICY)
        data = encode_file(ds)
        assert data is not None and data[:132] == b"\x00" * 128 + b"DICM"
        assert _pydicom_bytes(ds)[:128] == b"\x00" * 128

    @pytest.mark.slow
    def test_dcm_qa_first_files(self, dcm_qa_sets):
        """The first two files of every dcm_qa folder encode as pydicom does."""
        checked = 0
        for root, dirs, files in os.walk(dcm_qa_sets):
            dirs.sort()
            for name in sorted(f for f in files if not f.startswith("."))[:2]:
                try:
                    source = dcmread(Path(root) / name)
                except Exception:  # notes, NIfTI, sidecars
                    continue
                if "PixelData" not in source:
                    continue
                ds = deidentify(source, POLICY)
                data = encode_file(ds)
                if data is not None:
                    assert data == _pydicom_bytes(ds), Path(root) / name
                    checked += 1
        assert checked > 50

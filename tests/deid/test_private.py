"""Kept private values cleaned of identity their dataset does not spell (issue 6).

A Siemens protocol lists the localizers it was planned on by their original SOP Instance
UIDs, and a CSA series header repeats the patient's weight, age and sex
('UsedPatientWeight', 'PatReinPattern'), which the Basic Profile removes from (0010,1030),
(0010,1010) and (0010,0040). Both are cleaned in place under Retain Safe Private.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from planted_data import KEY
from pydicom import dcmread
from pydicom.dataset import Dataset

from medbridge.deid import Policy, anonymize_paths, deidentify
from medbridge.deid.private import clean_private_bytes
from medbridge.volume._csa import csa_header

LOCALIZER = b"1.3.12.2.1107.5.2.43.67060.2017102109001349526651228"
MR_STORAGE = b"1.2.840.10008.5.1.4.1.1.4"
PROTOCOL = (
    b'tProtocolName\t = \t""ep2d_Asc""\n'
    b'tReferenceImage0\t = \t""' + MR_STORAGE + b";" + LOCALIZER + b'""\n'
    b"sSliceArray.asSlice[0].dThickness\t = \t3.0\n"
    b"lTotalScanTimeSec\t = \t30\n"
)
PATTERN = b"1;HFS;81.65;40.00;2;0;0;148532739"


def csa2(items: dict[str, bytes]) -> bytes:
    """A Siemens CSA2 header ('SV10') holding one text item per tag."""
    out = b"SV10\x04\x03\x02\x01" + struct.pack("<II", len(items), 77)
    for name, text in items.items():
        out += name.encode().ljust(64, b"\0") + struct.pack("<i4sii", 1, b"ST\0\0", 0, 1)
        out += struct.pack("<i", 77)
        data = text + b"\0"
        out += struct.pack("<4i", len(data), len(data), 77, len(data))
        out += data + b"\0" * (-len(data) % 4)
    return out


def _with_csa(series_header: bytes) -> Dataset:
    ds = Dataset()
    ds.PatientID = "PLANTID-93847"
    ds.PatientWeight = "81.646636986"
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291020, "OB", series_header)
    return ds


class TestCleanPrivateBytes:
    def test_instance_uids_overwritten_standard_kept(self):
        """Other instances' UIDs become X of the same length; SOP Class UIDs stay."""
        out = clean_private_bytes(PROTOCOL)
        assert out is not None and len(out) == len(PROTOCOL)
        assert LOCALIZER not in out and b"X" * len(LOCALIZER) in out
        assert MR_STORAGE + b";" in out
        assert b"dThickness\t = \t3.0\n" in out and b"lTotalScanTimeSec\t = \t30" in out

    def test_csa_patient_items_emptied(self):
        """Weight, age and sex items read as empty; the other items are untouched."""
        header = csa2(
            {
                "UsedPatientWeight": b"81.0",
                "PatReinPattern": PATTERN,
                "NumberOfImagesInMosaic": b"36",
            }
        )
        out = clean_private_bytes(header)
        assert out is not None and len(out) == len(header)
        ds = Dataset()
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", out)
        parsed = csa_header(ds)
        assert parsed == {"NumberOfImagesInMosaic": ["36"]}

    def test_unwalkable_header_with_patient_items_refused(self):
        """A truncated CSA header naming the patient items cannot be cleaned: None."""
        header = csa2({"PatReinPattern": PATTERN})
        assert clean_private_bytes(header[:-20]) is None
        assert clean_private_bytes(b"PatReinPattern " + PATTERN) is None  # not CSA2

    def test_value_without_either_unchanged(self):
        """A value with no UID and no patient item is returned byte for byte."""
        value = csa2({"MosaicRefAcqTimes": b"0.0 75.0 150.0"})
        assert clean_private_bytes(value) == value


class TestDeidentifiedCsa:
    def test_patient_items_and_uids_cleaned_under_retain_safe_private(self):
        """The kept CSA series header loses weight, age, sex and the localizer's UID."""
        header = csa2({"UsedPatientWeight": b"81.0", "PatReinPattern": PATTERN})
        header += PROTOCOL
        notes: list[str] = []
        out = deidentify(_with_csa(header), Policy(key=KEY, retain_safe_private=True), notes=notes)
        value = out[0x00291020].value
        assert len(value) == len(header)
        assert b"81.65" not in value and b"81.0" not in value and LOCALIZER not in value
        assert any("00291020" in n for n in notes)

    def test_unwalkable_header_removed(self):
        """A CSA header whose patient items cannot be found is not kept."""
        header = csa2({"PatReinPattern": PATTERN})[:-20]
        out = deidentify(_with_csa(header), Policy(key=KEY, retain_safe_private=True))
        assert 0x00291020 not in out and 0x00290010 not in out

    @pytest.mark.slow
    def test_dcm_qa_csa_holds_no_patient_characteristics(self, dcm_qa_sets, tmp_path):
        """In a real mosaic's kept headers no weight, age or localizer UID is left."""
        source = dcm_qa_sets / "dcm_qa_mosaic/In/ep2d_Asc_2"
        first = dcmread(next(iter(sorted(source.iterdir()))), stop_before_pixels=True)
        assert b"PatReinPattern" in first[0x00291020].value
        anonymize_paths(
            [source], tmp_path, Policy(key=KEY, dates="shift", retain_safe_private=True), jobs=1
        )
        for path in sorted(Path(tmp_path).rglob("*.dcm")):
            ds = dcmread(path, stop_before_pixels=True)
            series = csa_header(ds, "series")
            assert "UsedPatientWeight" not in series and "PatReinPattern" not in series
            assert b"1.3.12.2.1107.5.2.43.67060." not in ds[0x00291020].value
            assert csa_header(ds, "image")["NumberOfImagesInMosaic"] == [36.0]

"""Text in JPEG COM and APPn segments of compressed pixel data (issue 13, PS3.15 E.3.1).

A patient name planted in a COM segment and in an EXIF (APP1) segment of an
encapsulated JPEG frame must not reach the output; the frames stay valid without
re-encoding (same decoded pixels), their lengths and offset table rewritten.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames, parse_basic_offsets

from medbridge.deid import Policy
from medbridge.deid.runner import anonymize_paths
from medbridge.dicom import load_pixels

NAME = b"Plantedname^Secret"
KEY = b"k" * 32


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _planted(frame: bytes, k: int) -> bytes:
    """The frame with a COM and an EXIF APP1 naming the patient, after SOI."""
    com = _segment(0xFE, NAME + b" frame %d" % k)
    exif = _segment(0xE1, b"Exif\x00\x00" + b"Artist=" + NAME)
    return frame[:2] + com + exif + frame[2:]


@pytest.mark.parametrize(
    ("source", "frames"),
    [("SC_rgb_jpeg_dcmtk.dcm", 1), ("JPGExtended.dcm", 3), ("MR_small_jpeg_ls_lossless.dcm", 2)],
    ids=["baseline", "extended-3-frames", "jpeg-ls-2-frames"],
)
def test_planted_name_removed_frames_intact(tmp_path: Path, source: str, frames: int) -> None:
    """No trace of the name in the output; every frame decodes to the same pixels."""
    ds = pydicom.dcmread(str(get_testdata_file(source)))
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    expected = ds.pixel_array
    ds.PixelData = encapsulate([_planted(frame, k) for k in range(frames)], has_bot=True)
    ds.NumberOfFrames = frames
    ds.PatientName = "Plantedname^Secret"
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "planted.dcm")
    assert NAME in (tmp_path / "in" / "planted.dcm").read_bytes()
    summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
    (result,) = summary.results
    assert result.status == "written", result.reason
    data = Path(result.output).read_bytes()
    assert b"Plantedname" not in data
    assert any("JPEG COM/APPn" in n for n in result.notes)
    out = pydicom.dcmread(result.output)
    assert len(parse_basic_offsets(out.PixelData)) == frames
    pixels = load_pixels(result.output)
    for k in range(frames):
        got = pixels if frames == 1 else pixels[k]
        assert np.array_equal(got, expected)

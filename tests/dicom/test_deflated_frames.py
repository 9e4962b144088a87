"""Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, PS3.5 A.4.13, 2024).

pydicom 3.0 does not know the syntax; medbridge inflates its frames itself, bounded by
the frame size, for ``load_pixels``, ``convert`` and ``anonymize`` (which copies the
frames as they are).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from convert.synth import SeriesSpec, write
from medbridge.convert import ConvertOptions, convert_files
from medbridge.deid import Policy
from medbridge.deid.runner import anonymize_paths
from medbridge.dicom import load_pixels
from medbridge.errors import InvalidDicomError

DEFLATED_IMAGE_FRAME_COMPRESSION = "1.2.840.10008.1.2.8.1"
ENCAPSULATED_UNCOMPRESSED = b"1.2.840.10008.1.2.1.98"


def deflated_copy(
    source: Path, target: Path, *, wbits: int = -zlib.MAX_WBITS, extra: bytes = b""
) -> np.ndarray:
    """``source`` (native) written as Deflated Image Frame Compression; its pixels."""
    ds = pydicom.dcmread(source)
    expected = ds.pixel_array
    count = int(ds.get("NumberOfFrames", 1) or 1)
    size = len(ds.PixelData) // count
    frames = []
    for i in range(count):
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        frames.append(
            packer.compress(ds.PixelData[i * size : (i + 1) * size] + extra) + packer.flush()
        )
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ENCAPSULATED_UNCOMPRESSED.decode()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    # pydicom 3.0 cannot write an unknown syntax: the UID is patched in (same length)
    data = buffer.getvalue().replace(
        ENCAPSULATED_UNCOMPRESSED, DEFLATED_IMAGE_FRAME_COMPRESSION.encode() + b"\x00", 1
    )
    target.write_bytes(data)
    return expected


@pytest.fixture
def multiframe(tmp_path: Path) -> Path:
    """A native 3-frame 16-bit image."""
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm"))  # type: ignore[arg-type]
    frames = np.stack([ds.pixel_array + k for k in range(3)]).astype(np.uint16)
    ds.NumberOfFrames = 3
    ds.PixelData = frames.tobytes()
    path = tmp_path / "native3.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


class TestLoadPixels:
    @pytest.mark.parametrize("wbits", [-zlib.MAX_WBITS, zlib.MAX_WBITS], ids=["raw", "zlib"])
    def test_same_pixels_as_native(self, tmp_path: Path, multiframe: Path, wbits: int) -> None:
        """Each frame inflated (raw Deflate as the standard writes it, or zlib-wrapped)."""
        path = tmp_path / "deflated.dcm"
        expected = deflated_copy(multiframe, path, wbits=wbits)
        assert np.array_equal(load_pixels(path), expected)
        assert np.array_equal(load_pixels(path, frame=2), expected[2])

    def test_a_frame_inflating_too_far_is_refused(self, tmp_path: Path, multiframe: Path) -> None:
        """A frame inflating past Rows × Columns × bits is refused, not held."""
        path = tmp_path / "bomb.dcm"
        deflated_copy(multiframe, path, extra=b"\x00" * (1 << 20))
        with pytest.raises(InvalidDicomError, match="inflates past 8192 bytes"):
            load_pixels(path)

    def test_damaged_stream(self, tmp_path: Path, multiframe: Path) -> None:
        """A fragment that is no Deflate stream names the frame."""
        path = tmp_path / "damaged.dcm"
        deflated_copy(multiframe, path)
        data = bytearray(path.read_bytes())
        table = data.index(b"\xfe\xff\x00\xe0", data.index(b"\xe0\x7f\x10\x00"))
        first = data.index(b"\xfe\xff\x00\xe0", table + 8) + 8
        data[first : first + 4] = b"\xff" * 4  # block type 3: reserved, not Deflate
        path.write_bytes(bytes(data))
        with pytest.raises(InvalidDicomError, match="deflated frame"):
            load_pixels(path)


class TestConvertAndAnonymize:
    def test_convert_writes_the_native_voxels(self, tmp_path: Path) -> None:
        """A deflated series converts to the same NIfTI voxels as its native original."""
        native = write(SeriesSpec("dfl", slices=3), tmp_path / "native")
        (tmp_path / "deflated").mkdir()
        for path in native:
            deflated_copy(path, tmp_path / "deflated" / path.name)
        a = convert_files([tmp_path / "native"], tmp_path / "out-native", ConvertOptions())
        b = convert_files([tmp_path / "deflated"], tmp_path / "out-deflated", ConvertOptions())
        assert len(a.outputs) == len(b.outputs) == 1, b.skipped
        nii_a = Path(a.outputs[0].files[0]).read_bytes()
        nii_b = Path(b.outputs[0].files[0]).read_bytes()
        assert nii_a[352:] == nii_b[352:]

    def test_anonymize_copies_the_frames(self, tmp_path: Path, multiframe: Path) -> None:
        """De-identified, the file keeps its syntax and its frames decode the same."""
        (tmp_path / "in").mkdir()
        expected = deflated_copy(multiframe, tmp_path / "in" / "d.dcm")
        summary = anonymize_paths(
            [tmp_path / "in"], tmp_path / "out", Policy(key=b"k" * 32), jobs=1
        )
        (result,) = summary.results
        assert result.status == "written", result.reason
        out = pydicom.dcmread(result.output)
        assert out.file_meta.TransferSyntaxUID == DEFLATED_IMAGE_FRAME_COMPRESSION
        assert np.array_equal(load_pixels(result.output), expected)

"""The source volumes of the format tests and how results are compared with them.

Each case is a DICOM series from dcm2niix's dcm_qa sets converted by medbridge (which
matches dcm2niix voxel for voxel, see tests/convert), written as NIfTI and read back,
so every format test starts from what a NIfTI file holds. The cases cover what breaks
geometry code: an oblique coronal 4D series, a sagittal 4D series, an oblique axial 3D
one, uint16 data, Philips data with slope/intercept, and RGB and vector volumes made
from real voxels.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from medbridge import formats
from medbridge.formats.analyze import AnalyzeOrientationWarning
from medbridge.volume import Volume

#: Endings of every format medbridge writes.
WRITABLE = [".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".hdr", ".mgh", ".mgz", ".mnc"]
#: Formats that hold several components per voxel (RGB, vectors).
VECTOR_FORMATS = {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".mnc"}
AFFINE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Case:
    """A source volume: where it comes from in dcm_qa and what it exercises."""

    name: str
    series: str  # path under the dcm_qa root
    pick: str = ""  # part of the output name that picks one of several volumes
    derive: str = ""  # "rgb", "vector" or "vector_4d": built from the real voxels

    @property
    def components(self) -> bool:
        return bool(self.derive)


CASES = [
    Case("coronal_oblique_4d", "dcm_qa/In/Orientation/cor/corasc35"),
    Case("sagittal_4d", "dcm_qa/In/Orientation/sag/sagdesc36"),
    Case("axial_oblique_3d", "dcm_qa_12bit/In"),
    Case("axial_uint16", "dcm_qa/In/TotalReadoutTime"),
    Case("philips_scaled", "dcm_qa_enh/In/Philips", pick="fieldmaphz"),
    Case("coronal_rgb", "dcm_qa/In/Orientation/cor/corint35", derive="rgb"),
    Case("sagittal_vector", "dcm_qa/In/Orientation/sag/sagasc35", derive="vector"),
    Case("coronal_vector_4d", "dcm_qa/In/Orientation/cor/cordesc35", derive="vector_4d"),
]
CASE_IDS = [case.name for case in CASES]


def derive(volume: Volume, how: str) -> Volume:
    """RGB (uint8 ×3) or vector (float32 ×3, per frame for "vector_4d") from real voxels."""
    array = np.asarray(volume.array)
    frames = array if array.ndim == 4 else array[..., np.newaxis]
    if how == "vector_4d":
        grads = [
            np.stack(np.gradient(frames[..., t].astype(np.float32)), axis=-1)
            for t in range(frames.shape[3])
        ]
        return Volume(np.stack(grads, axis=3).astype(np.float32), volume.affine_ras)
    first = frames[..., 0]
    if how == "rgb":
        scaled = first.astype(np.float64) * 255.0 / max(float(first.max()), 1.0)
        channels = [scaled, 255.0 - scaled, np.roll(scaled, 3, axis=0)]
        out = np.stack(channels, axis=-1).round().astype(np.uint8)
    else:
        out = np.stack(np.gradient(first.astype(np.float32)), axis=-1).astype(np.float32)
    return Volume(out[:, :, :, np.newaxis, :], volume.affine_ras)


def real_values(volume: Volume) -> np.ndarray:
    """Stored values, or ``stored * slope + intercept`` in float64 when scaled."""
    if volume.slope == 1.0 and volume.intercept == 0.0:
        return np.asarray(volume.array)
    return np.asarray(volume.array, dtype=np.float64) * volume.slope + volume.intercept


def assert_same_voxels(result: Volume, source: Volume) -> None:
    """Same shape and the same real values (exactly; float32 formats: as float32)."""
    assert result.array.shape == source.array.shape
    got, want = real_values(result), real_values(source)
    if got.dtype == np.float32 and want.dtype != np.float32:
        want = want.astype(np.float32)
    assert np.array_equal(got, want), "voxel values differ"


def _quiet_analyze(path: Path) -> contextlib.AbstractContextManager[object]:
    """Analyze must warn about left-right ambiguity; other formats must not warn."""
    if path.suffix == ".hdr":
        return pytest.warns(AnalyzeOrientationWarning, match="left-right")
    return contextlib.nullcontext()


def write_and_read(volume: Volume, path: Path) -> Volume:
    """Write, then read back, checking Analyze's warnings on both sides."""
    with _quiet_analyze(path):
        formats.write(volume, path)
    with _quiet_analyze(path):
        return formats.read(path)


def assert_same_geometry(result: Volume, source: Volume, *, analyze: bool) -> None:
    """Affine within 1e-5 (Analyze: voxel sizes only, as it stores nothing else)."""
    if analyze:
        np.testing.assert_allclose(result.spacing, source.spacing, atol=AFFINE_TOLERANCE)
    else:
        np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=AFFINE_TOLERANCE)

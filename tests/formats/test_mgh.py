"""MGH headers as FreeSurfer defines them beyond what medbridge writes: no valid
orientation (``goodRASFlag`` 0), voxel types and sizes that cannot be read.

The expected geometry of a file without ``goodRASFlag`` is FreeSurfer's own
(``MRIallocHeader`` in ``utils/mri.cpp``: x_r = -1, y_s = -1, z_a = 1, 1 mm voxels,
``c_ras`` = 0), written out here rather than taken from a library.
"""

from __future__ import annotations

import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medbridge import formats
from medbridge.errors import FormatError, OrientationWarning
from medbridge.volume import Volume


def _mgh(source: Volume, path: Path) -> bytearray:
    """The bytes of ``source`` written by nibabel as MGH (big-endian header first)."""
    nib.MGHImage(np.asarray(source.array), source.affine_ras).to_filename(str(path))
    return bytearray(path.read_bytes())


def test_no_valid_orientation(sources: dict[str, Volume], tmp_path: Path) -> None:
    """goodRASFlag 0: FreeSurfer's coronal LIA default, 1 mm, centred; with a warning."""
    source = sources["axial_oblique_3d"]
    path = tmp_path / "noras.mgh"
    raw = _mgh(source, path)
    raw[28:30] = struct.pack(">h", 0)
    path.write_bytes(bytes(raw))
    with pytest.warns(OrientationWarning, match="goodRASFlag is 0.*LIA"):
        result = formats.read(path)
    assert np.array_equal(result.array, source.array)
    # columns: i toward the left, j toward inferior, k toward anterior
    lia = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    want = np.eye(4)
    want[:3, :3] = lia
    want[:3, 3] = -lia @ (np.asarray(source.array.shape[:3]) / 2.0)
    np.testing.assert_allclose(result.affine_ras, want, atol=1e-9)


@pytest.mark.parametrize(
    ("offset", "value", "pattern"),
    [
        (20, 7, r"voxel type code 7 is not supported \(known: 0 uint8"),
        (4, 0, "should be non-zero"),
        (0, 2, "MGH version 2 is not 1"),
    ],
    ids=["type-code", "zero-width", "version"],
)
def test_bad_header_field(
    offset: int, value: int, pattern: str, sources: dict[str, Volume], tmp_path: Path
) -> None:
    """An unknown type code, a zero size or another version: a FormatError naming the file."""
    path = tmp_path / "bad.mgh"
    raw = _mgh(sources["axial_oblique_3d"], path)
    raw[offset : offset + 4] = struct.pack(">i", value)
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match=pattern) as exc:
        formats.read(path, format="mgh")
    assert str(path) in str(exc.value)

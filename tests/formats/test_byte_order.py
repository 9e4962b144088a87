"""Big-endian files (old Sun and SGI data, some scanner exports) read as native voxels.

Each file is a real volume written big-endian by the format's own library or header
(pynrrd, nibabel, MetaIO's ``BinaryDataByteOrderMSB``); SimpleITK reads the same file,
and the volume must then write to NIfTI unchanged. MGH and MINC-1 are big-endian by
definition and are covered by their own tests.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest

from formats.oracles import sitk_grid
from medbridge import formats
from medbridge.errors import OrientationWarning
from medbridge.volume import Volume
from medbridge.volume._geometry import ras_to_lps


def _nrrd(volume: Volume, folder: Path) -> Path:
    path = folder / "big.nrrd"
    lps = ras_to_lps(volume.affine_ras)
    header = {
        "space": "left-posterior-superior",
        "space directions": lps[:3, :3].T,
        "space origin": lps[:3, 3],
        "encoding": "raw",
    }
    nrrd.write(str(path), np.asarray(volume.array).astype(">i2"), header)
    assert nrrd.read_header(str(path))["endian"] == "big"
    return path


def _metaimage(volume: Volume, folder: Path) -> Path:
    path = folder / "big.mhd"
    formats.write(volume, path)
    raw = path.with_suffix(".raw")
    raw.write_bytes(np.asarray(volume.array).astype(">i2").tobytes(order="F"))
    text = path.read_text().replace(
        "BinaryDataByteOrderMSB = False", "BinaryDataByteOrderMSB = True"
    )
    path.write_text(text)
    return path


def _analyze(volume: Volume, folder: Path) -> Path:
    path = folder / "big.hdr"
    header = nib.AnalyzeHeader(endianness=">")
    header.set_data_dtype(">i2")
    img = nib.AnalyzeImage(np.asarray(volume.array).astype(">i2"), None, header)
    img.header.set_zooms(volume.spacing)
    img.to_filename(str(path))
    assert path.read_bytes()[:4] == (348).to_bytes(4, "big")
    return path


WRITERS: dict[str, Callable[[Volume, Path], Path]] = {
    "nrrd": _nrrd,
    "metaimage": _metaimage,
    "analyze": _analyze,
}


@pytest.mark.parametrize("label", list(WRITERS))
def test_big_endian_reads_native(label: str, sources: dict[str, Volume], tmp_path: Path) -> None:
    """Native voxels equal to the source's and to ITK's; the volume then writes as NIfTI."""
    source = sources["axial_oblique_3d"]
    path = WRITERS[label](source, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OrientationWarning)  # Analyze's left-right warning
        result = formats.read(path)
    assert result.array.dtype.isnative
    assert np.array_equal(result.array, source.array)
    assert np.array_equal(sitk_grid(path).voxels, np.asarray(source.array))
    if label == "analyze":
        np.testing.assert_allclose(result.spacing, source.spacing, atol=1e-5)
    else:
        np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=1e-5)
    formats.write(result, tmp_path / "out.nii.gz")
    assert np.array_equal(formats.read(tmp_path / "out.nii.gz").array, source.array)

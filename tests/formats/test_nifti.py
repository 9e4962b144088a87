"""NIfTI files as other programs leave them: conflicting or missing orientations,
big-endian data, NIfTI-2.

Which transform a reader takes when the qform and the sform disagree is where viewers
part ways; SimpleITK shows what ITK-based tools do, and the warning must say so.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from formats.oracles import assert_grids_close, expected_grid, nifti2_grid, sitk_grid
from medbridge import formats
from medbridge.errors import OrientationWarning
from medbridge.volume import Volume


def _pair_of_forms(source: Volume, path: Path, *, qcode: int, scode: int) -> np.ndarray:
    """A NIfTI whose sform (code ``scode``) is the qform (code ``qcode``) moved 10-30 mm."""
    shifted = source.affine_ras.copy()
    shifted[:3, 3] += [10.0, 20.0, 30.0]
    img = nib.Nifti1Image(np.asarray(source.array), None)
    img.set_qform(source.affine_ras, code=qcode)
    img.set_sform(shifted, code=scode)
    img.to_filename(str(path))
    return shifted


class TestTwoOrientations:
    """qform and sform both coded, and far apart."""

    def test_readers_disagree_warns(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """sform "aligned", qform "scanner": the sform is used, and ITK's choice is named."""
        source = sources["axial_oblique_3d"]
        path = tmp_path / "forms.nii"
        shifted = _pair_of_forms(source, path, qcode=1, scode=2)
        with pytest.warns(OrientationWarning, match=r"sform \(code 2, aligned\).*30 mm.*ITK"):
            result = formats.read(path)
        np.testing.assert_allclose(result.affine_ras, shifted, atol=1e-5)
        itk = sitk_grid(path)  # the qform, as the warning says
        assert_grids_close(itk, expected_grid(source.affine_ras), atol=1e-4)

    def test_scanner_sform_is_everyones_choice(
        self, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """sform "scanner": ITK takes it too, so there is nothing to warn about."""
        source = sources["axial_oblique_3d"]
        path = tmp_path / "scanner.nii"
        shifted = _pair_of_forms(source, path, qcode=2, scode=1)
        result = formats.read(path)  # any warning fails: filterwarnings = error
        np.testing.assert_allclose(result.affine_ras, shifted, atol=1e-5)
        assert_grids_close(sitk_grid(path), expected_grid(shifted), atol=1e-4)

    def test_no_orientation_warns(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """Both codes 0: voxels and voxel sizes are kept, with a warning."""
        source = sources["axial_oblique_3d"]
        path = tmp_path / "none.nii"
        img = nib.Nifti1Image(np.asarray(source.array), None)
        img.header.set_zooms(source.spacing)
        img.set_qform(None, code=0)
        img.set_sform(None, code=0)
        img.to_filename(str(path))
        with pytest.warns(OrientationWarning, match="states no orientation"):
            result = formats.read(path)
        assert np.array_equal(result.array, source.array)
        np.testing.assert_allclose(result.spacing, source.spacing, atol=1e-5)


def test_big_endian(sources: dict[str, Volume], tmp_path: Path) -> None:
    """A big-endian file reads as native voxels with its affine; ITK agrees."""
    source = sources["coronal_oblique_4d"]
    path = tmp_path / "big.nii"
    header = nib.Nifti1Header(endianness=">")
    header.set_data_dtype(">i2")
    nib.Nifti1Image(np.asarray(source.array), source.affine_ras, header).to_filename(str(path))
    assert path.read_bytes()[:4] == (348).to_bytes(4, "big")
    result = formats.read(path)
    assert result.array.dtype.isnative
    assert np.array_equal(result.array, source.array)
    np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=1e-5)
    assert_grids_close(expected_grid(result.affine_ras), sitk_grid(path), atol=1e-4)


class TestNifti2:
    """NIfTI-2 read from nibabel's writer, and written when NIfTI-1 cannot hold a size."""

    def test_read_nibabel_nifti2(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A NIfTI-2 file of a real volume: same voxels and affine; its header agrees."""
        source = sources["sagittal_4d"]
        path = tmp_path / "two.nii"
        nib.Nifti2Image(np.asarray(source.array), source.affine_ras).to_filename(str(path))
        result = formats.read(path)
        assert np.array_equal(result.array, source.array)
        np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=1e-5)
        assert_grids_close(nifti2_grid(path), expected_grid(source.affine_ras))

    def test_long_axis_written_as_nifti2(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """More than 32767 voxels along i: NIfTI-2, read back identical by us and its layout."""
        source = sources["axial_oblique_3d"]
        line = np.asarray(source.array).reshape(-1, 1, 1, order="F")
        assert line.shape[0] > formats.nifti.NIFTI1_MAX_DIM
        volume = Volume(line, source.affine_ras)
        path = tmp_path / "line.nii"
        formats.write(volume, path)
        grid = nifti2_grid(path)
        assert np.array_equal(grid.voxels, line)
        assert_grids_close(grid, expected_grid(source.affine_ras))
        back = formats.read(path)
        assert np.array_equal(back.array, line)
        np.testing.assert_allclose(back.affine_ras, source.affine_ras, atol=1e-5)

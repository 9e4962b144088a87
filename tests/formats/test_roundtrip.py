"""Every writable format, and every pair of them, keeps voxels and geometry.

One suite for all formats, as nibabel's ``test_image_api.py``: each case is written,
read back and compared with its source (voxels identical, affine within 1e-5; Analyze,
which has no orientation, voxel sizes only), and an independent reader (SimpleITK, the
libminc inside it for MINC, or FreeSurfer's layout for MGH) agrees on origin, spacing,
direction and voxels.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from formats.cases import (
    AFFINE_TOLERANCE,
    CASE_IDS,
    CASES,
    VECTOR_FORMATS,
    WRITABLE,
    Case,
    assert_same_geometry,
    assert_same_voxels,
    write_and_read,
)
from formats.oracles import (
    Grid,
    assert_grids_close,
    expected_grid,
    mgh_grid,
    minc_grid,
    minc_layout_grid,
    sitk_grid,
    write_with_itk,
)
from medbridge import formats
from medbridge.errors import FormatError
from medbridge.formats.analyze import AnalyzeOrientationWarning
from medbridge.volume import Volume


def _holds(case: Case, ext: str) -> bool:
    return not case.components or ext in VECTOR_FORMATS


ROUND_TRIPS = [
    pytest.param(case, ext, id=f"{case.name}{ext}")
    for case in CASES
    for ext in WRITABLE
    if _holds(case, ext)
]
REFUSED = [
    pytest.param(case, ext, id=f"{case.name}{ext}")
    for case in CASES
    for ext in WRITABLE
    if not _holds(case, ext)
]


class TestRoundTrip:
    """Each case written in each format and read back by medbridge."""

    @pytest.mark.parametrize(("case", "ext"), ROUND_TRIPS)
    def test_voxels_and_affine_survive(
        self, case: Case, ext: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """Voxels identical and affine within 1e-5 after a write and a read."""
        source = sources[case.name]
        result = write_and_read(source, tmp_path / f"out{ext}")
        assert_same_voxels(result, source)
        assert_same_geometry(result, source, analyze=ext == ".hdr")

    @pytest.mark.parametrize(("case", "ext"), REFUSED)
    def test_components_refused_where_format_cannot_hold_them(
        self, case: Case, ext: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """Analyze and MGH have scalar voxels: RGB/vector volumes get a clear error."""
        target = tmp_path / f"out{ext}"
        with pytest.raises(FormatError, match=r"3 components per voxel.*\.nii\.gz"):
            formats.write(sources[case.name], target)
        assert list(tmp_path.iterdir()) == []


def _independent_grid(path: Path, source: Volume) -> Grid:
    """The reader that judges ``path``: FreeSurfer's layout for MGH, else ITK.

    ITK 5.4 refuses MINC with both frames and components ("4D minc files vector
    dimension are not supported"); those are read from MINC's HDF5 layout instead.
    """
    if path.suffix in (".mgh", ".mgz"):
        return mgh_grid(path)
    if path.suffix != ".mnc":
        return sitk_grid(path)
    layout = np.asarray(source.array).shape[3:]
    return minc_layout_grid(path) if len(layout) == 2 and min(layout) > 1 else minc_grid(path)


class TestIndependentReader:
    """SimpleITK (libminc for MINC, or FreeSurfer's MGH layout) reads each written file."""

    @pytest.mark.parametrize(("case", "ext"), ROUND_TRIPS)
    def test_reader_agrees(
        self, case: Case, ext: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """Origin, spacing and direction (LPS) and the voxels match the source."""
        source = sources[case.name]
        path = tmp_path / f"out{ext}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AnalyzeOrientationWarning)
            formats.write(source, path)
        grid = _independent_grid(path, source)
        want = expected_grid(source.affine_ras)
        if ext == ".hdr":  # ITK reads Analyze with no orientation: only spacing is kept
            np.testing.assert_allclose(grid.spacing, want.spacing, atol=AFFINE_TOLERANCE)
        else:
            assert_grids_close(grid, want, atol=AFFINE_TOLERANCE)
        values = source.array if source.slope == 1 else source.array * source.slope
        values = values + source.intercept
        expected = values.reshape(grid.voxels.shape)
        assert np.array_equal(grid.voxels, expected.astype(grid.voxels.dtype))


PAIRS = [pytest.param(a, b, id=f"{a}->{b}") for a, b in itertools.product(WRITABLE, WRITABLE)]
VECTOR_PAIRS = [
    pytest.param(a, b, id=f"{a}->{b}")
    for a, b in itertools.product(WRITABLE, WRITABLE)
    if a in VECTOR_FORMATS and b in VECTOR_FORMATS
]


class TestFormatPairs:
    """Every ordered pair of formats on the oblique coronal, sagittal, scaled and vector cases."""

    @pytest.mark.parametrize("case_name", ["coronal_oblique_4d", "sagittal_4d", "philips_scaled"])
    @pytest.mark.parametrize(("first", "second"), PAIRS)
    def test_chain_keeps_volume(
        self, first: str, second: str, case_name: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """source → first → second: voxels identical, affine within 1e-5 (or voxel sizes)."""
        source = sources[case_name]
        middle = write_and_read(source, tmp_path / f"a{first}")
        if middle.array.dtype == np.float64 and second in (".mgh", ".mgz"):
            # real values in float64 (scaling applied by a format without slope/intercept)
            # do not fit MGH's float32 exactly: refused, naming the formats that fit
            with pytest.raises(FormatError, match=r"float64 voxels.*\.nii\.gz or \.nrrd"):
                formats.write(middle, tmp_path / f"b{second}")
            return
        result = write_and_read(middle, tmp_path / f"b{second}")
        assert_same_voxels(result, source)
        assert_same_geometry(result, source, analyze=".hdr" in (first, second))

    @pytest.mark.parametrize("case_name", ["coronal_rgb", "coronal_vector_4d"])
    @pytest.mark.parametrize(("first", "second"), VECTOR_PAIRS)
    def test_chain_keeps_components(
        self, first: str, second: str, case_name: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """RGB and 4D vector volumes through every pair of formats that hold components."""
        source = sources[case_name]
        middle = write_and_read(source, tmp_path / f"a{first}")
        result = write_and_read(middle, tmp_path / f"b{second}")
        assert_same_voxels(result, source)
        assert result.array.dtype == source.array.dtype
        assert_same_geometry(result, source, analyze=False)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".mha", ".mhd", ".mgh", ".mgz", ".mnc"])
def test_frame_step_survives(ext: str, sources: dict[str, Volume], tmp_path: Path) -> None:
    """Formats with a time step keep the repetition time of a 4D series."""
    source = sources["coronal_oblique_4d"]
    assert source.metadata["RepetitionTime"] > 0
    result = write_and_read(source, tmp_path / f"out{ext}")
    assert result.metadata["RepetitionTime"] == pytest.approx(source.metadata["RepetitionTime"])


def test_cases_cover_the_geometries(sources: dict[str, Volume]) -> None:
    """The sources include oblique, coronal, sagittal, 4D, scaled and vector volumes."""
    assert set(sources) == set(CASE_IDS)
    coronal = sources["coronal_oblique_4d"]
    assert coronal.array.ndim == 4
    assert np.count_nonzero(np.abs(coronal.affine_ras[:3, :3]) > 1e-3) > 3  # oblique
    assert abs(sources["sagittal_4d"].affine_ras[0, 2]) > 1  # slices step along x
    assert sources["philips_scaled"].slope != 1.0
    assert sources["coronal_rgb"].array.shape[-1] == 3


FOREIGN = [".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"]


class TestFilesWrittenByItk:
    """Files SimpleITK writes (as Slicer and ITK programs do) read back as their source."""

    @pytest.mark.parametrize("ext", FOREIGN)
    @pytest.mark.parametrize("name", ["axial_oblique_3d", "coronal_oblique_4d", "coronal_rgb"])
    def test_itk_file_reads_as_source(
        self, name: str, ext: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """Voxels identical and affine within 1e-5 (4D in NRRD: ITK's vector axis)."""
        source = sources[name]
        path = tmp_path / f"itk{ext}"
        write_with_itk(source, path)
        result = formats.read(path)
        want = source
        if ext in (".nrrd", ".nhdr") and source.array.ndim == 4:
            # ITK keeps a 4th NRRD axis as per-voxel components, not frames
            want = Volume(source.array[:, :, :, np.newaxis, :], source.affine_ras)
        assert_same_voxels(result, want)
        np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=AFFINE_TOLERANCE)


@pytest.mark.parametrize("name", ["axial_oblique_3d", "coronal_oblique_4d", "sagittal_4d"])
def test_metaimage_orientation_code_matches_itk(
    name: str, sources: dict[str, Volume], tmp_path: Path
) -> None:
    """The informative AnatomicalOrientation letters are the ones ITK writes."""
    source = sources[name]
    volume = Volume(
        np.asarray(source.array[..., 0] if source.array.ndim == 4 else source.array),
        source.affine_ras,
    )
    formats.write(volume, tmp_path / "ours.mha")
    write_with_itk(volume, tmp_path / "itk.mha")

    def code(path: Path) -> bytes:
        return next(
            line
            for line in path.read_bytes().split(b"\n")
            if line.startswith(b"AnatomicalOrientation")
        )

    assert code(tmp_path / "ours.mha") == code(tmp_path / "itk.mha")


DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
DTYPES += ["float32", "float64"]
#: Voxel types each format refuses (all others must round-trip with identical values).
REFUSES = {
    ".nii.gz": set(),
    ".nrrd": set(),
    ".mha": set(),
    ".hdr": {"int64", "uint64"},
    ".mgz": {"uint32", "int64", "uint64", "float64"},
    ".mnc": {"int64", "uint64"},
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ext", list(REFUSES))
def test_voxel_types(ext: str, dtype: str, sources: dict[str, Volume], tmp_path: Path) -> None:
    """Every numeric type is kept exactly (widened where the format lacks it) or refused."""
    source = sources["axial_oblique_3d"]
    values = source.array.astype(dtype)
    if np.dtype(dtype).kind == "f":
        values = values / 7  # fractions, so float precision matters
    volume = Volume(values, source.affine_ras)
    path = tmp_path / f"out{ext}"
    if dtype in REFUSES[ext]:
        with pytest.raises(FormatError, match=f"cannot store {dtype} voxels"):
            formats.write(volume, path)
        return
    result = write_and_read(volume, path)
    assert np.array_equal(result.array, values)
    assert result.array.dtype.itemsize >= values.dtype.itemsize


def test_nifti_pair_keeps_orientation(sources: dict[str, Volume], tmp_path: Path) -> None:
    """A .hdr/.img NIfTI-1 pair (magic ni1) reads with its affine and without the warning."""
    source = sources["coronal_oblique_4d"]
    nib.Nifti1Pair(source.array, source.affine_ras).to_filename(str(tmp_path / "pair.hdr"))
    result = formats.read(tmp_path / "pair.hdr")  # any warning fails: filterwarnings=error
    assert np.array_equal(result.array, source.array)
    np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=AFFINE_TOLERANCE)

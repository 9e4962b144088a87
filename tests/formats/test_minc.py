"""MINC-1 and MINC-2 reading, MINC-2 writing.

The MINC-1 files are written here from real volumes, straight from the MINC-1 layout
(netCDF: one variable per dimension with ``start``, ``step`` and
``direction_cosines``, an ``image`` variable in ``[time,] zspace, yspace, xspace``
order), so the reader is judged against the format's definition, not against itself.
MINC-2 (HDF5) is checked with nibabel's shipped pair of files holding the same 4D
image as MINC-1 and MINC-2, and with files ITK writes through libminc, the MINC
tools' own library. The files medbridge writes are judged by libminc in
``test_roundtrip`` (every case, every pair).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.externals.netcdf import netcdf_file

from conftest import require
from formats.cases import WRITABLE, assert_same_geometry, assert_same_voxels, write_and_read
from formats.oracles import itk_converts_minc_world, write_with_itk
from medbridge import formats
from medbridge.errors import FormatError, MissingDependencyError
from medbridge.formats import minc
from medbridge.volume import Volume
from medbridge.volume._geometry import ras_to_lps

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"


def write_minc1(volume: Volume, path: Path) -> None:
    """A MINC-1 file of ``volume`` (float32 voxels, so no MINC value scaling applies).

    Frames become the slowest ``time`` dimension; components the fastest
    ``vector_dimension``, as MINC orders them.
    """
    array = np.asarray(volume.array, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim == 4:
        array = array[..., np.newaxis]
    frames, components = array.shape[3], array.shape[4]
    affine = volume.affine_ras
    dims = ["time"] * (frames > 1) + ["zspace", "yspace", "xspace"]
    dims += ["vector_dimension"] * (components > 1)
    steps = np.linalg.norm(affine[:3, :3], axis=0)
    cosines = affine[:3, :3] / steps
    # MINC's origin is sum(start_d * cosine_d): solve, since cosines from float32
    # NIfTI headers are not exactly orthogonal
    starts = np.linalg.solve(cosines, affine[:3, 3])
    with netcdf_file(str(path), "w") as out:
        for axis, name in enumerate(("xspace", "yspace", "zspace")):
            out.createDimension(name, array.shape[axis])
            variable = out.createVariable(name, "d", ())
            variable.step = float(steps[axis])
            variable.start = float(starts[axis])
            variable.direction_cosines = cosines[:, axis]
            variable.spacing = b"regular__"
        if frames > 1:
            out.createDimension("time", frames)
            time = out.createVariable("time", "d", ())
            time.start, time.step, time.spacing = 0.0, 1.0, b"regular__"
        if components > 1:
            out.createDimension("vector_dimension", components)
            vector = out.createVariable("vector_dimension", "d", ())
            vector.start, vector.step, vector.spacing = 0.0, 1.0, b"regular__"
        image = out.createVariable("image", "f", tuple(dims))
        ordered = np.transpose(array, (3, 2, 1, 0, 4))  # time, z, y, x, vector
        image[:] = ordered.reshape([out.dimensions[d] for d in dims])
        image.dimorder = ",".join(dims).encode()
        out.createVariable("image-max", "d", ())[...] = float(array.max())
        out.createVariable("image-min", "d", ())[...] = float(array.min())


@pytest.fixture
def without_h5py(monkeypatch: pytest.MonkeyPatch) -> None:
    """medbridge's MINC module finds no h5py, as on an install without the extra."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        minc.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "h5py" else real(name, *args),
    )


class TestMinc1:
    """MINC-1 files made from dcm_qa volumes read back as those volumes."""

    @pytest.mark.parametrize(
        "name", ["axial_oblique_3d", "coronal_oblique_4d", "sagittal_4d", "sagittal_vector"]
    )
    def test_voxels_and_affine(self, name: str, sources: dict[str, Volume], tmp_path: Path) -> None:
        """Voxels identical (as float), affine within 1e-5, frames and components last."""
        source = sources[name]
        path = tmp_path / f"{name}.mnc"
        write_minc1(source, path)
        result = formats.read(path)
        expected = Volume(source.array.astype(np.float64), source.affine_ras)
        assert_same_voxels(result, expected)
        np.testing.assert_allclose(result.affine_ras, source.affine_ras, atol=1e-5)

    @pytest.mark.parametrize("ext", WRITABLE)
    @pytest.mark.parametrize("name", ["coronal_oblique_4d", "sagittal_4d"])
    def test_convert_to_every_writable_format(
        self, name: str, ext: str, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """MINC-1 → each writable format keeps voxels and affine (Analyze: voxel sizes)."""
        source = sources[name]
        path = tmp_path / "in.mnc"
        write_minc1(Volume(source.array.astype(np.float32), source.affine_ras), path)
        volume = formats.read(path)
        assert volume.array.dtype == np.float32  # as stored, so MGH can hold it
        back = write_and_read(volume, tmp_path / f"out{ext}")
        assert np.array_equal(back.array, source.array), ext
        assert_same_geometry(back, source, analyze=ext == ".hdr")


class TestMinc2:
    """MINC-2 (HDF5) needs h5py; with it, it reads like MINC-1."""

    def test_same_image_as_minc1(self) -> None:
        """nibabel's minc2_4d.mnc and minc1_4d.mnc hold one image: same voxels and affine."""
        require(importlib.util.find_spec("h5py") is not None, "h5py (medbridge[minc])")
        one = formats.read(NIBABEL_DATA / "minc1_4d.mnc")
        two = formats.read(NIBABEL_DATA / "minc2_4d.mnc")
        assert two.array.shape == (20, 20, 10, 2)  # xspace, yspace, zspace, time
        assert np.array_equal(one.array, two.array)
        np.testing.assert_array_equal(one.affine_ras, two.affine_ras)

    @pytest.mark.usefixtures("without_h5py")
    def test_missing_h5py_is_named(self) -> None:
        """Without h5py, reading MINC-2 says which package and extra to install."""
        with pytest.raises(MissingDependencyError, match=r"h5py.*medbridge\[minc\]"):
            formats.read(NIBABEL_DATA / "minc2_4d.mnc")


class TestWrittenByItk:
    """MINC-2 files written by libminc (inside SimpleITK) from real volumes."""

    @pytest.mark.parametrize("name", ["axial_oblique_3d", "sagittal_vector", "coronal_rgb"])
    def test_voxels_and_world(self, name: str, sources: dict[str, Volume], tmp_path: Path) -> None:
        """Same voxels; the affine is the source's in the world ITK wrote.

        ITK built without RAS-to-LPS conversion (see ``oracles.minc_grid``) stores its
        LPS numbers where MINC expects RAS ones, so the file states the source's LPS
        affine; medbridge reads what the file states. (ITK 5.4 crashes writing 4D
        MINC, so 4D files come from nibabel's pair above.)
        """
        require(importlib.util.find_spec("h5py") is not None, "h5py (medbridge[minc])")
        source = sources[name]
        path = tmp_path / "itk.mnc"
        write_with_itk(source, path)
        result = formats.read(path)
        assert_same_voxels(result, source)
        stated = source.affine_ras if itk_converts_minc_world() else ras_to_lps(source.affine_ras)
        np.testing.assert_allclose(result.affine_ras, stated, atol=1e-5)


class TestMincRefusals:
    """What MINC support cannot do."""

    def test_64_bit_integers_refused(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """MINC has no 64-bit integers: refused before any file appears."""
        source = sources["axial_oblique_3d"]
        volume = Volume(np.asarray(source.array).astype(np.int64) << 40, source.affine_ras)
        with pytest.raises(FormatError, match=r"MINC cannot store int64.*\.nii\.gz"):
            formats.write(volume, tmp_path / "out.mnc")
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.usefixtures("without_h5py")
    def test_write_without_h5py_is_named(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """Without h5py, writing MINC-2 names the package and the extra; no file appears."""
        with pytest.raises(MissingDependencyError, match=r"writing MINC-2.*medbridge\[minc\]"):
            formats.write(sources["axial_oblique_3d"], tmp_path / "out.mnc")
        assert list(tmp_path.iterdir()) == []

    def test_truncated_file(self, tmp_path: Path) -> None:
        """A MINC-1 file cut short is a FormatError naming the file."""
        path = tmp_path / "cut.mnc"
        path.write_bytes((NIBABEL_DATA / "minc1_4d.mnc").read_bytes()[:600])
        with pytest.raises(FormatError, match="not a readable MINC file") as exc:
            formats.read(path)
        assert str(path) in str(exc.value)

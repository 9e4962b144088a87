"""Independent readers that judge the files medbridge writes.

SimpleITK (ITK's NIfTI, NRRD, MetaImage and Analyze readers) reads each written file;
for MGH and NIfTI-2, which SimpleITK does not read, readers written here from
FreeSurfer's header layout and the NIfTI-2 header layout. The expected grid is
computed here too, from the RAS+ affine, without medbridge's geometry helpers, so a
shared mistake cannot hide.
"""

from __future__ import annotations

import functools
import gzip
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medbridge import formats
from medbridge.volume import Volume

sitk.ProcessObject_SetGlobalWarningDisplay(False)  # ITK's "Analyze is deprecated" notice


@dataclass
class Grid:
    """What an ITK-style reader reports: LPS origin, spacing, direction (columns = axes)."""

    origin: np.ndarray
    spacing: np.ndarray
    direction: np.ndarray
    voxels: np.ndarray | None = None  # indexed [i, j, k, frame-or-component]


def expected_grid(affine_ras: np.ndarray) -> Grid:
    """The LPS grid an ITK reader should report for a RAS+ affine."""
    flip = np.diag([-1.0, -1.0, 1.0])
    linear = flip @ affine_ras[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    return Grid(flip @ affine_ras[:3, 3], spacing, linear / spacing)


def sitk_grid(path: Path) -> Grid:
    """Origin, spacing, direction and voxels of ``path`` as SimpleITK reads it."""
    image = sitk.ReadImage(str(path))
    n = image.GetDimension()
    direction = np.asarray(image.GetDirection()).reshape(n, n)[:3, :3]
    array = sitk.GetArrayFromImage(image)
    vector = image.GetNumberOfComponentsPerPixel() > 1
    # [z, y, x, c] → [x, y, z, c]; [t, z, y, x] → [x, y, z, t]
    voxels = np.moveaxis(array, -1, 0).T if vector else array.T
    return Grid(
        np.asarray(image.GetOrigin())[:3],
        np.asarray(image.GetSpacing())[:3],
        direction,
        voxels,
    )


_MGH_TYPES = {0: ">u1", 1: ">i4", 3: ">f4", 4: ">i2", 10: ">u2"}


def mgh_grid(path: Path) -> Grid:
    """Read an MGH/MGZ header and voxels as FreeSurfer lays them out (no nibabel).

    Big-endian: version, width, height, depth, nframes, type, dof (int32); goodRASflag
    (int16); voxel sizes (3 float32); Mdc, the x, y, z direction columns (9 float32);
    centre c_ras (3 float32); data from byte 284, x fastest. vox2ras is
    ``[Mdc·diag(sizes) | c_ras - Mdc·diag(sizes)·dims/2]``.
    """
    opener = gzip.open if path.suffix == ".mgz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    _version, width, height, depth, frames, kind, _dof = struct.unpack_from(">7i", raw, 0)
    (good,) = struct.unpack_from(">h", raw, 28)
    sizes = np.asarray(struct.unpack_from(">3f", raw, 30), dtype=np.float64)
    mdc = np.asarray(struct.unpack_from(">9f", raw, 42), dtype=np.float64).reshape(3, 3).T
    centre = np.asarray(struct.unpack_from(">3f", raw, 78), dtype=np.float64)
    assert good == 1, "goodRASflag not set: the geometry would be ignored"
    dims = np.asarray([width, height, depth], dtype=np.float64)
    linear = mdc * sizes
    origin_ras = centre - linear @ (dims / 2)
    count = width * height * depth * frames
    dtype = np.dtype(_MGH_TYPES[kind])
    voxels = np.frombuffer(raw, dtype=dtype, count=count, offset=284)
    voxels = voxels.reshape((width, height, depth, frames), order="F")
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = linear, origin_ras
    grid = expected_grid(affine)
    grid.voxels = voxels.astype(dtype.newbyteorder("="))
    return grid


def minc_grid(path: Path) -> Grid:
    """ITK's reading of a MINC-2 file (through the libminc it embeds), as an LPS grid.

    MINC's world is RAS. ITK converts it to LPS only when built with
    ``ITK_MINC_IO_RAS_TO_LPS`` (ITK pull request 4864); otherwise it takes MINC's
    numbers as its own. :func:`itk_converts_minc_world` asks this build, so the grid
    returned here is LPS either way. ITK reads a ``time`` dimension as components.
    """
    grid = sitk_grid(path)
    if not itk_converts_minc_world():
        flip = np.diag([-1.0, -1.0, 1.0])
        grid = Grid(flip @ grid.origin, grid.spacing, flip @ grid.direction, grid.voxels)
    return grid


def minc_layout_grid(path: Path) -> Grid:
    """A MINC-2 file's grid and voxels read from its HDF5 layout (h5py, no nibabel).

    For what ITK refuses (a ``time`` and a ``vector_dimension`` together). MINC's
    definition: each spatial dimension has ``start``, ``step`` and
    ``direction_cosines``; voxel (0, 0, 0) is at ``Σ start_d · cosine_d`` (RAS); the
    ``image`` dataset's axes are named by its ``dimorder`` attribute, slowest first.
    Scaling must be the identity (``image-min``/``image-max`` equal ``valid_range``).
    """
    import h5py

    with h5py.File(path, "r") as minc:
        image = minc["minc-2.0/image/0/image"]
        order = image.attrs["dimorder"].decode().split(",")
        voxels = np.asarray(image)
        low, high = image.attrs["valid_range"]
        images = minc["minc-2.0/image/0"]
        assert (images["image-min"][()], images["image-max"][()]) == (low, high)
        dims = {name: dict(minc[f"minc-2.0/dimensions/{name}"].attrs) for name in order}
    spatial = ["xspace", "yspace", "zspace"]
    cosines = np.column_stack([dims[d]["direction_cosines"] for d in spatial])
    affine = np.eye(4)
    affine[:3, :3] = cosines * np.asarray([dims[d]["step"] for d in spatial])
    affine[:3, 3] = cosines @ np.asarray([dims[d]["start"] for d in spatial])
    wanted = [d for d in [*spatial, "time", "vector_dimension"] if d in order]
    grid = expected_grid(affine)
    grid.voxels = np.transpose(voxels, [order.index(d) for d in wanted])
    return grid


@functools.cache
def itk_converts_minc_world() -> bool:
    """Whether this ITK turns its LPS world into MINC's RAS when writing MINC.

    A 2×2×2 image at LPS origin (1, 2, 3) is written by SimpleITK; h5py reads the
    ``xspace`` start back: -1 if ITK converted, 1 if it wrote its own numbers.
    """
    import h5py

    image = sitk.Image([2, 2, 2], sitk.sitkInt16)
    image.SetOrigin([1.0, 2.0, 3.0])
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "probe.mnc")
        sitk.WriteImage(image, path)
        with h5py.File(path, "r") as minc:
            start = float(minc["minc-2.0/dimensions/xspace"].attrs["start"])
    assert abs(abs(start) - 1.0) < 1e-9, f"unexpected xspace start {start}"
    return start < 0


def nifti2_grid(path: Path) -> Grid:
    """Read a NIfTI-2 header's sform and voxels from its byte layout (no nibabel).

    SimpleITK 2.5 has no NIfTI-2 reader. Little-endian: ``sizeof_hdr`` 540 (int32),
    magic ``n+2`` at 4, datatype (int16) at 12, dim (8 × int64) at 16, vox_offset
    (int64) at 168, sform_code (int32) at 348, srow_x, srow_y, srow_z (4 × float64
    each) from 400.
    """
    raw = path.read_bytes()
    assert struct.unpack_from("<i", raw, 0)[0] == 540 and raw[4:7] == b"n+2"
    (kind,) = struct.unpack_from("<h", raw, 12)
    dims = struct.unpack_from("<8q", raw, 16)
    (offset,) = struct.unpack_from("<q", raw, 168)
    (sform_code,) = struct.unpack_from("<i", raw, 348)
    assert sform_code > 0, "no sform: the geometry would be a guess"
    affine = np.eye(4)
    affine[:3] = np.asarray(struct.unpack_from("<12d", raw, 400)).reshape(3, 4)
    dtype = np.dtype(_NIFTI_TYPES[kind])
    shape = dims[1 : dims[0] + 1]
    voxels = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape)), offset=offset)
    grid = expected_grid(affine)
    grid.voxels = voxels.reshape(shape, order="F")
    return grid


_NIFTI_TYPES = {2: "<u1", 4: "<i2", 8: "<i4", 16: "<f4", 64: "<f8", 256: "<i1", 512: "<u2"}


def assert_grids_close(got: Grid, want: Grid, *, atol: float = 1e-5) -> None:
    """Origin, spacing and direction agree within ``atol`` (mm, or unitless cosines)."""
    np.testing.assert_allclose(got.spacing, want.spacing, atol=atol, err_msg="spacing")
    np.testing.assert_allclose(got.direction, want.direction, atol=atol, err_msg="direction")
    np.testing.assert_allclose(got.origin, want.origin, atol=atol, err_msg="origin")


def assert_read_like_itk(path: Path, source: Volume) -> None:
    """medbridge and SimpleITK read the source's voxels from ``path``, and agree on the grid."""
    ours = formats.read(path)
    itk = sitk_grid(path)
    assert np.array_equal(ours.array, source.array)
    assert np.array_equal(itk.voxels, np.asarray(source.array))
    assert_grids_close(expected_grid(ours.affine_ras), itk)
    np.testing.assert_allclose(ours.affine_ras, source.affine_ras, atol=1e-5)


def write_with_itk(volume: Volume, path: Path) -> None:
    """Write ``volume`` with SimpleITK: 4D as a 4D image (NRRD: as components), RGB as vectors."""
    array = np.asarray(volume.array)
    grid = expected_grid(volume.affine_ras)
    if array.ndim == 5:  # one frame of components
        image = sitk.GetImageFromArray(_zyx(array[:, :, :, 0, :]), isVector=True)
    elif array.ndim == 4 and path.suffix in (".nrrd", ".nhdr"):
        image = sitk.GetImageFromArray(_zyx(array), isVector=True)
    elif array.ndim == 4:
        frames = [sitk.GetImageFromArray(array[..., t].T) for t in range(array.shape[3])]
        image = sitk.JoinSeries(frames)
    else:
        image = sitk.GetImageFromArray(np.ascontiguousarray(array.T))
    n = image.GetDimension()
    direction = np.eye(n)
    direction[:3, :3] = grid.direction
    image.SetDirection(direction.ravel().tolist())
    image.SetOrigin([*grid.origin.tolist(), 0.0][:n])
    image.SetSpacing([*grid.spacing.tolist(), 1.0][:n])
    sitk.WriteImage(image, str(path), useCompression=path.suffix in (".mha", ".nrrd"))


def _zyx(array: np.ndarray) -> np.ndarray:
    """[x, y, z, c] → SimpleITK's [z, y, x, c]."""
    return np.ascontiguousarray(array.transpose(2, 1, 0, 3))

"""Affines from DICOM plane geometry, and the one place LPS (DICOM, ITK, NRRD) becomes RAS.

DICOM describes a slice by (0020,0037) 'Image Orientation (Patient)' (row and column
direction cosines, LPS) and (0020,0032) 'Image Position (Patient)' (centre of the first
transmitted voxel, LPS), PS3.3 C.7.6.2.1.1. NIfTI wants one 4×4 RAS+ matrix mapping
``(i, j, k)`` to millimetres. dcm2niix, the reference, stores every slice with its rows
reversed (the first NIfTI row is the last DICOM row), so this module builds affines for
that "row-flipped" voxel order.

The research formats split into the same two camps: NIfTI, MGH and MINC store RAS+
world coordinates, while NRRD ("left-posterior-superior"), MetaImage and every ITK
program store LPS, and describe the grid as origin + spacing + direction cosines rather
than one matrix. :func:`grid_from_affine` and :func:`affine_from_grid` translate between
the two descriptions, and :func:`ras_to_lps` / :func:`lps_to_ras` flip the world axes,
so no format module does its own geometry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medbridge.errors import GeometryError

__all__ = [
    "LPS_TO_RAS",
    "affine_from_centre",
    "affine_from_grid",
    "affine_ras_row_flipped",
    "direction_letters",
    "grid_from_affine",
    "lps_to_ras",
    "ras_to_lps",
    "reorder_axes",
    "slice_geometry",
    "slice_normal_lps",
    "world_to_ras",
]

#: Multiplying an LPS affine by this from the left gives the RAS+ affine.
LPS_TO_RAS: npt.NDArray[np.float64] = np.diag([-1.0, -1.0, 1.0, 1.0])


def slice_normal_lps(orientation_lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Unit normal of a slice: row cosines × column cosines.

    Parameters
    ----------
    orientation_lps:
        The six values of (0020,0037) 'Image Orientation (Patient)'.

    Raises
    ------
    GeometryError
        When the two cosines are not unit length or not orthogonal, because every affine
        built from them would then be wrong.

    >>> slice_normal_lps([1, 0, 0, 0, 1, 0]).tolist()
    [0.0, 0.0, 1.0]
    """
    iop = np.asarray(orientation_lps, dtype=np.float64).reshape(2, 3)
    row, col = iop[0], iop[1]
    if not (
        np.isclose(np.linalg.norm(row), 1, atol=1e-3)
        and np.isclose(np.linalg.norm(col), 1, atol=1e-3)
    ):
        raise GeometryError(
            f"(0020,0037) 'Image Orientation (Patient)' {iop.ravel().tolist()} is not unit length"
        )
    if abs(float(row @ col)) > 1e-3:
        raise GeometryError(
            f"(0020,0037) 'Image Orientation (Patient)' {iop.ravel().tolist()} is not orthogonal"
        )
    normal = np.cross(row, col)
    return np.asarray(normal / np.linalg.norm(normal), dtype=np.float64)


def affine_ras_row_flipped(
    orientation_lps: npt.ArrayLike,
    first_position_lps: npt.ArrayLike,
    pixel_spacing: tuple[float, float],
    slice_step_lps: npt.ArrayLike,
    rows: int,
) -> npt.NDArray[np.float64]:
    """RAS+ affine for slices stored with their rows reversed, as dcm2niix stores them.

    Parameters
    ----------
    orientation_lps:
        (0020,0037) of the slices.
    first_position_lps:
        (0020,0032) of slice ``k = 0``.
    pixel_spacing:
        (0028,0030) 'Pixel Spacing': (distance between rows, distance between columns).
    slice_step_lps:
        Vector from slice ``k`` to slice ``k + 1`` (mm, LPS).
    rows:
        (0028,0010) 'Rows', needed because voxel ``j = 0`` is the last DICOM row.

    Returns
    -------
    numpy.ndarray
        4×4 float64, voxel ``(i, j, k)`` → RAS+ mm, where ``i`` counts columns and
        ``j = rows - 1 - r`` for DICOM row ``r``.

    >>> a = affine_ras_row_flipped([1, 0, 0, 0, 1, 0], [0, 0, 0], (2.0, 1.0), [0, 0, 3], 4)
    >>> a.tolist()
    [[-1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, -6.0], [0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    iop = np.asarray(orientation_lps, dtype=np.float64).reshape(2, 3)
    row_cos, col_cos = iop[0], iop[1]
    row_spacing, col_spacing = float(pixel_spacing[0]), float(pixel_spacing[1])
    lps = np.eye(4)
    lps[:3, 0] = row_cos * col_spacing
    lps[:3, 1] = -col_cos * row_spacing
    lps[:3, 2] = np.asarray(slice_step_lps, dtype=np.float64)
    lps[:3, 3] = np.asarray(first_position_lps, dtype=np.float64) + col_cos * row_spacing * (
        rows - 1
    )
    return np.asarray(LPS_TO_RAS @ lps, dtype=np.float64)


def ras_to_lps(affine_ras: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The same voxel-to-world map with world axes in LPS (DICOM, ITK, NRRD) instead of RAS.

    >>> ras_to_lps(np.diag([2.0, 3.0, 4.0, 1.0]))[:3, :3].diagonal().tolist()
    [-2.0, -3.0, 4.0]
    """
    return np.asarray(LPS_TO_RAS @ np.asarray(affine_ras, dtype=np.float64), dtype=np.float64)


def lps_to_ras(affine_lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The inverse of :func:`ras_to_lps` (the flip is its own inverse)."""
    return ras_to_lps(affine_lps)


def grid_from_affine(
    affine: npt.ArrayLike,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Split a 4×4 affine into origin, spacing and direction cosines (ITK's description).

    Returns
    -------
    origin:
        World position of voxel (0, 0, 0) (3,).
    spacing:
        Voxel size along i, j, k: the lengths of the first three columns (3,).
    direction:
        3×3 matrix whose columns are the unit vectors of the i, j, k axes.

    Raises
    ------
    GeometryError
        When a column has zero length, since no direction can then be stated.

    >>> o, s, d = grid_from_affine([[0, 0, 2, 5], [-3, 0, 0, 6], [0, 4, 0, 7], [0, 0, 0, 1]])
    >>> o.tolist(), s.tolist(), d.astype(int).tolist()
    ([5.0, 6.0, 7.0], [3.0, 4.0, 2.0], [[0, 0, 1], [-1, 0, 0], [0, 1, 0]])
    """
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4):
        raise GeometryError(f"an affine must be 4x4, got {matrix.shape}")
    linear = matrix[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    if not np.all(spacing > 0) or not np.all(np.isfinite(spacing)):
        raise GeometryError(f"affine has a zero or non-finite voxel size: {spacing.tolist()}")
    return matrix[:3, 3].copy(), spacing, linear / spacing


def affine_from_grid(
    origin: npt.ArrayLike, spacing: npt.ArrayLike, direction: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """The 4×4 affine of a grid given as origin, spacing and direction (columns = axes).

    >>> affine_from_grid([1, 2, 3], [2, 2, 2], np.eye(3))[:3].tolist()
    [[2.0, 0.0, 0.0, 1.0], [0.0, 2.0, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0]]
    """
    out = np.eye(4)
    out[:3, :3] = np.asarray(direction, dtype=np.float64).reshape(3, 3) * np.asarray(
        spacing, dtype=np.float64
    ).reshape(1, 3)
    out[:3, 3] = np.asarray(origin, dtype=np.float64).reshape(3)
    return out


def affine_from_centre(
    centre: npt.ArrayLike,
    spacing: npt.ArrayLike,
    direction: npt.ArrayLike,
    shape: tuple[int, int, int],
) -> npt.NDArray[np.float64]:
    """The affine of a grid placed by the world position of its centre, as MGH stores it.

    FreeSurfer's ``c_ras`` is the position of voxel ``shape / 2`` (not the centre of the
    middle voxel for odd sizes), so voxel 0 sits at ``centre - M · shape / 2`` with
    ``M = direction · diag(spacing)``.

    >>> affine_from_centre([0, 0, 0], [1, 1, 1], np.eye(3), (4, 4, 2))[:3, 3].tolist()
    [-2.0, -2.0, -1.0]
    """
    linear = affine_from_grid([0.0, 0.0, 0.0], spacing, direction)[:3, :3]
    half = np.asarray(shape, dtype=np.float64) / 2.0
    origin = np.asarray(centre, dtype=np.float64).reshape(3) - linear @ half
    return affine_from_grid(origin, spacing, direction)


def reorder_axes(affine: npt.ArrayLike, order: tuple[int, int, int]) -> npt.NDArray[np.float64]:
    """The affine of the same grid after its voxel axes are transposed by ``order``.

    ``numpy.transpose(array, order)`` puts old axis ``order[n]`` at position ``n``, so
    the new affine's column ``n`` is the old column ``order[n]``; the origin stays.

    >>> reorder_axes(np.diag([1.0, 2.0, 3.0, 1.0]), (2, 1, 0)).diagonal().tolist()
    [0.0, 2.0, 0.0, 1.0]
    """
    out = np.array(affine, dtype=np.float64)
    out[:3, :3] = out[:3, list(order)]
    return out


#: World axis codes → the sign of each axis relative to RAS+.
_WORLD_SIGNS: dict[str, tuple[float, float, float]] = {
    "RAS": (1.0, 1.0, 1.0),
    "LPS": (-1.0, -1.0, 1.0),
    "LAS": (-1.0, 1.0, 1.0),
}


def world_to_ras(affine: npt.ArrayLike, space: str) -> npt.NDArray[np.float64]:
    """An affine whose world axes are ``space`` ("RAS", "LPS" or "LAS"), re-expressed in RAS+.

    >>> world_to_ras(np.eye(4), "LAS").diagonal().tolist()
    [-1.0, 1.0, 1.0, 1.0]
    """
    try:
        signs = _WORLD_SIGNS[space.upper()]
    except KeyError:
        raise GeometryError(
            f"world space '{space}' is not one of {', '.join(_WORLD_SIGNS)}"
        ) from None
    return np.asarray(np.diag([*signs, 1.0]) @ np.asarray(affine, dtype=np.float64))


_COSINE_TOLERANCE = 1e-4


def slice_geometry(
    affine_ras: npt.ArrayLike, rows: int, slices: int
) -> tuple[list[float], list[float], float, list[list[float]]]:
    """DICOM plane geometry for a volume's slices: the inverse of :func:`affine_ras_row_flipped`.

    Used to write a volume back as DICOM: rows are stored reversed, as dcm2niix reads
    them, so the series converts back to the same affine.

    Parameters
    ----------
    affine_ras:
        The volume's voxel → RAS+ affine.
    rows:
        Size along ``j`` (becomes (0028,0010) 'Rows', stored reversed).
    slices:
        Size along ``k``.

    Returns
    -------
    orientation:
        (0020,0037): row cosines then column cosines, LPS.
    pixel_spacing:
        (0028,0030): distance between rows, then between columns (mm).
    thickness:
        Distance between slice centres along the normal (mm).
    positions:
        (0020,0032) for each slice, LPS.

    Raises
    ------
    GeometryError
        When the axes are not orthogonal (a sheared grid), which classic DICOM slices
        cannot state.

    >>> o, s, t, p = slice_geometry(np.diag([2.0, 3.0, 4.0, 1.0]), 10, 2)
    >>> o, s, t, p[1]
    ([-1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [3.0, 2.0], 4.0, [0.0, -27.0, 4.0])
    """
    lps = ras_to_lps(affine_ras)
    col_step = lps[:3, 0]  # along i: the DICOM row direction (one column to the next)
    row_step = -lps[:3, 1]  # DICOM row r + 1 is voxel j - 1
    slice_step = lps[:3, 2]
    sizes = [float(np.linalg.norm(v)) for v in (col_step, row_step, slice_step)]
    if min(sizes) <= 0:
        raise GeometryError(f"affine has a zero voxel size: {sizes}")
    row_cos, col_cos = col_step / sizes[0], row_step / sizes[1]
    normal = np.cross(row_cos, col_cos)
    if abs(float(row_cos @ col_cos)) > _COSINE_TOLERANCE or (
        abs(abs(float(normal @ slice_step)) / sizes[2] - 1.0) > _COSINE_TOLERANCE
    ):
        raise GeometryError(
            "the affine's axes are not orthogonal (sheared grid): DICOM slices cannot "
            "hold it; resample the volume first"
        )
    first = lps @ np.array([0.0, rows - 1.0, 0.0, 1.0])
    positions = [(first[:3] + k * slice_step).tolist() for k in range(slices)]
    orientation = [*(row_cos + 0.0).tolist(), *(col_cos + 0.0).tolist()]  # no -0.0
    return orientation, [sizes[1], sizes[0]], sizes[2], positions


def direction_letters(cosines: npt.ArrayLike) -> str:
    """(0020,0020) letters for an LPS direction, strongest first (PS3.3 C.7.6.1.1.1).

    Each LPS axis gives the letter of the side the direction points to (L/R, P/A,
    H/F); axes with a cosine under 0.1 are left out. ITK's AnatomicalOrientation
    names the opposite side: ``direction_letters(-v)``.

    >>> direction_letters([0.0, -0.8, 0.6])
    'AH'
    """
    vector = np.asarray(cosines, dtype=np.float64)
    letters = []
    for axis in np.argsort(-np.abs(vector)):
        value = float(vector[int(axis)])
        if abs(value) > 0.1:
            letters.append(("LPH" if value > 0 else "RAF")[int(axis)])
    return "".join(letters)

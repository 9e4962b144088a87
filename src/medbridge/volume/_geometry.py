"""Affines from DICOM plane geometry, and the one place DICOM LPS becomes NIfTI RAS.

DICOM describes a slice by (0020,0037) 'Image Orientation (Patient)' (row and column
direction cosines, LPS) and (0020,0032) 'Image Position (Patient)' (centre of the first
transmitted voxel, LPS), PS3.3 C.7.6.2.1.1. NIfTI wants one 4×4 RAS+ matrix mapping
``(i, j, k)`` to millimetres. dcm2niix, the reference, stores every slice with its rows
reversed (the first NIfTI row is the last DICOM row), so this module builds affines for
that "row-flipped" voxel order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medbridge.errors import GeometryError

__all__ = [
    "LPS_TO_RAS",
    "affine_ras_row_flipped",
    "slice_normal_lps",
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

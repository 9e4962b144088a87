"""Reorienting 3D acquisitions to the closest canonical (RAS-like) voxel order.

dcm2niix stores 2D acquisitions (EPI, slice-by-slice) in acquisition order, because
slice-timing tools need the slices as acquired; but a 3D acquisition (MP-RAGE, SPACE,
TFE, a field map: (0018,0023) 'MR Acquisition Type' = "3D") has no slice timing, so it
permutes and flips the voxel axes to the order whose affine is closest to identity
(``nii_setOrtho``). The voxels and the world positions do not change, only the order in
which they are stored. This module reproduces that rule so outputs match voxel for voxel.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["canonical_order", "unflip_rows"]


def unflip_rows(
    array: npt.NDArray[Any], affine_ras: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Undo the row reversal: the DICOM row order and its affine.

    dcm2niix applies its reorientation to the image as read (first row first), not to
    the row-flipped image it writes for 2D acquisitions.

    >>> a = np.diag([1.0, 2.0, 3.0, 1.0])
    >>> unflip_rows(np.zeros((2, 4, 1)), a)[1][1].tolist()
    [0.0, -2.0, 0.0, 6.0]
    """
    rows = array.shape[1]
    out = affine_ras.copy()
    out[:3, 3] = affine_ras[:3, 3] + affine_ras[:3, 1] * (rows - 1)
    out[:3, 1] = -affine_ras[:3, 1]
    return array[:, ::-1], out


def _corner_flips(
    shape: tuple[int, ...], affine: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], tuple[int, int, int]]:
    """The corner closest to the componentwise minimum of all eight corners.

    Its position becomes the new origin, and which axes it is at the far end of says
    which axes to reverse (dcm2niix's ``minCornerFlip``).
    """
    corners = []
    for flips in itertools.product((1, -1), repeat=3):
        # dcm2niix enumerates x fastest: (1,1,1), (-1,1,1), (1,-1,1)...
        flip = (flips[2], flips[1], flips[0])
        index = [0.0 if f > 0 else float(shape[i] - 1) for i, f in enumerate(flip)]
        corners.append((affine[:3, :3] @ np.asarray(index) + affine[:3, 3], flip))
    low = np.min(np.array([c for c, _ in corners]), axis=0)
    best = min(corners, key=lambda c: float(np.linalg.norm(c[0] - low)))
    return best[0], best[1]


def _best_permutation(
    rotation: npt.NDArray[np.float64], flip: tuple[int, int, int]
) -> npt.NDArray[np.float64]:
    """The signed permutation (with ``flip`` signs) that best aligns ``rotation`` to identity."""
    best: npt.NDArray[np.float64] | None = None
    best_score = 0.0
    # dcm2niix's six candidates, in its order: rows of the permutation matrix.
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        candidate = np.zeros((3, 3))
        for row, col in enumerate(perm):
            candidate[row, col] = flip[row]
        score = float(np.sum(rotation * candidate.T))
        if score > best_score:
            best_score, best = score, candidate
    return best if best is not None else np.eye(3)


def canonical_order(
    array: npt.NDArray[Any], affine_ras: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Permute/flip the three spatial axes to the order closest to RAS (``nii_setOrtho``).

    Parameters
    ----------
    array:
        Voxels in DICOM row order (see :func:`unflip_rows`), 3D or 4D.
    affine_ras:
        Their RAS+ affine.

    Returns
    -------
    (array, affine)
        The same voxels and world positions in the new storage order; unchanged when the
        affine is already canonical or no permutation improves it.

    >>> a = np.arange(8).reshape(2, 2, 2)
    >>> out, aff = canonical_order(a, np.diag([-1.0, 1.0, 1.0, 1.0]))
    >>> aff[0, 0], out[0, 0, 0] == a[1, 0, 0]
    (np.float64(1.0), np.True_)
    """
    rotation = affine_ras[:3, :3]
    off_diagonal = rotation - np.diag(np.diag(rotation))
    if np.all(np.diag(rotation) > 0) and not np.any(off_diagonal):
        return array, affine_ras
    origin, flip = _corner_flips(array.shape[:3], affine_ras)
    orient = _best_permutation(rotation, flip)
    # Output axis j reads input axis |v_j|, reversed when v_j < 0 (dcm2niix's setOrientVec).
    vec = [0, 0, 0]
    for i in range(3):
        for j in range(3):
            if orient[i, j] > 0:
                vec[j] = i + 1
            elif orient[i, j] < 0:
                vec[j] = -(i + 1)
    if vec == [1, 2, 3]:
        return array, affine_ras
    axes = [abs(v) - 1 for v in vec] + list(range(3, array.ndim))
    out = np.transpose(array, axes)
    for j, v in enumerate(vec):
        if v < 0:
            out = np.flip(out, axis=j)
    affine = np.eye(4)
    affine[:3, :3] = rotation @ orient
    affine[:3, 3] = origin
    return np.asfortranarray(out), affine

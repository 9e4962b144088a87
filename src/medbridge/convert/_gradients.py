"""Diffusion gradients stored in the image frame (GE, Canon classic), as dcm2niix maps them.

GE's (0019,10BB-BD) give the direction along the phase, frequency and slice axes, not in
patient coordinates; Canon's classic images give theirs in (0020,4000) 'Image Comments'
(``b=1000(y,x,z)``) or, when the first image lacks a world direction, in (0018,9089) read
the same way. dcm2niix (after Xiangrui Li's dicm2nii, validated on GE data) turns them
into FSL bvecs by the plane's main axis and (0018,1312) 'In-plane Phase Encoding
Direction' alone; this module reproduces that mapping, including GE's b-value rescaling
when a direction is not of unit length (b × |g|², rounded to 5 s/mm²).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["canon_comment_gradient", "image_frame_bvecs"]

_COMMENT = re.compile(r"b=\s*([-\d.]+)\s*\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\)")

#: Axes negated per main slice axis (1 sagittal, 2 coronal, 3 axial): dcm2niix's ``flp``.
_FLIPS = {1: (1, 1, 0), 2: (0, 1, 1), 3: (0, 0, 1)}


def canon_comment_gradient(comment: str) -> tuple[float, tuple[float, float, float]] | None:
    """(b-value, direction) from a Canon (0020,4000) such as ``b=1500(0.445,0.000,0.895)``.

    The components are stored as (y, x, z) of the image frame.

    >>> canon_comment_gradient("b=1500(0.445,0.000,0.895)")
    (1500.0, (0.0, 0.445, 0.895))
    """
    found = _COMMENT.search(comment or "")
    if not found:
        return None
    b, first, second, third = (float(v) for v in found.groups())
    return b, (second, first, third)


def image_frame_bvecs(
    bvals: Sequence[float],
    vectors: Sequence[tuple[float, float, float] | None],
    affine: npt.NDArray[np.float64],
    phase: str | None,
) -> tuple[list[float], npt.NDArray[np.float64]]:
    """b-values and FSL bvecs (3 × volumes) from image-frame gradients.

    Parameters
    ----------
    bvals, vectors:
        Per volume, as stored.
    affine:
        The output's RAS affine (its slice axis picks the mapping).
    phase:
        (0018,1312) "ROW" or "COL"; with neither, dcm2niix writes the vectors unchanged.
    """
    out_b = [float(b) for b in bvals]
    out = np.zeros((3, len(out_b)))
    flips = _FLIPS[_slice_axis(affine)]
    for t, (b, vector) in enumerate(zip(bvals, vectors, strict=True)):
        if vector is None:
            continue
        v = np.asarray(vector, dtype=np.float64)
        length = float(np.linalg.norm(v))
        if phase not in ("ROW", "COL"):
            out[:, t] = v
            continue
        if b <= 0 or length <= 1e-7:
            continue
        if 0.03 < length < 0.97:  # a scaled direction encodes a lower b-value
            scaled = b * length * length
            rounded = 5.0 if 0 < scaled < 5 else float(int((scaled + 2.5) / 5) * 5)
            v = v * (math.sqrt(b / rounded) if rounded else 0.0)
            out_b[t] = rounded
        if phase == "ROW":
            v = np.array([v[1], -v[0], v[2]])
        v = np.where(np.asarray(flips) == 1, -v, v)
        v[1] = -v[1]
        out[:, t] = -v
    return out_b, out + 0.0  # no negative zeros


def _slice_axis(affine: npt.NDArray[np.float64]) -> int:
    """1 (x, sagittal), 2 (y, coronal) or 3 (z, axial): where the slice axis points most
    (ties go to the later axis, as in dcm2niix)."""
    x, y, z = np.abs(np.asarray(affine, dtype=np.float64)[:3, 2])
    if z >= x and z >= y:
        return 3
    return 2 if y >= x else 1

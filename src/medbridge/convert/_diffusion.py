"""b-values and gradient directions: where each vendor stores them, and FSL's bvec frame.

Gradients are stored in the patient frame (LPS). FSL's ``.bvec`` wants them along the
image's voxel axes, with the first axis negated when the voxel-to-world matrix has a
positive determinant (FSL always assumes radiological storage). Sources, in order:
the enhanced MR Diffusion macro (0018,9117), the standard (0018,9087)/(0018,9089),
Siemens CSA 'B_value'/'DiffusionGradientDirection', Philips (2001,1003)/(2005,10B0-B2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from medbridge.volume._csa import csa_header, csa_value
from medbridge.volume._frames import frame_dataset
from medbridge.volume._stack import Frame, StackPlan

__all__ = ["bvals_bvecs", "frame_diffusion"]


def _floats(values: Any) -> tuple[float, float, float] | None:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return (out[0], out[1], out[2]) if len(out) == 3 else None


def _philips_private(ds: Dataset, tag: tuple[int, int]) -> Any:
    elem = ds.get(tag)
    return None if elem is None else elem.value


def frame_diffusion(frame: Frame) -> tuple[float, tuple[float, float, float] | None] | None:
    """(b-value, gradient in LPS or None) of one frame, or None when it has no diffusion data."""
    info = frame.info
    if "bvalue" in info:
        return float(info["bvalue"]), info.get("gradient_lps")
    ds = frame_dataset(info)
    if ds is None:
        return None
    if ds.get("DiffusionBValue") is not None:
        grad = ds.get("DiffusionGradientOrientation")
        return float(ds.DiffusionBValue), _floats(grad) if grad is not None else None
    csa = csa_header(ds, "image")
    b = csa_value(csa, "B_value")
    if b is not None:
        grad = csa.get("DiffusionGradientDirection")
        return float(b), _floats(grad) if grad else None
    b = _philips_private(ds, (0x2001, 0x1003))
    if b is not None:
        parts = [_philips_private(ds, (0x2005, e)) for e in (0x10B0, 0x10B1, 0x10B2)]
        grad = _floats(parts) if all(p is not None for p in parts) else None
        try:
            return float(b), grad
        except (TypeError, ValueError):
            return None
    return None


def bvals_bvecs(
    plan: StackPlan,
) -> tuple[list[float], npt.NDArray[np.float64]] | None:
    """b-values and FSL bvecs (3 × volumes) of a planned stack, or None when not diffusion.

    A series counts as diffusion when at least one volume has b > 0; volumes without a
    gradient get a zero vector.
    """
    values = []
    for volume in plan.frames:
        got = frame_diffusion(volume[0])
        if got is None:
            return None
        values.append(got)
    if not any(b > 0 for b, _ in values):
        return None
    affine = plan.affine_ras
    axes_ras = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    axes_lps = np.diag([-1.0, -1.0, 1.0]) @ axes_ras
    flip_x = np.linalg.det(affine[:3, :3]) > 0
    bvecs = np.zeros((3, len(values)))
    bvals = []
    for t, (b, grad) in enumerate(values):
        bvals.append(b)
        if grad is None or b <= 0:
            continue
        g = np.asarray(grad, dtype=np.float64)
        norm = np.linalg.norm(g)
        if norm == 0:
            continue
        v = axes_lps.T @ (g / norm)
        if flip_x:
            v[0] = -v[0]
        bvecs[:, t] = v
    return bvals, bvecs

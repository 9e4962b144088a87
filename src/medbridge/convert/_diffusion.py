"""b-values and gradient directions: where each vendor stores them, and FSL's bvec frame.

Most vendors store gradients in the patient frame (LPS). FSL's ``.bvec`` wants them along
the image's voxel axes, with the first axis negated when the voxel-to-world matrix has a
positive determinant (FSL always assumes radiological storage). Sources, in order: the
enhanced MR Diffusion macro (0018,9117), the standard (0018,9087)/(0018,9089), Siemens
CSA 'B_value'/'DiffusionGradientDirection' or its (0019,100C)/(0019,100E), Philips
(2001,1003)/(2005,10B0-B2), UIH (0065,1009)/(0065,1037), GE (0043,1039)/(0019,10BB-BD)
and Canon's (0020,4000) comments. GE and Canon classic gradients are in the image frame
(see :mod:`medbridge.convert._gradients`); UIH's are written as stored, y negated, as
dcm2niix writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from medbridge.convert._ge import private
from medbridge.convert._gradients import canon_comment_gradient, image_frame_bvecs
from medbridge.convert._naming import vendor
from medbridge.convert._sidecar import phase_direction
from medbridge.volume._csa import csa_header, csa_value
from medbridge.volume._frames import frame_dataset
from medbridge.volume._stack import Frame, StackPlan

__all__ = ["bvals_bvecs", "frame_diffusion"]

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class _Reading:
    """One volume's b-value and direction, and the frame the direction is given in."""

    b: float
    vector: Vector | None
    frame: str = "world"  # "world" (LPS), "image" (GE/Canon), "uih"


def _floats(values: Any) -> Vector | None:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return (out[0], out[1], out[2]) if len(out) == 3 else None


def _value(ds: Dataset, tag: tuple[int, int]) -> Any:
    elem = ds.get(tag)
    return None if elem is None else elem.value


def _first_number(value: Any) -> float | None:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _ge(ds: Dataset) -> _Reading | None:
    """GE: (0043,1039) b-value (GE adds 10⁹ as a flag), (0019,10BB-BD) image-frame direction.

    Since release 27 GE also writes the standard (0018,9087) b-value (left out of b = 0
    images) but still no (0018,9089) direction: the private b-value, when present, wins
    (as in dcm2niix, which reads it last), and the direction stays the private one.
    """
    b = _first_number(private(ds, 0x0043, "GEMS_PARM_01", 0x39))
    if b is None:
        b = _first_number(_value(ds, (0x0018, 0x9087)))
    if b is None:
        return None
    parts = [_first_number(private(ds, 0x0019, "GEMS_ACQU_01", e)) for e in (0xBB, 0xBC, 0xBD)]
    vector = _floats(parts) if all(p is not None for p in parts) else None
    b = float(int(b) % 1_000_000_000)
    if vector is not None and not any(vector):
        b = 0.0  # GE's b = 0 images can carry the series' b-value with no direction
    return _Reading(b, vector, "image")


def _vendor_private(ds: Dataset) -> _Reading | None:
    maker = vendor(ds)
    if maker == "GE":
        return _ge(ds)
    if maker == "Siemens":
        b = _first_number(private(ds, 0x0019, "SIEMENS MR HEADER", 0x0C))
        if b is not None:
            grad = private(ds, 0x0019, "SIEMENS MR HEADER", 0x0E)
            return _Reading(b, _floats(grad) if grad is not None else None)
    if maker == "UIH":
        b = _first_number(private(ds, 0x0065, "Image Private Header", 0x09))
        if b is not None:
            grad = private(ds, 0x0065, "Image Private Header", 0x37)
            return _Reading(b, _floats(grad) if grad is not None else None, "uih")
    b = _first_number(_value(ds, (0x2001, 0x1003)))
    if b is not None and maker == "Philips":
        parts = [_value(ds, (0x2005, e)) for e in (0x10B0, 0x10B1, 0x10B2)]
        return _Reading(b, _floats(parts) if all(p is not None for p in parts) else None)
    return None


def _ge_classic(ds: Dataset) -> bool:
    """A GE single-frame image whose direction is only in the private (0019,10BB-BD)."""
    return (
        vendor(ds) == "GE"
        and ds.get("DiffusionGradientOrientation") is None
        and "PerFrameFunctionalGroupsSequence" not in ds
    )


def _reading(frame: Frame) -> _Reading | None:
    info = frame.info
    if "bvalue" in info:
        return _Reading(float(info["bvalue"]), info.get("gradient_lps"))
    ds = frame_dataset(info)
    if ds is None:
        return None
    if ds.get("DiffusionBValue") is not None and not _ge_classic(ds):
        grad = ds.get("DiffusionGradientOrientation")
        return _Reading(float(ds.DiffusionBValue), _floats(grad) if grad is not None else None)
    csa = csa_header(ds, "image")
    b = csa_value(csa, "B_value")
    if b is not None:
        grad = csa.get("DiffusionGradientDirection")
        return _Reading(float(b), _floats(grad) if grad else None)
    return _vendor_private(ds)


def frame_diffusion(frame: Frame) -> tuple[float, Vector | None] | None:
    """(b-value, gradient or None) of one frame, or None when it has no diffusion data."""
    got = _reading(frame)
    return None if got is None else (got.b, got.vector)


def _canon_image_frame(ds: Dataset, readings: list[_Reading | None]) -> bool:
    """Canon classic series whose first image has no (0018,9089): image-frame gradients.

    dcm2niix then reads (0018,9089), or the (0020,4000) comment, in the image frame.
    """
    return (
        vendor(ds) == "Canon"
        and "PerFrameFunctionalGroupsSequence" not in ds
        and ds.get("DiffusionGradientOrientation") is None
        and any(r is not None for r in readings)
    )


def _with_comments(plan: StackPlan, readings: list[_Reading | None]) -> list[_Reading | None]:
    """Canon: directions from (0020,4000) where (0018,9089) is absent."""
    out: list[_Reading | None] = []
    for volume, got in zip(plan.frames, readings, strict=True):
        ds = volume[0].info.get("instance")
        parsed = canon_comment_gradient(str(ds.get("ImageComments", ""))) if ds else None
        if parsed is not None and (got is None or got.vector is None):
            b = got.b if got is not None else parsed[0]
            got = _Reading(b, parsed[1] if b > 0 else None, "image")
        elif got is not None:
            got = _Reading(got.b, got.vector, "image")
        out.append(got)
    return out


def _mosaic_axes(plan: StackPlan) -> npt.NDArray[np.float64] | None:
    """The rows dcm2niix projects a mosaic's gradient on, or None when not a mosaic.

    dcm2niix keeps a Siemens mosaic's tile order whatever its direction, and writes
    (g·r, −g·c, g·n) with r, c the row and column cosines and n = r × c, not the
    projection on the output's own axes. It negates the column component back (its
    "mosaic negative determinant") when the CSA 'SliceNormalVector' points against n,
    as in Siemens sagittal planes, unless the tiles are stored from the last slice
    ('ProtocolSliceNumber' > 0), which it flips first.
    """
    info = plan.frames[0][0].info
    if "normal_against_row_column" not in info:
        return None
    iop = np.asarray(plan.frames[0][0].orientation_lps, dtype=np.float64).reshape(2, 3)
    row, column = iop[0] / np.linalg.norm(iop[0]), iop[1] / np.linalg.norm(iop[1])
    normal = np.cross(row, column)
    normal /= np.linalg.norm(normal)
    flip = bool(info["normal_against_row_column"]) and not info.get("tiles_reversed")
    return np.vstack([row, column if flip else -column, normal])


def _world_bvecs(
    affine: npt.NDArray[np.float64],
    values: list[_Reading],
    *,
    axes: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """FSL bvecs from LPS gradients: on the output's axes, x negated when the affine's
    determinant is positive, or on the rows of ``axes`` when given (mosaics)."""
    axes_ras = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    axes_lps = np.diag([-1.0, -1.0, 1.0]) @ axes_ras
    flip_x = np.linalg.det(affine[:3, :3]) > 0
    bvecs = np.zeros((3, len(values)))
    for t, got in enumerate(values):
        if got.vector is None or got.b <= 0:
            continue
        g = np.asarray(got.vector, dtype=np.float64)
        norm = np.linalg.norm(g)
        if norm == 0:
            continue
        if got.frame == "uih":
            bvecs[:, t] = (g[0], -g[1], g[2])
            continue
        if axes is not None:
            bvecs[:, t] = axes @ (g / norm)
            continue
        v = axes_lps.T @ (g / norm)
        if flip_x:
            v[0] = -v[0]
        bvecs[:, t] = v
    return bvecs + 0.0


def bvals_bvecs(
    plan: StackPlan,
) -> tuple[list[float], npt.NDArray[np.float64]] | None:
    """b-values and FSL bvecs (3 × volumes) of a planned stack, or None when not diffusion.

    A series counts as diffusion when at least one volume has b > 0. Volumes without a
    b-value count as b = 0 when the first has one, or for Canon/Toshiba, which leave the
    value out of their b = 0 images; volumes without a gradient get a zero vector.
    """
    first = frame_dataset(plan.frames[0][0].info)
    ds = first if first is not None else Dataset()
    readings = [_reading(volume[0]) for volume in plan.frames]
    if _canon_image_frame(ds, readings):
        readings = _with_comments(plan, readings)
    if readings[0] is None and vendor(ds) not in ("Toshiba", "Canon"):
        return None
    values = [r if r is not None else _Reading(0.0, None) for r in readings]
    if not any(r.b > 0 for r in values):
        return None
    if values[0].frame == "image":
        # Whatever the patient position: dcm2niix only warns that its mapping is little
        # validated for other positions than head-first supine.
        phase = phase_direction(ds)
        return image_frame_bvecs(
            [r.b for r in values], [r.vector for r in values], plan.affine_ras, phase
        )
    axes = _mosaic_axes(plan)
    return [r.b for r in values], _world_bvecs(plan.affine_ras, values, axes=axes)

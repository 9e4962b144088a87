"""Stacking 2D frames into a 3D/4D volume: sort along the slice normal, check, build the affine.

Every DICOM layout (one slice per file, Siemens mosaic tiles, enhanced multi-frame) is
first turned into :class:`Frame` objects; one stacker then decides the geometry, so the
rules below hold for all of them:

* slices are ordered by their position along the slice normal, never by instance number;
* frames sharing a position are successive volumes (time, diffusion direction), ordered
  by the caller's ``order`` key (acquisition order);
* every position must hold the same number of frames and positions must be evenly
  spaced, otherwise the series is refused as an incomplete volume (duplicate or missing
  slices, irregular spacing): NIfTI cannot describe such a grid, and writing it anyway
  would put voxels in the wrong place;
* the output is stored the way dcm2niix stores it: columns along ``i``, rows reversed
  along ``j``, slices ascending along the normal (row × column cosines) along ``k``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from medbridge.errors import GeometryError, IncompleteVolumeError
from medbridge.volume._geometry import affine_ras_row_flipped, slice_normal_lps
from medbridge.volume._volume import Volume

__all__ = ["Frame", "StackPlan", "load_stack", "plan_stack"]

#: Two positions closer than this (mm) are the same slice.
_SAME_POSITION_MM = 1e-3
#: Cosines differing by more than this are a different orientation.
_SAME_ORIENTATION = 1e-4


@dataclass(frozen=True)
class Frame:
    """One 2D plane of stored values with its place in space.

    Attributes
    ----------
    position_lps:
        (0020,0032) 'Image Position (Patient)' of the frame's first voxel.
    orientation_lps:
        (0020,0037) 'Image Orientation (Patient)'.
    pixel_spacing:
        (0028,0030) 'Pixel Spacing' (between rows, between columns), mm.
    rows, columns:
        Frame size.
    load:
        Returns the stored values as a ``(rows, columns)`` array (or
        ``(rows, columns, 3)`` for colour); called once, when voxels are needed.
    order:
        Sort key giving acquisition order among frames at the same position.
    slope, intercept:
        (0028,1053) / (0028,1052) rescale of this frame.
    thickness:
        (0018,0050) 'Slice Thickness', used as the slice step of a single-slice image.
    stack_direction:
        Direction (LPS unit vector) along which slices are to be stored, when the
        layout fixes it (a mosaic keeps its storage order); None means ascending along
        row × column cosines.
    info:
        Per-frame values the converter wants back (b-value, echo time...).
    """

    position_lps: tuple[float, float, float]
    orientation_lps: tuple[float, ...]
    pixel_spacing: tuple[float, float]
    rows: int
    columns: int
    load: Callable[[], npt.NDArray[Any]]
    order: tuple[Any, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    thickness: float = 0.0
    stack_direction: tuple[float, float, float] | None = None
    info: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class StackPlan:
    """Where each frame goes, decided from headers alone.

    Attributes
    ----------
    frames:
        ``frames[t][k]``: volume ``t``, slice ``k`` (ascending along the normal).
    affine_ras:
        4×4 RAS+ affine of the row-flipped voxel order.
    slice_spacing:
        Distance between adjacent slices along the normal, mm.
    gantry_tilt_deg:
        Angle between the slice step and the slice normal (0 for untilted stacks).
    """

    frames: list[list[Frame]]
    affine_ras: npt.NDArray[np.float64]
    slice_spacing: float
    gantry_tilt_deg: float = 0.0

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the volume this plan loads (NIfTI order)."""
        first = self.frames[0][0]
        shape: tuple[int, ...] = (first.columns, first.rows, len(self.frames[0]))
        if len(self.frames) > 1:
            shape += (len(self.frames),)
        return shape


def _check_uniform(frames: Sequence[Frame]) -> None:
    first = frames[0]
    iop0 = np.asarray(first.orientation_lps)
    for frame in frames[1:]:
        if (frame.rows, frame.columns) != (first.rows, first.columns):
            raise GeometryError(
                f"frames differ in size: {first.rows}x{first.columns} "
                f"and {frame.rows}x{frame.columns}"
            )
        if np.max(np.abs(np.asarray(frame.orientation_lps) - iop0)) > _SAME_ORIENTATION:
            raise GeometryError(
                "(0020,0037) 'Image Orientation (Patient)' varies within the series: "
                f"{list(first.orientation_lps)} and {list(frame.orientation_lps)}"
            )
        if not np.allclose(frame.pixel_spacing, first.pixel_spacing, rtol=1e-4, atol=1e-5):
            raise GeometryError(
                f"(0028,0030) 'Pixel Spacing' varies: {first.pixel_spacing} "
                f"and {frame.pixel_spacing}"
            )


def plan_stack(frames: Sequence[Frame]) -> StackPlan:
    """Sort frames into slices and volumes and build the affine, without reading pixels.

    Parameters
    ----------
    frames:
        All frames of one output image.

    Returns
    -------
    StackPlan

    Raises
    ------
    GeometryError
        Orientation, size or pixel spacing varies.
    IncompleteVolumeError
        Positions hold different numbers of frames (duplicates, or a volume misses
        slices), or positions are not evenly spaced (missing slices, irregular spacing).
        Kept apart from other errors because it often means an unfinished transfer.
    """
    if not frames:
        raise GeometryError("no frames to stack")
    _check_uniform(frames)
    first = frames[0]
    normal = slice_normal_lps(first.orientation_lps)
    if first.stack_direction is not None:
        normal = np.asarray(first.stack_direction, dtype=np.float64)
    ordered = sorted(frames, key=lambda f: f.order)

    groups = _group_by_position(ordered, normal)
    counts = {len(m) for _, m in groups}
    if len(counts) != 1:
        raise IncompleteVolumeError(_uneven_counts_reason(groups))
    groups.sort(key=lambda g: float(g[0] @ normal))
    n_slices = len(groups)
    n_volumes = counts.pop()
    frames_tk = [[groups[k][1][t] for k in range(n_slices)] for t in range(n_volumes)]

    positions = np.array([g[0] for g in groups])
    tilt = 0.0
    if n_slices == 1:
        spacing = float(first.thickness) if first.thickness > 0 else 1.0
        step = normal * spacing
    else:
        dist = positions @ normal
        gaps = np.diff(dist)
        spacing = float(np.linalg.norm(positions[1] - positions[0]))
        along = float(gaps[0])
        ideal = dist[0] + along * np.arange(n_slices)
        worst = float(np.max(np.abs(dist - ideal)))
        if worst > max(0.01, 0.01 * along):
            raise IncompleteVolumeError(_uneven_spacing_reason(gaps))
        step_vec = positions[1] - positions[0]
        cos_tilt = min(1.0, abs(float(step_vec @ normal)) / float(np.linalg.norm(step_vec)))
        tilt = float(np.degrees(np.arccos(cos_tilt)))
        if tilt > 0.01:
            # Gantry tilt: the true step is not along the normal; keep it (sheared affine)
            # so every voxel stays where the scanner put it.
            step = (positions[-1] - positions[0]) / (n_slices - 1)
            spacing = along
        else:
            step = normal * spacing
    affine = affine_ras_row_flipped(
        first.orientation_lps, positions[0], first.pixel_spacing, step, first.rows
    )
    return StackPlan(frames_tk, affine, spacing, tilt)


def _group_by_position(
    frames: Sequence[Frame], normal: npt.NDArray[np.float64]
) -> list[tuple[npt.NDArray[np.float64], list[Frame]]]:
    """Frames sharing a position (within :data:`_SAME_POSITION_MM`), in the given order.

    Positions are binned by their distance along the normal so that each frame is compared
    with the few groups near it, not with all of them: linear in the number of frames,
    which matters for 1,000-slice CT and 100,000-frame fMRI series.
    """
    nx, ny, nz = (float(v) for v in normal)
    groups: list[tuple[tuple[float, float, float], list[Frame]]] = []
    bins: dict[int, list[int]] = {}
    for frame in frames:
        x, y, z = frame.position_lps
        key = round((x * nx + y * ny + z * nz) / _SAME_POSITION_MM)
        found = -1
        for b in (key, key - 1, key + 1):
            for index in bins.get(b, ()):
                gx, gy, gz = groups[index][0]
                if max(abs(gx - x), abs(gy - y), abs(gz - z)) < _SAME_POSITION_MM:
                    found = index
                    break
            if found >= 0:
                break
        if found >= 0:
            groups[found][1].append(frame)
        else:
            bins.setdefault(key, []).append(len(groups))
            groups.append(((float(x), float(y), float(z)), [frame]))
    return [(np.asarray(pos, dtype=np.float64), members) for pos, members in groups]


def _uneven_counts_reason(groups: Sequence[tuple[npt.NDArray[np.float64], list[Frame]]]) -> str:
    """Why positions hold different numbers of frames: duplicates, or volumes missing slices."""
    sizes = [len(m) for _, m in groups]
    most = max(set(sizes), key=sizes.count)
    extra = [(p, m) for p, m in groups if len(m) > most]
    if most == 1 and extra:
        where = extra[0][0].round(3).tolist()
        return (
            f"incomplete volume: duplicate slices at {len(extra)} of {len(groups)} positions "
            f"(e.g. {len(extra[0][1])} frames at {where}); refusing to guess which to keep"
        )
    short = [(p, m) for p, m in groups if len(m) != max(sizes)]
    return (
        f"incomplete volume: {len(short)} of {len(groups)} slice positions hold fewer than "
        f"{max(sizes)} frames (e.g. position {short[0][0].round(3).tolist()} holds "
        f"{len(short[0][1])})"
    )


def _uneven_spacing_reason(gaps: npt.NDArray[np.float64]) -> str:
    """Missing slices (gaps that are whole multiples of the usual gap) or irregular spacing."""
    unit = float(np.median(gaps))
    ratios = gaps / unit if unit > 0 else gaps
    whole = np.allclose(ratios, np.round(ratios), atol=0.02) and unit > 0
    if whole and np.all(np.round(ratios) >= 1):
        missing = int(np.sum(np.round(ratios) - 1))
        first = int(np.argmax(np.round(ratios) > 1))
        return (
            f"incomplete volume: {missing} slice(s) missing (spacing {unit:.4g} mm, gap of "
            f"{gaps[first]:.4g} mm after slice {first + 1} of {len(gaps) + 1})"
        )
    return (
        "incomplete volume: slice spacing is not uniform along the normal (gaps from "
        f"{gaps.min():.4g} to {gaps.max():.4g} mm); NIfTI cannot store such a grid"
    )


def load_stack(plan: StackPlan, *, metadata: dict[str, Any] | None = None) -> Volume:
    """Read the planned frames' pixels into a :class:`Volume`.

    The array is built in place in the order NIfTI stores it (Fortran order of
    ``(columns, rows, slices, volumes)``), so writing it is a plain copy.

    When every frame shares one rescale slope/intercept, stored values are kept and the
    scaling travels in ``Volume.slope``/``intercept``; when they differ, values are
    converted to float32 real-world values, since one header pair cannot describe them.
    """
    frames = plan.frames
    n_t, n_k = len(frames), len(frames[0])
    first = frames[0][0]
    sample = first.load()
    colour = sample.ndim == 3
    shape: tuple[int, ...] = (n_t, n_k, first.rows, first.columns) + (
        (sample.shape[2],) if colour else ()
    )
    scales = {(f.slope, f.intercept) for vol in frames for f in vol}
    varying = len(scales) > 1
    out = np.empty(shape, dtype=np.float32 if varying else sample.dtype)
    for t, vol in enumerate(frames):
        for k, frame in enumerate(vol):
            pixels = sample if (t, k) == (0, 0) else frame.load()
            if pixels.shape[:2] != (first.rows, first.columns):
                raise GeometryError(
                    f"frame pixels are {pixels.shape}, header says {first.rows}x{first.columns}"
                )
            if varying:
                out[t, k] = pixels[::-1].astype(np.float32) * frame.slope + frame.intercept
            else:
                out[t, k] = pixels[::-1]
    # (t, k, r, c[, rgb]) C-order == (c, r, k, t) Fortran order.
    axes = (3, 2, 1, 0, 4) if colour else (3, 2, 1, 0)
    array = out.transpose(axes)
    if n_t == 1:
        array = array[:, :, :, 0]
    slope, intercept = (1.0, 0.0) if varying else scales.pop()
    return Volume(array, plan.affine_ras, dict(metadata or {}), slope=slope, intercept=intercept)

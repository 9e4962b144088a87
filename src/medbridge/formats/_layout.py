"""What every format module needs besides its own header: array layout, values, safe writes.

A :class:`~medbridge.volume.Volume` array is indexed ``[i, j, k, t, c]``: three spatial
axes, then frames (time, diffusion directions, echoes), then components (RGB, vector).
Formats differ in which of the last two they can hold and in which data types they
know; these helpers state those limits once, so each module raises the same clear
:class:`~medbridge.errors.FormatError` instead of writing something a reader would
misinterpret.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from medbridge.errors import FormatError
from medbridge.volume import Volume

__all__ = [
    "Layout",
    "atomic_path",
    "check_layout",
    "from_layout",
    "layout_of",
    "stored_or_real",
    "to_supported_dtype",
]


@dataclass(frozen=True)
class Layout:
    """The shape of a volume split by meaning: spatial size, frames, components."""

    spatial: tuple[int, int, int]
    frames: int
    components: int

    @property
    def shape5(self) -> tuple[int, int, int, int, int]:
        """``(i, j, k, t, c)``, with 1 for a missing axis."""
        return (*self.spatial, self.frames, self.components)


def layout_of(array: npt.NDArray[Any]) -> Layout:
    """Read a Volume array's shape as ``(spatial, frames, components)``.

    >>> import numpy as np
    >>> layout_of(np.zeros((4, 5))).shape5
    (4, 5, 1, 1, 1)
    >>> layout_of(np.zeros((4, 5, 6, 1, 3))).shape5
    (4, 5, 6, 1, 3)
    """
    shape = tuple(int(n) for n in array.shape)
    if len(shape) > 5:
        raise FormatError(
            f"a volume has at most 5 axes (i, j, k, frames, components), got shape {shape}"
        )
    padded = shape + (1,) * (5 - len(shape))
    return Layout(padded[:3], padded[3], padded[4])  # type: ignore[arg-type]


def from_layout(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Drop trailing length-1 frame/component axes, keeping at least three dimensions.

    Readers build a 5-axis array and call this so a plain 3D file gives a 3D Volume.
    """
    out = array
    while out.ndim > 3 and out.shape[-1] == 1:
        out = out[..., 0]
    return out


def check_layout(
    volume: Volume,
    path: str | os.PathLike[str],
    *,
    label: str,
    frames: bool,
    components: bool,
    alternatives: str = "write .nii.gz or .nrrd, which hold both",
) -> Layout:
    """The volume's layout, or a :class:`FormatError` saying what ``label`` cannot hold."""
    layout = layout_of(volume.array)
    if layout.frames > 1 and not frames:
        raise FormatError(
            f"{label} holds one 3D volume, this one has {layout.frames} frames; {alternatives}",
            path=path,
        )
    if layout.components > 1 and not components:
        raise FormatError(
            f"{label} holds scalar voxels, this volume has {layout.components} components "
            f"per voxel (RGB or vector); {alternatives}",
            path=path,
        )
    return layout


def stored_or_real(volume: Volume, *, float_dtype: npt.DTypeLike = np.float64) -> npt.NDArray[Any]:
    """The voxels to write in a format that has no slope/intercept fields.

    When the volume's scaling is the identity, the stored values go out unchanged (and
    keep their integer type); otherwise the real-world values ``stored * slope +
    intercept`` in ``float_dtype``, because silently dropping the scaling would change
    every value a reader sees. Formats without float64 (MGH) pass float32, which holds
    scaled 16-bit scanner data to 7 significant digits, as FreeSurfer's own converter
    stores it.
    """
    if volume.slope == 1.0 and volume.intercept == 0.0:
        return np.asarray(volume.array)
    real = np.asarray(volume.array, dtype=np.float64) * volume.slope + volume.intercept
    return real.astype(float_dtype, copy=False)


def to_supported_dtype(
    array: npt.NDArray[Any],
    allowed: Sequence[npt.DTypeLike],
    path: str | os.PathLike[str],
    *,
    label: str,
) -> npt.NDArray[Any]:
    """``array`` in the first type of ``allowed`` that holds every value exactly.

    Analyze, for example, has no uint16; uint16 voxels go out as int32, unchanged in
    value. When no allowed type holds the values (float64 into float32-only MGH), a
    :class:`FormatError` names the types the format knows rather than losing precision.
    """
    kinds = [np.dtype(d) for d in allowed]
    if array.dtype in kinds:
        return array
    for kind in kinds:
        if _exact_cast(array.dtype, kind):
            return array.astype(kind)
    names = ", ".join(k.name for k in kinds)
    raise FormatError(
        f"{label} cannot store {array.dtype.name} voxels without losing values "
        f"(it knows {names}); write .nii.gz or .nrrd instead",
        path=path,
    )


def _exact_cast(source: np.dtype[Any], target: np.dtype[Any]) -> bool:
    """Whether every ``source`` value has an exact ``target`` value.

    numpy calls int64 → float64 "safe", but float64 has 53 bits of mantissa, so large
    integers would change; integers go to floats only when the mantissa is wide enough.
    """
    if not np.can_cast(source, target, casting="safe"):
        return False
    if source.kind in "iu" and target.kind in "fc":
        return source.itemsize * 8 <= np.finfo(target).nmant + 1
    return True


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], extension: str) -> Iterator[str]:
    """A temporary name beside ``path`` (same ``extension``), renamed to ``path`` on success.

    The writers we call (nibabel, pynrrd) pick compression by extension, so the
    temporary name keeps it; a failed or interrupted write never leaves a half file
    under the final name.
    """
    final = os.fspath(path)
    folder, base = os.path.split(final)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.part{extension}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

"""The `Volume`: voxels plus their place in space, the currency between layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Volume"]


@dataclass
class Volume:
    """A 3D or 4D image with a RAS+ affine and metadata.

    The array is indexed as NIfTI indexes it: ``array[i, j, k]`` for 3D, then time (or
    diffusion direction, echo) as the fourth axis, components (RGB, vector) as the fifth.
    ``affine_ras`` maps ``(i, j, k, 1)`` to millimetres in RAS+ (NIfTI's and nibabel's
    convention); DICOM's LPS is converted in :mod:`medbridge.volume` and nowhere else.

    Stored values may be kept as the scanner stored them, with ``slope`` and
    ``intercept`` saying how to reach real-world values (``real = stored * slope +
    intercept``), because converters such as dcm2niix keep integers and write the
    scaling into the NIfTI header rather than converting to float.

    Attributes
    ----------
    array:
        The voxels.
    affine_ras:
        4×4 float64 voxel-index → RAS+ mm.
    metadata:
        Free-form keys, BIDS names where one exists (``RepetitionTime``, ``EchoTime``...).
    slope, intercept:
        Linear scaling from stored to real-world values.
    """

    array: npt.NDArray[Any]
    affine_ras: npt.NDArray[np.float64]
    metadata: dict[str, Any] = field(default_factory=dict)
    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        self.affine_ras = np.asarray(self.affine_ras, dtype=np.float64)
        if self.affine_ras.shape != (4, 4):
            raise ValueError(f"affine_ras must be 4x4, got {self.affine_ras.shape}")
        if self.array.ndim < 2:
            raise ValueError(f"a volume needs at least 2 dimensions, got {self.array.ndim}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the voxel array."""
        return tuple(self.array.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along i, j, k: the lengths of the affine's first three columns.

        >>> import numpy as np
        >>> Volume(np.zeros((2, 2, 2)), np.diag([2.0, 3.0, 4.0, 1.0])).spacing
        (2.0, 3.0, 4.0)
        """
        norms = np.linalg.norm(self.affine_ras[:3, :3], axis=0)
        return (float(norms[0]), float(norms[1]), float(norms[2]))

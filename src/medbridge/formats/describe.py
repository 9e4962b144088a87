"""A header summary of any research-format file, for ``medbridge info``.

NIfTI has its own field-by-field listing (`medbridge.formats.nifti_header`); the other
formats (NRRD, MetaImage, Analyze, MGH, MINC) are described by what medbridge reads from
them, in the terms every format shares: size, voxel type, spacing, the RAS+ affine,
scaling and metadata. The same reader as ``convert`` is used, so what ``info`` shows is
what a conversion gets.
"""

from __future__ import annotations

import os

import numpy as np

from medbridge import formats

__all__ = ["describe_volume_file"]


def describe_volume_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(field, value) pairs describing a volume file of any format medbridge reads.

    Raises
    ------
    FormatError
        The file is not of a known format, or is malformed.
    """
    label = formats.detect(path) or "unknown"
    volume = formats.read(path)
    rows = [
        ("format", label),
        ("shape", " x ".join(str(n) for n in volume.shape)),
        ("data type", str(volume.array.dtype)),
        ("spacing (mm)", " ".join(f"{s:g}" for s in volume.spacing)),
    ]
    with np.printoptions(precision=4, suppress=True):
        for i, row in enumerate(volume.affine_ras[:3]):
            rows.append((f"affine RAS+ row {i}", " ".join(f"{v:g}" for v in row)))
    if (volume.slope, volume.intercept) != (1.0, 0.0):
        rows.append(("scaling", f"slope {volume.slope:g}, intercept {volume.intercept:g}"))
    for key in sorted(volume.metadata):
        value = volume.metadata[key]
        text = str(value)
        rows.append((key, text if len(text) <= 200 else text[:197] + "..."))
    return rows

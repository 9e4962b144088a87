"""DICOM → research formats with dcm2niix's grouping, geometry and BIDS sidecars.

``convert(paths)`` returns :class:`~medbridge.volume.Volume` objects without writing
anything; ``convert_files(paths, out_dir)`` writes NIfTI, JSON and bval/bvec files and
reports what it wrote and what it refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from medbridge.convert._pipeline import (
    ConversionReport,
    ConvertOptions,
    Output,
    Skipped,
    build_volume,
    convert_files,
    plan_outputs,
)
from medbridge.volume import Volume

__all__ = ["ConversionReport", "ConvertOptions", "Output", "Skipped", "convert", "convert_files"]


def convert(
    inputs: Sequence[str | os.PathLike[str]], *, options: ConvertOptions | None = None
) -> list[Volume]:
    """Convert DICOM under ``inputs`` into Volumes (array + RAS affine + metadata).

    Each Volume's metadata holds the sidecar fields, plus ``"name"`` (the output name the
    ``-f`` template gives) and, for diffusion, ``"bvals"``/``"bvecs"``. Series that cannot
    be converted correctly are left out; use :func:`convert_files` for the report.
    """
    options = options or ConvertOptions()
    planned, _report = plan_outputs(inputs, options)
    volumes = []
    for item in planned:
        volume, _fields, _diffusion = build_volume(item, options)
        volume.metadata["name"] = item.name
        volumes.append(volume)
    return volumes

"""MGH / MGZ (``.mgh``, ``.mgz``): FreeSurfer's volume format, through nibabel.

MGH stores a RAS+ "vox2ras" as voxel sizes, direction cosines and the world position
of the volume's centre, all in float32, so an affine survives to float32 precision.
It holds up to four dimensions (frames as the fourth) and scalar voxels of type
uint8, int16, uint16, int32 or float32; it has no slope/intercept, so scaled volumes
are written as float32 real values. ``.mgz`` is the same, gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
from typing import Any

import nibabel as nib
import numpy as np

from medbridge.errors import FormatError
from medbridge.formats._layout import (
    atomic_path,
    check_layout,
    from_layout,
    stored_or_real,
    to_supported_dtype,
)
from medbridge.volume import Volume

__all__ = ["EXTENSIONS", "read", "sniff", "write"]

#: File name endings this module reads and writes.
EXTENSIONS: tuple[str, ...] = (".mgz", ".mgh")

_TYPES = (np.uint8, np.int16, np.uint16, np.int32, np.float32)


def sniff(head: bytes) -> bool:
    """Whether the bytes are an MGH header (version 1, big-endian) or gzip (``.mgz``).

    >>> sniff((1).to_bytes(4, "big") + bytes(24))
    True
    """
    return head[:2] == b"\x1f\x8b" or head[:4] == b"\x00\x00\x00\x01"


def read(path: str | os.PathLike[str]) -> Volume:
    """Read an MGH or MGZ file into a Volume (``RepetitionTime`` from its TR, if set).

    Raises
    ------
    FormatError
        The header is truncated or invalid, or the data is shorter than it says.
    """
    name = os.fspath(path)
    loader: Any = nib
    try:
        # Our own open file, closed here (nibabel's from_filename leaves one open),
        # gunzipped by its magic rather than its name, so any name reads
        with open(name, "rb") as raw:
            packed = raw.read(2) == b"\x1f\x8b"
        opener: Any = gzip.open if packed else open
        with opener(name, "rb") as fh:
            holder = loader.fileholders.FileHolder(filename=name, fileobj=fh)
            mgh_image = loader.freesurfer.mghformat.MGHImage
            img = mgh_image.from_file_map({"image": holder}, mmap=False)
            array = np.asanyarray(img.dataobj)
    except (
        OSError,
        ValueError,
        EOFError,
        TypeError,
        loader.filebasedimages.ImageFileError,
        loader.spatialimages.HeaderDataError,
    ) as exc:
        raise FormatError(f"not a readable MGH file: {exc}", path=name) from exc
    metadata: dict[str, Any] = {}
    tr = float(img.header["tr"])
    if tr > 0:
        metadata["RepetitionTime"] = tr / 1000.0  # MGH stores milliseconds, BIDS seconds
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return Volume(from_layout(array), np.asarray(img.affine, dtype=np.float64), metadata)


def write(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write ``.mgh`` or ``.mgz`` (compressed when the name says so).

    Raises
    ------
    FormatError
        The volume has components, or voxels MGH cannot hold exactly (int64, float64).
    """
    name = os.fspath(path)
    check_layout(volume, name, label="MGH", frames=True, components=False)
    real = stored_or_real(volume, float_dtype=np.float32)
    values = to_supported_dtype(real, _TYPES, name, label="MGH")
    values = values.reshape(values.shape[:4])
    loader: Any = nib
    img = loader.freesurfer.mghformat.MGHImage(values, volume.affine_ras)
    tr = volume.metadata.get("RepetitionTime")
    if isinstance(tr, int | float) and tr > 0:
        img.header["tr"] = float(tr) * 1000.0
    extension = ".mgh" if name.lower().endswith(".mgh") else ".mgz"
    with atomic_path(name, extension) as tmp:
        loader.save(img, tmp)

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
import struct
import warnings
from typing import Any

import nibabel as nib
import numpy as np

from medbridge.errors import FormatError, OrientationWarning
from medbridge.formats._layout import (
    atomic_path,
    check_layout,
    from_layout,
    stored_or_real,
    to_supported_dtype,
)
from medbridge.volume import Volume
from medbridge.volume._geometry import affine_from_centre

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

    A header whose ``goodRASFlag`` is 0 carries no orientation: FreeSurfer then assumes
    coronal (LIA) 1 mm voxels centred on the origin, and so do we, with an
    :class:`~medbridge.errors.OrientationWarning`.

    Raises
    ------
    FormatError
        The header is truncated or invalid (an unknown voxel type, a zero size), or
        the data is shorter than it says.
    """
    name = os.fspath(path)
    loader: Any = nib
    mghformat = loader.freesurfer.mghformat
    try:
        # Our own open file, closed here (nibabel's from_filename leaves one open),
        # gunzipped by its magic rather than its name, so any name reads
        with open(name, "rb") as raw:
            packed = raw.read(2) == b"\x1f\x8b"
        opener: Any = gzip.open if packed else open
        with opener(name, "rb") as fh:
            good_ras = _check_header(fh.read(_FIXED_HEADER), name)
            fh.seek(0)
            holder = loader.fileholders.FileHolder(filename=name, fileobj=fh)
            img = mghformat.MGHImage.from_file_map({"image": holder}, mmap=False)
            array = np.asanyarray(img.dataobj)
    except (
        OSError,
        ValueError,
        EOFError,
        TypeError,
        mghformat.MGHError,
        loader.filebasedimages.ImageFileError,
        loader.spatialimages.HeaderDataError,
    ) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"not a readable MGH file: {exc}", path=name) from exc
    affine = np.asarray(img.affine, dtype=np.float64)
    if not good_ras:
        width, height, depth = (int(n) for n in array.shape[:3])  # MGH always has three
        affine = affine_from_centre(
            [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], _FREESURFER_LIA, (width, height, depth)
        )
        warnings.warn(
            f"{name}: goodRASFlag is 0, so the file states no orientation (and no voxel "
            "sizes); FreeSurfer's default is assumed, as FreeSurfer reads it: coronal "
            "slices (LIA), 1 mm voxels, centred on the origin",
            OrientationWarning,
            stacklevel=2,
        )
    metadata: dict[str, Any] = {}
    tr = float(img.header["tr"])
    if tr > 0:
        metadata["RepetitionTime"] = tr / 1000.0  # MGH stores milliseconds, BIDS seconds
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return Volume(from_layout(array), affine, metadata)


#: FreeSurfer's direction cosines without ``goodRASFlag`` (``MRIallocHeader``: x_r = -1,
#: y_s = -1, z_a = 1), columns = i, j, k. nibabel's fallback swaps rows for columns
#: (it gives LSP), so the affine is built here.
_FREESURFER_LIA = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: FreeSurfer's voxel type codes (``MRI_UCHAR`` ...), as ``mghformat`` knows them.
_TYPE_CODES = {0: "uint8", 1: "int32", 3: "float32", 4: "int16", 10: "uint16"}
#: version, sizes, frames, type, dof (7 × int32), goodRASFlag (int16).
_FIXED_HEADER = 30


def _check_header(head: bytes, path: str) -> bool:
    """Whether ``goodRASFlag`` is set, after checking the version and voxel type.

    nibabel reports an unknown type code as a bare ``KeyError``; checked here, the
    message names the code and the types FreeSurfer defines.
    """
    if len(head) < _FIXED_HEADER:
        raise FormatError(
            f"header is {len(head)} bytes, shorter than MGH's fixed fields (truncated?)",
            path=path,
        )
    version, kind = struct.unpack_from(">i", head, 0)[0], struct.unpack_from(">i", head, 20)[0]
    if version != 1:
        raise FormatError(f"MGH version {version} is not 1 (not an MGH file?)", path=path)
    if kind not in _TYPE_CODES:
        known = ", ".join(f"{code} {name}" for code, name in _TYPE_CODES.items())
        raise FormatError(
            f"MGH voxel type code {kind} is not supported (known: {known})", path=path
        )
    return bool(struct.unpack_from(">h", head, 28)[0] > 0)


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

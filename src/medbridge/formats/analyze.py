"""Analyze 7.5 (``.hdr`` + ``.img``): read and write through nibabel, with a warning.

Analyze 7.5 predates orientation fields: its header has dimensions, voxel sizes and a
data type, but nothing says which way left is. Readers assume an orientation
(nibabel and SPM assume radiological, x running right to left), and files written by
different programs disagree, so a left-right flip cannot be ruled out. We therefore
keep the voxels and voxel sizes, warn with :class:`AnalyzeOrientationWarning` on every
read and write, and suggest NIfTI, which is Analyze's header plus orientation.

A ``.hdr`` carrying the NIfTI magic ``ni1`` is a NIfTI-1 pair, not Analyze: it is read
with its orientation and without the warning.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import nibabel as nib
import numpy as np

from medbridge.errors import FormatError, OrientationWarning
from medbridge.formats._layout import (
    check_layout,
    from_layout,
    stored_or_real,
    to_supported_dtype,
)
from medbridge.volume import Volume

__all__ = ["EXTENSIONS", "AnalyzeOrientationWarning", "header_path", "read", "sniff", "write"]

#: File name endings this module reads and writes.
EXTENSIONS: tuple[str, ...] = (".hdr", ".img")

#: Voxel types Analyze 7.5 defines, in the order we try them (RGB is not offered).
_TYPES = (np.uint8, np.int16, np.int32, np.float32, np.float64, np.complex64)

_AMBIGUITY = (
    "Analyze 7.5 stores no orientation: voxel sizes are kept, but which side is left is "
    "not recorded, so readers may show {what} flipped left-right; use NIfTI (.nii.gz) to "
    "keep the orientation"
)


class AnalyzeOrientationWarning(OrientationWarning):
    """An Analyze 7.5 file was read or written: its left-right orientation is ambiguous."""


def sniff(head: bytes) -> bool:
    """Whether the bytes are a 348-byte Analyze (or NIfTI-1 pair) header, either byte order.

    >>> sniff((348).to_bytes(4, "little") + bytes(344))
    True
    """
    return len(head) >= 4 and 348 in (
        int.from_bytes(head[:4], "little"),
        int.from_bytes(head[:4], "big"),
    )


def header_path(path: str | os.PathLike[str]) -> str:
    """The ``.hdr`` of a pair, given either file (``.img`` data is not self-describing)."""
    name = os.fspath(path)
    stem, ext = os.path.splitext(name)
    if ext.lower() == ".img":
        return stem + (".HDR" if ext == ".IMG" else ".hdr")
    return name


def read(path: str | os.PathLike[str]) -> Volume:
    """Read an Analyze 7.5 pair (or a NIfTI-1 pair) into a Volume.

    The affine is nibabel's guess for Analyze (voxel sizes on the diagonal, x flipped,
    origin at the centre); :class:`AnalyzeOrientationWarning` says so.

    Raises
    ------
    FormatError
        The header is truncated or invalid, or the ``.img`` is not as long as the header
        says.
    """
    name = header_path(path)
    loader: Any = nib
    try:
        img = loader.load(name, mmap=False)
        array = np.asanyarray(img.dataobj.get_unscaled())
    except (
        OSError,
        ValueError,
        EOFError,
        loader.filebasedimages.ImageFileError,
        loader.spatialimages.HeaderDataError,
    ) as exc:
        raise FormatError(f"not a readable Analyze 7.5 pair: {exc}", path=name) from exc
    if not isinstance(img, loader.AnalyzeImage):
        raise FormatError(f"{type(img).__name__} is not Analyze 7.5", path=name)
    if array.dtype.names:  # RGB triples
        array = np.stack([array[n] for n in array.dtype.names], axis=-1)
        array = array.reshape((*array.shape[:-1], 1, 3) if array.ndim == 4 else array.shape)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))  # big-endian (Sun, SGI) files
    if not isinstance(img, loader.Nifti1Pair):
        warnings.warn(
            f"{name}: " + _AMBIGUITY.format(what="this volume"),
            AnalyzeOrientationWarning,
            stacklevel=2,
        )
    # nibabel moves the scaling from a loaded header to the data proxy
    slope, inter = img.dataobj.slope, img.dataobj.inter
    return Volume(
        from_layout(array),
        np.asarray(img.affine, dtype=np.float64),
        {},
        slope=1.0 if slope is None or not np.isfinite(slope) else float(slope),
        intercept=0.0 if inter is None or not np.isfinite(inter) else float(inter),
    )


def write(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write an Analyze 7.5 pair: voxels and voxel sizes, no orientation (with a warning).

    Raises
    ------
    FormatError
        The volume has components (Analyze has no vector voxels) or a voxel type it
        cannot hold without loss (e.g. int64).
    """
    hdr = header_path(path)
    check_layout(volume, hdr, label="Analyze 7.5", frames=True, components=False)
    values = to_supported_dtype(stored_or_real(volume), _TYPES, hdr, label="Analyze 7.5")
    loader: Any = nib
    img = loader.AnalyzeImage(values, None)
    zooms = list(img.header.get_zooms())
    zooms[:3] = volume.spacing
    img.header.set_zooms(zooms)
    warnings.warn(
        f"{hdr}: " + _AMBIGUITY.format(what="the written volume"),
        AnalyzeOrientationWarning,
        stacklevel=2,
    )
    img_path = os.path.splitext(hdr)[0] + ".img"
    try:
        loader.save(img, hdr)
    except BaseException:
        for leftover in (hdr, img_path):
            if os.path.exists(leftover):
                os.unlink(leftover)
        raise

"""Reading uncompressed pixel data by offset, without parsing the file a second time.

Uncompressed little-endian pixel data is a plain array at the end of the file. The
header was parsed already (to group and sort the slices); parsing every file again with
pydicom only to reach the pixels costs more than the copy itself, so for the common
single-frame, single-sample case the (7FE0,0010) element is located by its header bytes
(tag, VR, and the length the header implies) and the values are viewed in place. Any file
that does not fit exactly returns None, and the caller decodes it with pydicom.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

__all__ = ["read_native_pixels"]

_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_DTYPES = {
    (8, 0): "u1",
    (8, 1): "i1",
    (16, 0): "<u2",
    (16, 1): "<i2",
    (32, 0): "<u4",
    (32, 1): "<i4",
}


def _layout(ds: Dataset) -> tuple[str, int, int, np.dtype[Any], int, int] | None:
    """(transfer syntax, rows, columns, dtype, bits stored, bits allocated) if eligible."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    if syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        return None
    try:
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            return None
        if int(ds.get("NumberOfFrames", 1) or 1) != 1:
            return None
        rows, columns = int(ds.Rows), int(ds.Columns)
        allocated = int(ds.BitsAllocated)
        stored = int(ds.get("BitsStored", allocated) or allocated)
        signed = int(ds.get("PixelRepresentation", 0) or 0)
    except (AttributeError, TypeError, ValueError):
        return None
    dtype = _DTYPES.get((allocated, signed))
    if dtype is None or not 0 < stored <= allocated:
        return None
    return syntax, rows, columns, np.dtype(dtype), stored, allocated


def _fix_bits(arr: npt.NDArray[Any], stored: int, allocated: int) -> npt.NDArray[Any]:
    """Keep only the stored bits, sign-extending signed data, as pydicom's decoder does."""
    if stored == allocated:
        return arr
    if arr.dtype.kind == "u":
        masked: npt.NDArray[Any] = np.bitwise_and(arr, (1 << stored) - 1)
        return masked
    shift = allocated - stored
    extended: npt.NDArray[Any] = np.right_shift(np.left_shift(arr, shift), shift)
    return extended


def read_native_pixels(path: str, ds: Dataset) -> npt.NDArray[Any] | None:
    """The ``(rows, columns)`` stored values of an uncompressed file, or None.

    ``ds`` is the file's header as already read (``stop_before_pixels``); None means
    "not this fast path" (compressed, big endian, multi-frame, colour, or the element was
    not found exactly where the header says it must be).
    """
    layout = _layout(ds)
    if layout is None:
        return None
    syntax, rows, columns, dtype, stored, allocated = layout
    nbytes = rows * columns * dtype.itemsize
    with open(path, "rb") as fh:
        data = fh.read()
    for length in (nbytes, nbytes + 1) if nbytes % 2 else (nbytes,):
        size = length.to_bytes(4, "little")
        if syntax == ImplicitVRLittleEndian:
            headers = [_PIXEL_DATA_TAG + size]
        else:
            headers = [_PIXEL_DATA_TAG + vr + b"\x00\x00" + size for vr in (b"OW", b"OB")]
        for header in headers:
            at = data.rfind(header)
            if at >= 0 and at + len(header) + length <= len(data):
                start = at + len(header)
                arr = np.frombuffer(data, dtype=dtype, count=rows * columns, offset=start)
                return _fix_bits(arr.reshape(rows, columns), stored, allocated)
    return None

"""Reading uncompressed pixel data by offset, without parsing the file a second time.

Uncompressed little-endian pixel data is a plain array at the end of the file. The
header was read already (to group and sort the slices); parsing every file again with
pydicom only to reach the pixels costs more than the copy itself, so for the common
single-frame, single-sample case the (7FE0,0010) element is located by its header bytes
(tag, VR, and the length the header implies; or at the offset the fast scan found, after
checking those bytes) and the values are viewed in place. Any file that does not fit
exactly returns None, and the caller decodes it with pydicom.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

__all__ = ["Layout", "fix_bits", "plane_layout", "read_native_pixels"]


class HeaderLike(Protocol):
    """What reading a header needs: ``get``, ``in``, ``[]`` as a pydicom ``Dataset`` has them.

    A ``Dataset``, or the fast scan's ``ScannedHeader`` (medbridge.convert._values).
    """

    def get(self, key: Any, default: Any = None, /) -> Any: ...

    def __contains__(self, key: Any, /) -> bool: ...

    def __getitem__(self, key: Any, /) -> Any: ...


Header = Dataset | HeaderLike
#: (rows, columns, dtype, bits stored, bits allocated) of one single-sample plane.
Layout = tuple[int, int, np.dtype[Any], int, int]

_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_DTYPES = {
    (8, 0): "u1",
    (8, 1): "i1",
    (16, 0): "<u2",
    (16, 1): "<i2",
    (32, 0): "<u4",
    (32, 1): "<i4",
}


def syntax_of(header: Header, syntax: str | None) -> str:
    """``syntax`` when known, else the (0002,0010) of a parsed header's File Meta."""
    if syntax:
        return syntax
    meta = getattr(header, "file_meta", None)
    return str(getattr(meta, "TransferSyntaxUID", "") or "")


def plane_layout(header: Header) -> Layout | None:
    """The layout of a single-frame, single-sample image with a plain integer dtype, or None."""
    try:
        if int(header.get("SamplesPerPixel", 1) or 1) != 1:
            return None
        if int(header.get("NumberOfFrames", 1) or 1) != 1:
            return None
        rows, columns = int(header.get("Rows", 0)), int(header.get("Columns", 0))
        allocated = int(header.get("BitsAllocated", 0))
        stored = int(header.get("BitsStored", allocated) or allocated)
        signed = int(header.get("PixelRepresentation", 0) or 0)
    except (AttributeError, TypeError, ValueError):
        return None
    dtype = _DTYPES.get((allocated, signed))
    if dtype is None or not 0 < stored <= allocated:
        return None
    return rows, columns, np.dtype(dtype), stored, allocated


def fix_bits(arr: npt.NDArray[Any], stored: int, allocated: int) -> npt.NDArray[Any]:
    """Keep only the stored bits, sign-extending signed data, as pydicom's decoder does.

    pydicom shifts out the unused high bits of every integer image it decodes
    (``correct_unused_bits``, PS3.5 8.1.1), native or encapsulated alike.
    """
    if stored == allocated:
        return arr
    if arr.dtype.kind == "u":
        masked: npt.NDArray[Any] = np.bitwise_and(arr, (1 << stored) - 1)
        return masked
    shift = allocated - stored
    extended: npt.NDArray[Any] = np.right_shift(np.left_shift(arr, shift), shift)
    return extended


def _element_headers(syntax: str, nbytes: int) -> list[tuple[bytes, int]]:
    """(header bytes, value length) a (7FE0,0010) element of ``nbytes`` may start with."""
    out = []
    for length in (nbytes, nbytes + 1) if nbytes % 2 else (nbytes,):
        size = length.to_bytes(4, "little")
        if syntax == ImplicitVRLittleEndian:
            out.append((_PIXEL_DATA_TAG + size, length))
        else:
            out += [(_PIXEL_DATA_TAG + vr + b"\x00\x00" + size, length) for vr in (b"OW", b"OB")]
    return out


def read_native_pixels(
    path: str, header: Header, *, syntax: str | None = None, offset: int | None = None
) -> npt.NDArray[Any] | None:
    """The ``(rows, columns)`` stored values of an uncompressed file, or None.

    ``header`` is the file's header as already read (``stop_before_pixels``, or the
    fast scan's values with the file's ``syntax``); None means "not this fast path"
    (compressed, big endian, multi-frame, colour, or the element was not found exactly
    where the header says it must be). ``offset``, where the scan found the value of
    (7FE0,0010), saves reading the whole file; the element's header bytes before it
    are still checked.
    """
    syntax = syntax_of(header, syntax)
    layout = plane_layout(header)
    if layout is None or syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        return None
    rows, columns, dtype, stored, allocated = layout
    count = rows * columns
    candidates = _element_headers(syntax, count * dtype.itemsize)
    with open(path, "rb") as fh:
        if offset is not None and offset >= 12:
            fh.seek(offset - 12)
            data = fh.read(12 + candidates[-1][1])
            for head, length in candidates:
                if data[12 - len(head) : 12] == head and len(data) >= 12 + length:
                    arr = np.frombuffer(data, dtype=dtype, count=count, offset=12)
                    return fix_bits(arr.reshape(rows, columns), stored, allocated)
            fh.seek(0)
        data = fh.read()
    for head, length in candidates:
        at = data.rfind(head)
        if at >= 0 and at + len(head) + length <= len(data):
            arr = np.frombuffer(data, dtype=dtype, count=count, offset=at + len(head))
            return fix_bits(arr.reshape(rows, columns), stored, allocated)
    return None

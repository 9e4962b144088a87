"""Pixel data of a stored instance, frame by frame, read by offset (PS3.5 A.4, 8.2).

WADO-RS ``/frames`` and ``/rendered`` need single frames of files that may hold
hundreds. The header is parsed up to (7FE0,0010) 'Pixel Data' and no further; a native
frame is then one ``pread`` at its offset, and an encapsulated frame is found through
the Basic or Extended Offset Table or, lacking both, a scan of the fragment headers
(pydicom's ``get_frame``), copying the compressed bytes without decoding them
(DESIGN.md principle 5). Decoding, where an answer needs pixels, is pydicom's with the
installed plugins, one frame at a time.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID

from medbridge.errors import (
    InvalidDicomError,
    NotFoundError,
    QueryError,
    StorageError,
    UnsupportedTransferSyntax,
)

__all__ = [
    "PixelLayout",
    "decoded_frame",
    "frame_numbers",
    "native_frame",
    "read_layout",
    "stored_frame",
]

_PIXEL_DATA = 0x7FE00010
#: Native syntaxes whose pixel bytes are little endian in the file, frame after frame.
_NATIVE_LE = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


@dataclass(frozen=True)
class PixelLayout:
    """Where and how an instance's frames are stored.

    `value_offset` is the file offset of the Pixel Data value (the first item tag when
    encapsulated); `direct` says frames can be read by offset (native little endian or
    encapsulated, not deflated or big endian, which go through pydicom).
    """

    path: Path
    header: Dataset
    transfer_syntax: str
    frames: int
    rows: int
    columns: int
    samples: int
    bits_allocated: int
    value_offset: int
    value_length: int
    encapsulated: bool
    direct: bool

    @property
    def frame_size(self) -> int:
        """Bytes of one native frame."""
        return self.rows * self.columns * self.samples * self.bits_allocated // 8


def _int(ds: Dataset, keyword: str, default: int) -> int:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


#: Recently read layouts, keyed by file identity (path, inode, mtime, size): a stored
#: file is never rewritten in place (replacement is a rename), so a hit is current.
_LAYOUTS: OrderedDict[tuple[str, int, int, int], PixelLayout] = OrderedDict()
_LAYOUTS_MAX = 512
_LAYOUTS_LOCK = threading.Lock()


def read_layout(path: Path) -> PixelLayout:
    """Parse `path` up to its Pixel Data and return the frames' layout.

    A viewer asks every frame of an instance, and the rendered and thumbnail routes the
    same instance again, so layouts are kept (a few hundred, a header each) while the
    file stays the same.

    Raises
    ------
    NotFoundError
        The instance has no (7FE0,0010) 'Pixel Data' (WADO-RS answers 404: there are no
        frames to return).
    InvalidDicomError
        The header does not parse.
    StorageError
        The file cannot be read.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise StorageError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    key = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
    with _LAYOUTS_LOCK:
        layout = _LAYOUTS.get(key)
        if layout is not None:
            _LAYOUTS.move_to_end(key)
            return layout
    layout = _read_layout(path)
    with _LAYOUTS_LOCK:
        _LAYOUTS[key] = layout
        while len(_LAYOUTS) > _LAYOUTS_MAX:
            _LAYOUTS.popitem(last=False)
    return layout


def _read_layout(path: Path) -> PixelLayout:
    try:
        with open(path, "rb") as fp:
            try:
                header = dcmread(fp, stop_before_pixels=True)
            except Exception as exc:  # pydicom raises many types on damaged files
                raise InvalidDicomError(f"cannot parse: {exc}", path=path.name) from exc
            ts = str(header.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
            syntax = UID(ts)
            if ts == "1.2.840.10008.1.2.1.99" or not syntax.is_little_endian:
                direct, offset, length, tag_found = False, 0, 0, True
            else:
                start = fp.tell()
                head = fp.read(12)
                if len(head) < 8:
                    raise NotFoundError(f"instance {path.stem} has no Pixel Data")
                group, element = (
                    int.from_bytes(head[0:2], "little"),
                    int.from_bytes(head[2:4], "little"),
                )
                tag_found = (group << 16 | element) == _PIXEL_DATA
                if syntax.is_implicit_VR:
                    length = int.from_bytes(head[4:8], "little")
                    offset = start + 8
                else:
                    length = int.from_bytes(head[8:12], "little")
                    offset = start + 12
                direct = True
    except OSError as exc:
        raise StorageError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not tag_found:
        raise NotFoundError(f"instance {path.stem} has no Pixel Data")
    return PixelLayout(
        path=path,
        header=header,
        transfer_syntax=ts,
        frames=max(1, _int(header, "NumberOfFrames", 1)),
        rows=_int(header, "Rows", 0),
        columns=_int(header, "Columns", 0),
        samples=_int(header, "SamplesPerPixel", 1),
        bits_allocated=_int(header, "BitsAllocated", 16),
        value_offset=offset,
        value_length=length,
        encapsulated=syntax.is_compressed,
        direct=direct and (syntax.is_compressed or ts in _NATIVE_LE),
    )


def frame_numbers(text: str, frames: int | None = None) -> list[int]:
    """Parse a ``/frames/{list}`` path segment: 1-based numbers, comma separated.

    Raises
    ------
    QueryError
        400: a piece is not a positive integer.
    NotFoundError
        404: a number is beyond the instance's frames.
    """
    numbers: list[int] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece.isdigit() or int(piece) < 1:
            raise QueryError(f"frame list {text[:80]!r}: {piece[:20]!r} is not a frame number")
        numbers.append(int(piece))
    if frames is not None:
        beyond = [n for n in numbers if n > frames]
        if beyond:
            raise NotFoundError(f"frame {beyond[0]} requested of an instance of {frames}")
    return numbers


def stored_frame(layout: PixelLayout, index: int) -> bytes:
    """Return frame `index` (0-based) as stored: native bytes or the compressed frame.

    For a non-direct layout (deflated, big endian) the frame is decoded and returned
    as native little-endian bytes, which is what a copy would be in a readable syntax.
    """
    if not layout.direct:
        return native_frame(layout, index)
    try:
        with open(layout.path, "rb") as fp:
            if layout.encapsulated:
                fp.seek(layout.value_offset)
                return get_frame(
                    fp,
                    index,
                    number_of_frames=layout.frames,
                    extended_offsets=_extended_offsets(layout.header),
                )
            if layout.bits_allocated == 1:
                return native_frame(layout, index)
            size = layout.frame_size
            data = os.pread(fp.fileno(), size, layout.value_offset + index * size)
    except OSError as exc:
        raise StorageError(f"cannot read {layout.path.name}: {exc.strerror or exc}") from exc
    except (ValueError, KeyError) as exc:  # pydicom: offsets disagree with the fragments
        raise InvalidDicomError(f"frame {index + 1}: {exc}", path=layout.path.name) from exc
    if len(data) != size:
        raise InvalidDicomError(f"frame {index + 1} is truncated", path=layout.path.name)
    return data


def _extended_offsets(header: Dataset) -> tuple[bytes, bytes] | None:
    table = header.get("ExtendedOffsetTable")
    lengths = header.get("ExtendedOffsetTableLengths")
    if table and lengths:
        return bytes(table), bytes(lengths)
    return None


def decoded_frame(layout: PixelLayout, index: int) -> npt.NDArray[Any]:
    """Return frame `index` (0-based) as pixels (colour as RGB, samples last).

    Raises
    ------
    UnsupportedTransferSyntax
        No installed plugin decodes the frame (or its data is damaged): the answer asked
        for cannot be made (406).
    """
    if layout.direct and not layout.encapsulated and layout.bits_allocated in (8, 16, 32):
        return _native_array(layout, stored_frame(layout, index))
    try:
        return pixel_array(layout.path, index=index)
    except Exception as exc:  # decoders raise many types
        ts = layout.transfer_syntax
        raise UnsupportedTransferSyntax(
            ts, UID(ts).name, path=layout.path.name, hint=f"frame {index + 1}: {exc}"[:300]
        ) from exc


def _native_array(layout: PixelLayout, data: bytes) -> npt.NDArray[Any]:
    signed = _int(layout.header, "PixelRepresentation", 0) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{layout.bits_allocated // 8}")
    arr = np.frombuffer(data, dtype=dtype)
    if layout.samples > 1:
        if _int(layout.header, "PlanarConfiguration", 0) == 1:
            return arr.reshape(layout.samples, layout.rows, layout.columns).transpose(1, 2, 0)
        return arr.reshape(layout.rows, layout.columns, layout.samples)
    return arr.reshape(layout.rows, layout.columns)


def native_frame(layout: PixelLayout, index: int) -> bytes:
    """Return frame `index` (0-based) uncompressed, little endian, samples interleaved."""
    if layout.direct and not layout.encapsulated and layout.bits_allocated != 1:
        return stored_frame(layout, index)
    arr = decoded_frame(layout, index)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()

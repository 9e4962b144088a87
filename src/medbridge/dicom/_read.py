"""The one door through which medbridge hands a file to pydicom.

pydicom is the reference parser, but it trusts what a header claims: it recurses once
per nested sequence (a file nesting a few thousand levels deep ends in
``RecursionError``), reads ``length`` bytes for a length field however large (a claim
of 4 GB in a 2 KB file allocates 4 GB before finding the end), inflates a deflated data
set whole, and raises a dozen kinds of exception on damaged input. Every read of a
file or received bytes goes through :func:`read_dataset`, which

* first walks the element structure with medbridge's own iterative walker
  (:mod:`medbridge.dicom._header`): lengths checked against what holds them, nesting
  bounded by :data:`~medbridge.dicom._header.MAX_SEQUENCE_DEPTH`;
* for what that walker leaves to pydicom (Big Endian, Deflate, VRs it does not know),
  bounds what is inflated, caps every read at the bytes that exist, and after reading
  walks the data set, iteratively, to bound its nesting the same way;
* turns every failure into :class:`~medbridge.errors.InvalidDicomError` naming the file
  and the reason.
"""

from __future__ import annotations

import io
import os
import zlib
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from medbridge.dicom._header import (
    MAX_SEQUENCE_DEPTH,
    NeedsFullParse,
    read_raw_header,
    read_raw_header_bytes,
)
from medbridge.errors import InvalidDicomError

__all__ = ["MAX_INFLATED_BYTES", "read_dataset"]

#: Largest Deflated Explicit VR Little Endian data set inflated (deflate reaches ~1000:1,
#: so a 1 MB file could otherwise claim a gigabyte of memory).
MAX_INFLATED_BYTES = 512 * 1024 * 1024

_ITEM_BYTES = (b"\xfe\xff\x00\xe0", b"\xff\xfe\xe0\x00")

Source = str | os.PathLike[str] | bytes | bytearray | memoryview


class _CappedReader(io.BufferedReader):
    """A buffered file whose reads never ask for more than the file still holds.

    CPython allocates a read's full requested size before reading; pydicom asks for
    whatever length a header claims.
    """

    def __init__(self, raw: io.FileIO, size: int) -> None:
        super().__init__(raw)
        self._size = size

    def read(self, size: int | None = -1, /) -> bytes:
        if size is not None and size > 0:
            size = max(0, min(size, self._size - self.tell()))
        return super().read(size)


def read_dataset(
    source: Source,
    *,
    name: str | None = None,
    stop_before_pixels: bool = False,
    defer_size: int | None = None,
    specific_tags: list[Any] | None = None,
) -> Dataset:
    """Read a DICOM file (a path, or Part 10 bytes as received) with pydicom, safely.

    Files without preamble or File Meta Information are read too (as ``ls`` lists
    them); callers that need the meta build it from the data set
    (:func:`medbridge.dicom.complete_file_meta`).

    Parameters
    ----------
    source:
        A path, or the bytes of a whole file.
    name:
        How to name bytes in messages (a path names itself).
    stop_before_pixels, defer_size, specific_tags:
        As pydicom's ``dcmread``.

    Raises
    ------
    InvalidDicomError
        The input is empty, not DICOM, truncated, nests too deep, claims lengths it
        does not hold, inflates too far, or pydicom fails on it; the message names it.
    OSError
        The file cannot be opened or read.
    """
    label = name if name is not None else (None if _is_bytes(source) else os.fspath(source))  # type: ignore[arg-type]
    try:
        return _read(source, stop_before_pixels, defer_size, specific_tags)
    except InvalidDicomError as exc:
        raise type(exc)(exc.reason, path=exc.path or label) from None
    except Exception as exc:  # pydicom raises many kinds on damaged input
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the file system's error (permission, I/O), not the data's
        if _from_recursion(exc):
            raise InvalidDicomError(
                f"sequences nested too deep to read (medbridge reads at most "
                f"{MAX_SEQUENCE_DEPTH} levels)",
                path=label,
            ) from None
        raise InvalidDicomError(
            f"not readable as DICOM: {type(exc).__name__}: {exc}", path=label
        ) from exc


def _from_recursion(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a RecursionError.

    pydicom turns any exception met while reading an item's tag into ``OSError("No
    tag to read ...")``, so running out of stack inside it surfaces as that.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RecursionError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _is_bytes(source: Source) -> bool:
    return isinstance(source, bytes | bytearray | memoryview)


def _read(
    source: Source,
    stop_before_pixels: bool,
    defer_size: int | None,
    specific_tags: list[Any] | None,
) -> Dataset:
    data = bytes(source) if _is_bytes(source) else None  # type: ignore[arg-type]
    checked = True
    try:
        if data is not None:
            read_raw_header_bytes(data)
        else:
            read_raw_header(source)  # type: ignore[arg-type]
    except NeedsFullParse as exc:
        checked = False
        if exc.deflated_at is not None:
            _check_inflated_size(source, data, exc.deflated_at)
            defer_size = None  # a deferred value would be re-read from the deflated file
    kwargs: dict[str, Any] = {
        "force": True,  # the walker has seen a DICOM start; no preamble is fine
        "stop_before_pixels": stop_before_pixels,
        "defer_size": defer_size,
        "specific_tags": specific_tags,
    }
    if data is not None:
        size = len(data)
        ds = pydicom.dcmread(io.BytesIO(data), **kwargs)
    else:
        path = os.fspath(source)  # type: ignore[arg-type]
        raw = io.FileIO(path, "rb")
        size = os.fstat(raw.fileno()).st_size
        with _CappedReader(raw, size) as fp:
            ds = pydicom.dcmread(fp, **kwargs)
            ds.filename = path
    if not checked:
        _check_lengths(ds, size)
        _check_depth(ds)
    return ds


def _check_lengths(ds: Dataset, size: int) -> None:
    """Refuse a data set pydicom read past the end of its bytes (it stops quietly).

    A value pydicom deferred (left on disk, to be read on first use) is checked by
    where it starts, so that first use cannot read what the file does not hold.
    """
    for tag, raw in ds.items():  # items() gives elements as read; iterating would convert
        if not isinstance(raw, RawDataElement) or raw.length == 0xFFFFFFFF:
            continue
        if isinstance(raw.value, bytes):
            held = len(raw.value)
        elif raw.value is None and raw.length:
            held = max(0, size - raw.value_tell)
        else:
            continue
        if held < raw.length:
            raise InvalidDicomError(
                f"truncated: ({tag >> 16:04X},{tag & 0xFFFF:04X}) claims {raw.length} bytes "
                f"but the file holds {held} of them"
            )


def _check_inflated_size(source: Source, data: bytes | None, offset: int) -> None:
    """Refuse a deflated data set that would inflate past :data:`MAX_INFLATED_BYTES`."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    if data is None:
        with open(source, "rb") as fh:  # type: ignore[arg-type]
            fh.seek(offset)
            data, offset = fh.read(), 0  # the compressed bytes: what the file holds
    with io.BytesIO(data) as fp:
        fp.seek(offset)
        while chunk := fp.read(1 << 20):
            while chunk:
                total += len(inflater.decompress(chunk, 1 << 22))
                chunk = inflater.unconsumed_tail
                if total > MAX_INFLATED_BYTES:
                    raise InvalidDicomError(
                        f"the deflated data set inflates past {MAX_INFLATED_BYTES >> 20} MB"
                    )
            if inflater.eof:
                break


def _check_depth(ds: Dataset) -> None:
    """Refuse a data set whose sequences nest deeper than MAX_SEQUENCE_DEPTH.

    Walks with a stack, not recursion, converting each sequence pydicom left raw (a
    sequence of defined length is parsed only when first read), so that no later
    recursive walker (de-identification, dumps, pydicom's writer) meets deeper nesting.
    """
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        current, depth = stack.pop()
        for tag, raw in list(current.items()):  # as read: no value converted, none read
            if isinstance(raw, RawDataElement) and not _may_be_sequence(raw):
                continue
            elem = current[tag]
            if elem.VR != "SQ":
                continue
            if depth + 1 > MAX_SEQUENCE_DEPTH:
                raise InvalidDicomError(
                    f"sequences nested more than {MAX_SEQUENCE_DEPTH} levels deep; no "
                    "DICOM object nests so deep, so the file is refused rather than read"
                )
            stack.extend((item, depth + 1) for item in elem.value)


def _may_be_sequence(raw: RawDataElement) -> bool:
    if raw.VR == "SQ" or raw.length == 0xFFFFFFFF:
        return True
    if raw.VR not in (None, "UN"):
        return False
    try:
        return dictionary_VR(raw.tag) == "SQ"
    except KeyError:
        return isinstance(raw.value, bytes) and raw.value[:4] in _ITEM_BYTES

"""Hostile DICOM files, built byte by byte: what a header claims is not what the file holds.

Shared by the reading, de-identification, conversion and server tests (issue 13).
"""

from __future__ import annotations

import io
import struct
import zlib

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

ITEM = b"\xfe\xff\x00\xe0"
UNDEFINED = 0xFFFFFFFF


def base_dataset(name: str = "Hostile^Header") -> Dataset:
    """A small MR image with File Meta Information (the hostile part is appended)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = name
    ds.PatientID = "HOSTILE1"
    ds.Modality = "MR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def part10(ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> bytes:
    """``ds`` as a Part 10 file in ``syntax``."""
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def nested(depth: int, *, undefined: bool, implicit: bool = False, big: bool = False) -> bytes:
    """(0040,A730) 'Content Sequence' nested ``depth`` levels, each with one item.

    Undefined lengths (delimiters) or defined lengths; Implicit VR; or Big Endian.
    """
    end = ">" if big else "<"

    def header(length: int) -> bytes:
        if implicit:
            return struct.pack(f"{end}HHI", 0x0040, 0xA730, length)
        return struct.pack(f"{end}HH2sHI", 0x0040, 0xA730, b"SQ", 0, length)

    def item(length: int) -> bytes:
        return struct.pack(f"{end}HHI", 0xFFFE, 0xE000, length)

    leaf = (
        struct.pack(f"{end}HHI", 0x0040, 0xA160, 4) + b"LEAF"
        if implicit
        else struct.pack(f"{end}HH2sH", 0x0040, 0xA160, b"UT", 0)[:6]
        + struct.pack(f"{end}HI", 0, 4)
        + b"LEAF"
    )
    inner = leaf
    for _ in range(depth):
        if undefined:
            inner = (
                header(UNDEFINED)
                + item(UNDEFINED)
                + inner
                + struct.pack(f"{end}HHI", 0xFFFE, 0xE00D, 0)
                + struct.pack(f"{end}HHI", 0xFFFE, 0xE0DD, 0)
            )
        else:
            body = item(len(inner)) + inner
            inner = header(len(body)) + body
    return inner


def deep_file(depth: int, *, undefined: bool = True, syntax: str = ExplicitVRLittleEndian) -> bytes:
    """A whole file whose content sequence nests ``depth`` deep, in ``syntax``."""
    ds = base_dataset("Deep^Nest")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.Modality = "SR"
    implicit = syntax == ImplicitVRLittleEndian
    big = syntax == ExplicitVRBigEndian
    head = part10(ds, syntax)
    tail = nested(depth, undefined=undefined, implicit=implicit, big=big)
    if syntax == DeflatedExplicitVRLittleEndian:
        meta_end = _meta_end(head)
        body = zlib.decompress(head[meta_end:], -zlib.MAX_WBITS) + tail
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return head[:meta_end] + packer.compress(body) + packer.flush()
    return head + tail


def _meta_end(data: bytes) -> int:
    (length,) = struct.unpack_from("<I", data, 140)
    return 144 + length


def element(tag: int, vr: bytes, value: bytes, *, length: int | None = None) -> bytes:
    """One Explicit VR Little Endian element, its length field possibly lying."""
    n = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV"):
        head = struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, n)
    else:
        head = struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, n)
    return head + value


def with_tail(tail: bytes) -> bytes:
    """A valid small file followed by ``tail`` (elements after (0020,000E))."""
    return part10(base_dataset()) + tail


def huge_length() -> bytes:
    """(0040,A160) 'Text Value' claiming 4 GB - 2 in a file of a few hundred bytes."""
    return with_tail(element(0x0040A160, b"UT", b"short", length=0xFFFFFFFE))


def huge_length_in_item() -> bytes:
    """An undefined-length sequence whose item holds an element claiming ~4 GB."""
    inner = element(0x00080100, b"UT", b"abc", length=0xFFFFFFF0)
    return with_tail(
        struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, UNDEFINED) + ITEM + b"\xff" * 4 + inner
    )


def truncated_item() -> bytes:
    """A defined-length sequence whose only item claims more than the file holds."""
    body = ITEM + struct.pack("<I", 4096) + element(0x00080100, b"SH", b"CODE")
    return with_tail(struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 4096 + 8) + body)


def wrong_vr() -> bytes:
    """A VR that is no VR ('ZZ') on a top-level element."""
    return with_tail(element(0x00400254, b"ZZ", b"Procedure"))


def undefined_without_delimiters() -> bytes:
    """An undefined-length sequence and item that the file ends inside of."""
    return with_tail(
        struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, UNDEFINED)
        + ITEM
        + b"\xff" * 4
        + element(0x00080100, b"SH", b"CODE")
    )


def sequence_of_non_items() -> bytes:
    """A sequence holding an element where only items may be."""
    inner = element(0x00080100, b"SH", b"CODE")
    return with_tail(struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, len(inner)) + inner)


def deflate_bomb(inflated: int) -> bytes:
    """A Deflated Explicit VR Little Endian file whose data set inflates to ``inflated``."""
    ds = base_dataset()
    head = part10(ds, DeflatedExplicitVRLittleEndian)
    meta_end = _meta_end(head)
    body = zlib.decompress(head[meta_end:], -zlib.MAX_WBITS)
    body += element(0x00431029, b"OB", b"", length=inflated)  # private blob, zeros
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = packer.compress(body)
    zeros = b"\x00" * (1 << 20)
    for _ in range(inflated >> 20):
        stream += packer.compress(zeros)
    return head[:meta_end] + stream + packer.flush()


#: name -> (bytes, words the reason must hold)
CASES: dict[str, tuple[bytes, str]] = {}


def cases() -> dict[str, tuple[bytes, str]]:
    """Every hostile file of this module with what its reason must say."""
    if not CASES:
        CASES.update(
            {
                "deep-undefined": (deep_file(3000), "nested more than 50 levels"),
                "deep-defined": (deep_file(3000, undefined=False), "nested more than 50 levels"),
                "deep-implicit": (
                    deep_file(3000, syntax=ImplicitVRLittleEndian),
                    "nested more than 50 levels",
                ),
                "deep-big-endian": (
                    deep_file(3000, syntax=ExplicitVRBigEndian),
                    "nested",
                ),
                "deep-deflated": (
                    deep_file(3000, syntax=DeflatedExplicitVRLittleEndian),
                    "nested",
                ),
                "huge-length": (huge_length(), "truncated"),
                "huge-length-in-item": (huge_length_in_item(), "truncated"),
                "truncated-item": (truncated_item(), "truncated"),
                "wrong-vr": (wrong_vr(), "ZZ"),
                "undefined-no-delimiters": (undefined_without_delimiters(), "truncated"),
                "sequence-of-non-items": (sequence_of_non_items(), "only items"),
                "zero-bytes": (b"", "empty file"),
                "not-dicom": (b"%PDF-1.4\n" + b"x" * 400, "not a DICOM file"),
            }
        )
    return CASES

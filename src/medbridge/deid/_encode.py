"""Encode a de-identified dataset as a DICOM file, copying untouched elements as bytes.

De-identification leaves most elements of a file as pydicom read them: still raw, their
value bytes exactly as in the input. pydicom's writer spends ~25 µs per element on
such elements (a buffer, context managers, endianness checks); this encoder writes their
header and bytes straight into one buffer, walks sequences itself, writes the File Meta
Information and changed ASCII values (UIDs, codes, dates) directly, and hands only the
other changed elements to pydicom's ``write_data_element``. The bytes are the same as
``Dataset.save_as(fp, enforce_file_format=True)`` gives (tested), for the common case
the fast path covers: little endian, not deflated, the dataset still in the encoding and
character set it was read in. Anything else returns None and the caller uses pydicom.
"""

from __future__ import annotations

import struct

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from medbridge.dicom._deflate import is_deflated_frames
from medbridge.dicom.flat import LONG_LENGTH_VRS
from medbridge.dicom.part10 import PREAMBLE

__all__ = ["encode_file"]

_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_ITEM_UNDEFINED = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF


def _fast_path_applies(ds: Dataset) -> tuple[bool, bool] | None:
    """The (implicit VR, little endian) to write in, or None when pydicom must write."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        return None
    syntax = UID(str(syntax))
    if is_deflated_frames(syntax):  # newer than pydicom 3.0: Explicit VR Little Endian
        encoding = (False, True)
    elif not syntax.is_transfer_syntax or syntax == DeflatedExplicitVRLittleEndian:
        return None
    else:
        encoding = (bool(syntax.is_implicit_VR), bool(syntax.is_little_endian))
    if not encoding[1] or ds.original_encoding != encoding:
        return None
    if ds.original_character_set != ds._character_set:
        return None  # pydicom would re-encode every text element
    return encoding


def _raw_header(raw: RawDataElement, implicit: bool) -> bytes | None:
    """The element header for a raw element, or None when pydicom must write it."""
    tag = int(raw.tag)
    value = raw.value
    if not isinstance(value, bytes):
        return None
    length = _UNDEFINED if raw.length == _UNDEFINED else len(value)
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length)
    vr = raw.VR
    if vr is None or len(vr) != 2:
        return None
    if vr in LONG_LENGTH_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, length)
    if length > 0xFFFF:
        return None  # pydicom's writer turns it into UN, with a warning
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), length)


_ASCII_PADDING = {"UI": b"\x00", "CS": b" ", "DA": b" ", "DT": b" ", "TM": b" ", "AS": b" "}


def _ascii_bytes(elem: DataElement, implicit: bool) -> bytes | None:
    """A changed UID, code, date or time (ASCII whatever the character set), or None."""
    pad = _ASCII_PADDING.get(str(elem.VR))
    value = elem.value
    if pad is None:
        return None
    if value is None or value == "":
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list | MultiValue) and all(isinstance(v, str) for v in value):
        text = "\\".join(value)
    else:
        return None
    if not text.isascii():
        return None
    data = text.encode("ascii")
    if len(data) % 2:
        data += pad
    tag = int(elem.tag)
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(data)) + data
    vr = str(elem.VR).encode("ascii")
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(data)) + data


def _element_bytes(elem: DataElement | RawDataElement, implicit: bool, charset: object) -> bytes:
    """One element the fast path does not cover, encoded by pydicom's element writer."""
    if isinstance(elem, DataElement):
        encoded = _ascii_bytes(elem, implicit)
        if encoded is not None:
            return encoded
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_data_element(buffer, elem, charset)  # type: ignore[arg-type]
    return buffer.getvalue()


def _same_encoding(item: Dataset, implicit: bool) -> bool:
    """Whether pydicom would write ``item``'s raw elements as they are (see write_dataset)."""
    return item.original_encoding == (implicit, True) and (
        item.original_character_set == item._character_set
    )


def _sequence_bytes(elem: DataElement, implicit: bool, charset: object) -> bytes | None:
    """A sequence with its items, as pydicom writes it; None when an item needs pydicom."""
    items = []
    for item in elem.value:
        if not _same_encoding(item, implicit):
            return None
        body = _dataset_bytes(item, implicit, charset)
        if getattr(item, "is_undefined_length_sequence_item", False):
            items.append(_ITEM_UNDEFINED + body + _ITEM_DELIMITER)
        else:
            items.append(struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)
    value = b"".join(items)
    undefined = bool(elem.is_undefined_length)
    length = _UNDEFINED if undefined else len(value)
    tag = int(elem.tag)
    if implicit:
        header = struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length)
    else:
        header = struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, b"SQ", 0, length)
    return header + value + (_SEQUENCE_DELIMITER if undefined else b"")


def _dataset_bytes(ds: Dataset, implicit: bool, parent_charset: object) -> bytes:
    """Every element of ``ds`` in tag order: raw ones copied, changed ones encoded."""
    charset = ds.get("SpecificCharacterSet", parent_charset)
    out = bytearray()
    for tag in sorted(ds.keys()):
        if (tag & 0xFFFF) == 0 and (tag >> 16) > 6:
            continue  # group lengths are retired; pydicom leaves them out too
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement):
            header = _raw_header(elem, implicit)
            if header is not None:
                out += header
                out += elem.value  # bytes: _raw_header checked it
                if elem.length == _UNDEFINED:
                    out += _SEQUENCE_DELIMITER
                continue
        elif elem.VR == "SQ":
            encoded = _sequence_bytes(elem, implicit, charset)
            if encoded is not None:
                out += encoded
                continue
        out += _element_bytes(elem, implicit, charset)
    return bytes(out)


_META_PADDING = {"UI": b"\x00", "OB": b"\x00", "SH": b" ", "AE": b" "}
_META_REQUIRED = (0x00020002, 0x00020003, 0x00020010)


def _file_meta_bytes(meta: Dataset) -> bytes | None:
    """File Meta Information with its group length, as pydicom writes it, or None.

    Only the elements :func:`medbridge.deid.deidentify` writes are handled (OB, UI, SH,
    AE values); anything else goes to pydicom's ``write_file_meta_info``.
    """
    if any(not meta.get(tag) for tag in _META_REQUIRED):
        return None
    out = bytearray()
    for tag in sorted(meta.keys()):
        if tag == 0x00020000:
            continue
        elem = meta[tag]
        pad = _META_PADDING.get(str(elem.VR))
        if pad is None:
            return None
        value = elem.value if isinstance(elem.value, bytes) else str(elem.value).encode("ascii")
        if len(value) % 2:
            value += pad
        vr = str(elem.VR).encode("ascii")
        if elem.VR == "OB":
            out += struct.pack("<HH2sHI", 0x0002, tag & 0xFFFF, vr, 0, len(value))
        else:
            out += struct.pack("<HH2sH", 0x0002, tag & 0xFFFF, vr, len(value))
        out += value
    return struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(out)) + out


def encode_file(ds: Dataset) -> bytes | None:
    """The whole file for ``ds``: zero preamble, File Meta Information, dataset.

    Returns None when the fast path does not apply (see the module docstring); the
    caller then writes with ``ds.save_as(fp, enforce_file_format=True)``. The preamble
    is always 128 zero bytes: a vendor preamble can hold anything, identity included.
    """
    encoding = _fast_path_applies(ds)
    if encoding is None:
        return None
    implicit, _little = encoding
    meta = _file_meta_bytes(ds.file_meta)
    if meta is None:
        buffer = DicomBytesIO()
        buffer.is_little_endian, buffer.is_implicit_VR = True, False
        write_file_meta_info(buffer, ds.file_meta, enforce_standard=True)
        meta = buffer.getvalue()
    return PREAMBLE + meta + _dataset_bytes(ds, implicit, "iso8859")

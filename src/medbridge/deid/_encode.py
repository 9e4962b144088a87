"""Encode a de-identified dataset as a DICOM file, copying untouched elements as bytes.

De-identification leaves most elements of a file as pydicom read them: still raw, their
value bytes exactly as in the input. pydicom's writer spends ~25 µs per element on
such elements (a buffer, context managers, endianness checks); this encoder writes their
header and bytes straight into one buffer and hands only the elements that changed to
pydicom's ``write_data_element``. The bytes are the same as
``Dataset.save_as(fp, enforce_file_format=True)`` gives (tested), for the common case
the fast path covers: little endian, not deflated, the dataset still in the encoding and
character set it was read in. Anything else returns None and the caller uses pydicom.
"""

from __future__ import annotations

import struct

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

__all__ = ["encode_file"]

_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF
_PREAMBLE = b"\x00" * 128 + b"DICM"


def _fast_path_applies(ds: Dataset) -> tuple[bool, bool] | None:
    """The (implicit VR, little endian) to write in, or None when pydicom must write."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        return None
    syntax = UID(str(syntax))
    if not syntax.is_transfer_syntax or syntax == DeflatedExplicitVRLittleEndian:
        return None
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
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), 0, length)
    if length > 0xFFFF:
        return None  # pydicom's writer turns it into UN, with a warning
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode("ascii"), length)


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
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, implicit
    charset = ds.get("SpecificCharacterSet", "iso8859")
    for tag in sorted(ds.keys()):
        if (tag & 0xFFFF) == 0 and (tag >> 16) > 6:
            continue  # group lengths are retired; pydicom leaves them out too
        elem = ds.get_item(tag)
        header = _raw_header(elem, implicit) if isinstance(elem, RawDataElement) else None
        if header is None:
            write_data_element(body, ds.get_item(tag), charset)
            continue
        body.write(header)
        body.write(elem.value)  # bytes: _raw_header checked it
        if elem.length == _UNDEFINED:
            body.write(_SEQUENCE_DELIMITER)
    return _PREAMBLE + meta.getvalue() + body.getvalue()

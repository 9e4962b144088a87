"""The DICOM File Format's header (PS3.10 7.1): preamble, prefix and File Meta Information.

A C-STORE arrives as a bare dataset; storing it as a Part 10 file means putting 132 bytes
of preamble and prefix and a File Meta Information group in front of it. pynetdicom
builds that group as a pydicom ``FileMetaDataset`` and encodes it with pydicom's
writer, about 0.3 ms of CPU per instance, a noticeable share of a durable store's budget
on one association. The group has a fixed layout (PS3.10 Table 7.1-1), so it is encoded
here directly, byte for byte what pydicom writes for the same values (tested).
"""

from __future__ import annotations

import struct

__all__ = ["file_meta_prefix"]

_PREAMBLE = b"\x00" * 128 + b"DICM"
_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<HH2s2xI")


def _element(elem: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return _LONG.pack(0x0002, elem, vr, len(value)) + value
    return _SHORT.pack(0x0002, elem, vr, len(value)) + value


def _uid(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _short_string(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b" " if len(raw) % 2 else raw


def file_meta_prefix(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax_uid: str,
    implementation_class_uid: str,
    implementation_version_name: str,
) -> bytes:
    """Return preamble, ``DICM`` and the File Meta Information group for a dataset.

    The group holds (0002,0000) 'File Meta Information Group Length', (0002,0001)
    'File Meta Information Version' 00\\01, the Media Storage SOP Class and Instance
    UIDs, (0002,0010) 'Transfer Syntax UID' and the implementation's class UID and
    version name; the encoded dataset follows it directly in the file.

    >>> head = file_meta_prefix(sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    ...     sop_instance_uid="1.2.3", transfer_syntax_uid="1.2.840.10008.1.2.1",
    ...     implementation_class_uid="1.2.3.4", implementation_version_name="X")
    >>> head[128:132], len(head) % 2
    (b'DICM', 0)
    """
    body = b"".join(
        (
            _element(0x0001, b"OB", b"\x00\x01"),
            _element(0x0002, b"UI", _uid(sop_class_uid)),
            _element(0x0003, b"UI", _uid(sop_instance_uid)),
            _element(0x0010, b"UI", _uid(transfer_syntax_uid)),
            _element(0x0012, b"UI", _uid(implementation_class_uid)),
            _element(0x0013, b"SH", _short_string(implementation_version_name)),
        )
    )
    length = _SHORT.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<I", len(body))
    return _PREAMBLE + length + body

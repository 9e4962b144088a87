"""The DICOM File Format's header (PS3.10 7.1): preamble, prefix and File Meta Information.

A C-STORE arrives as a bare dataset; storing it as a Part 10 file means putting 132 bytes
of preamble and prefix and a File Meta Information group in front of it. pynetdicom
builds that group as a pydicom ``FileMetaDataset`` and encodes it with pydicom's
writer, about 0.3 ms of CPU per instance, a noticeable share of a durable store's budget
on one association. The group has a fixed layout (PS3.10 Table 7.1-1), so it is encoded
here directly, byte for byte what pydicom writes for the same values (tested).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from medbridge.dicom.flat import encode_flat

__all__ = ["PREAMBLE", "file_meta_prefix", "meta_values", "with_preamble"]

#: The 128-byte preamble (zeros: PS3.10 7.1 leaves its use to applications) and prefix.
PREAMBLE = b"\x00" * 128 + b"DICM"


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
    version name (always Explicit VR Little Endian); the encoded dataset follows it
    directly in the file.

    >>> head = file_meta_prefix(sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    ...     sop_instance_uid="1.2.3", transfer_syntax_uid="1.2.840.10008.1.2.1",
    ...     implementation_class_uid="1.2.3.4", implementation_version_name="X")
    >>> head[128:132], len(head) % 2
    (b'DICM', 0)
    """
    body = encode_flat(
        [
            (0x00020001, "OB", b"\x00\x01"),
            (0x00020002, "UI", sop_class_uid),
            (0x00020003, "UI", sop_instance_uid),
            (0x00020010, "UI", transfer_syntax_uid),
            (0x00020012, "UI", implementation_class_uid),
            (0x00020013, "SH", implementation_version_name),
        ],
        explicit_vr=True,
    )
    length = encode_flat([(0x00020000, "UL", len(body))], explicit_vr=True)
    return PREAMBLE + length + body


def with_preamble(data: bytes) -> bytes:
    """`data` as a PS3.10 file: the 128-byte preamble and ``DICM`` added when the bytes
    begin straight with the File Meta group (0002,xxxx), as some DICOMweb clients send
    STOW-RS parts; a stored file must open in any reader, pydicom's strict mode included.
    Other bytes are returned unchanged (the caller's parser judges them).
    """
    if data[128:132] == b"DICM":
        return data
    if data[:2] == b"\x02\x00" and data[4:6] in (b"UL", b"OB", b"UI", b"SH", b"AE"):
        return PREAMBLE + data
    return data


def meta_values(ds: Dataset) -> tuple[str, str, str]:
    """(SOP Class UID, SOP Instance UID, transfer syntax) for a File Meta group of ``ds``.

    Files without a complete File Meta Information group (old archives, CDs, bare data
    sets; ``ls`` lists them with a warning) get it from what they hold, as the reader
    takes it: the data set's (0008,0016)/(0008,0018), else what the partial meta names;
    the transfer syntax the meta names, else the encoding the data set was read in.
    A value that is nowhere is returned as "".
    """
    meta = getattr(ds, "file_meta", None)

    def pick(keyword: str, meta_keyword: str) -> str:
        value = str(ds.get(keyword, "") or "").strip("\x00 ")
        if not value and meta is not None:
            value = str(meta.get(meta_keyword, "") or "").strip("\x00 ")
        return value

    syntax = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
    if not syntax.strip("\x00 "):
        implicit, little = ds.original_encoding
        if little is False:
            syntax = "1.2.840.10008.1.2.2"
        elif implicit is False:
            syntax = "1.2.840.10008.1.2.1"
        else:
            syntax = "1.2.840.10008.1.2"
    return (
        pick("SOPClassUID", "MediaStorageSOPClassUID"),
        pick("SOPInstanceUID", "MediaStorageSOPInstanceUID"),
        syntax.strip("\x00 "),
    )

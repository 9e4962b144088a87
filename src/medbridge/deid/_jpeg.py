"""Text inside JPEG codestreams: COM and APPn segments of encapsulated frames (PS3.15 E.3.1).

A JPEG frame may carry text beside the image: comment (COM) segments and application
segments (APP1 EXIF and XMP, APP13 IPTC, ...), which cameras, scanners and secondary
capture software fill with names, dates and device details. Attribute rules never see
them. They are removed here from every frame of JPEG and JPEG-LS pixel data, without
re-encoding: the segments before the first scan are copied except those, the rest of
the frame is copied as it is, and the frames are encapsulated again with a new offset
table. The segments a decoder needs are kept: APP0 JFIF/JFXX, APP2 ICC profiles, APP8
'mrfx' (JPEG-LS colour transform) and APP14 'Adobe' (colour transform).
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames, parse_basic_offsets

from medbridge.errors import DeidentificationError

__all__ = ["JPEG_SYNTAXES", "strip_jpeg_text"]

#: JPEG (PS3.5 A.4.1, processes 1-29, retired ones included) and JPEG-LS (A.4.3).
JPEG_SYNTAXES = frozenset(
    {f"1.2.840.10008.1.2.4.{n}" for n in range(50, 71)}
    | {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
)

_KEPT_APPS = {
    0xE0: (b"JFIF\x00", b"JFXX\x00"),
    0xE2: (b"ICC_PROFILE\x00",),
    0xE8: (b"mrfx",),
    0xEE: (b"Adobe",),
}
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE


def _strip(frame: bytes) -> tuple[bytes, int]:
    """``frame`` without its text segments, and how many were removed."""
    if not frame.startswith(b"\xff\xd8"):
        return frame, 0
    out = bytearray(b"\xff\xd8")
    pos, removed, size = 2, 0, len(frame)
    while pos + 4 <= size and frame[pos] == 0xFF:
        marker = frame[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            out.append(0xFF)
            pos += 1
            continue
        if marker in (_SOS, _EOI) or 0xD0 <= marker <= 0xD8 or marker == 0x01:
            break  # the scan (or a marker without length): the rest is copied as it is
        (length,) = struct.unpack_from(">H", frame, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > size:
            break
        segment = frame[pos:end]
        text = marker == _COM or (
            0xE0 <= marker <= 0xEF and not segment[4:].startswith(_KEPT_APPS.get(marker, ()))
        )
        if text:
            removed += 1
        else:
            out += segment
        pos = end
    out += frame[pos:]
    return bytes(out), removed


def strip_jpeg_text(ds: Dataset, transfer_syntax_uid: str) -> int:
    """Remove COM and APPn text segments from every JPEG frame of ``ds``; how many.

    Raises
    ------
    DeidentificationError
        The encapsulated pixel data cannot be split into frames, so it cannot be
        checked for text: the image is not let through unchecked.
    """
    if transfer_syntax_uid not in JPEG_SYNTAXES or "PixelData" not in ds:
        return 0
    elem = ds["PixelData"]
    if not elem.is_undefined_length or not isinstance(elem.value, bytes):
        return 0
    count = int(ds.get("NumberOfFrames", 1) or 1)
    extended = ds.get("ExtendedOffsetTable")
    try:
        offsets = None
        if extended is not None:
            lengths = ds.get("ExtendedOffsetTableLengths")
            offsets = (
                list(struct.unpack(f"<{len(extended.value) // 8}Q", extended.value)),
                list(struct.unpack(f"<{len(lengths.value) // 8}Q", lengths.value)),
            )
        had_table = bool(parse_basic_offsets(elem.value))
        frames = list(generate_frames(elem.value, number_of_frames=count, extended_offsets=offsets))
    except Exception as exc:  # pydicom raises ValueError, struct.error, ...
        raise DeidentificationError(
            f"cannot split the JPEG pixel data into frames to check them for text: {exc}"
        ) from exc
    cleaned = [_strip(frame) for frame in frames]
    removed = sum(n for _, n in cleaned)
    if not removed:
        return 0
    new_frames = [frame for frame, _ in cleaned]
    if extended is not None:
        data, table, lengths_bytes = encapsulate_extended(new_frames)
        ds.ExtendedOffsetTable = table
        ds.ExtendedOffsetTableLengths = lengths_bytes
    else:
        data = encapsulate(new_frames, has_bot=had_table)
    ds.PixelData = data
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return removed

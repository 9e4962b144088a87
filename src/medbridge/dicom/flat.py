"""Encode small "flat" datasets: text elements, a few numbers, empty sequences.

A C-FIND answer of 5,000 studies is 5,000 identifiers of a dozen short text elements
each. pydicom's writer encodes such an identifier in ~0.3 ms (it is general: it checks
every value, resolves ambiguous VRs, handles every VR and sequence nesting), which made
pydicom's encoding most of the time of a broad query (issue 7 asks for at most half of
Orthanc's). The elements of an answer come from the index, already validated, so this
module writes them directly in Implicit or Explicit VR Little Endian (PS3.5 7.1) and
refuses (`NotFlat`) anything else, for which callers fall back to pydicom.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["LONG_LENGTH_VRS", "Element", "NotFlat", "encode_flat"]

#: (tag, VR, value): a value is a str, a sequence of str (multi-valued), None or "" (empty),
#: an int for US/UL/SS/SL, bytes for OB/UN, or an empty list for an SQ.
Element = tuple[int, str, Any]

#: Explicit VRs whose length field is 4 bytes after 2 reserved bytes (PS3.5 7.1.2).
LONG_LENGTH_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)

_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
    | {"UR", "UT"}
)
_NUMBERS = {"US": struct.Struct("<H"), "SS": struct.Struct("<h")}
_NUMBERS |= {"UL": struct.Struct("<I"), "SL": struct.Struct("<i")}
_IMPLICIT = struct.Struct("<HHI")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2s2xI")


class NotFlat(Exception):
    """An element this encoder does not write; encode the dataset with pydicom instead."""


def _value_bytes(vr: str, value: Any) -> bytes:
    if vr in _TEXT_VRS:
        if value is None:
            return b""
        if isinstance(value, str):
            text = value
        elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            text = "\\".join(value)
        else:
            raise NotFlat(f"{vr} value {value!r}")
        if vr == "UI" and not text.isascii():
            raise NotFlat(f"UI value {value!r} is not ASCII")  # PS3.5 9.1: digits and dots
        raw = text.encode("utf-8")
        if len(raw) % 2:
            raw += b"\x00" if vr == "UI" else b" "
        return raw
    if vr in _NUMBERS:
        if value is None or value == "":
            return b""
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return _NUMBERS[vr].pack(value)
            except struct.error as exc:
                raise NotFlat(f"{vr} value {value!r}") from exc
        raise NotFlat(f"{vr} value {value!r}")
    if vr in ("OB", "UN") and isinstance(value, bytes):
        return value + b"\x00" if len(value) % 2 else value
    if vr == "SQ" and (value is None or (isinstance(value, Sequence) and len(value) == 0)):
        return b""
    raise NotFlat(f"VR {vr}")


def encode_flat(elements: Iterable[Element], *, explicit_vr: bool) -> bytes:
    """Return the Little Endian encoding of `elements`, in ascending tag order.

    Text is encoded as UTF-8, so the dataset should carry (0008,0005) 'Specific
    Character Set' ``ISO_IR 192`` (or only ASCII text).

    Raises
    ------
    NotFlat
        An element has a VR or value outside the ones listed for `Element`, or a text
        value too long for its length field.

    >>> encode_flat([(0x00100020, "LO", "ID1"), (0x00080052, "CS", "STUDY")],
    ...             explicit_vr=True).hex(" ")[:35]
    '08 00 52 00 43 53 06 00 53 54 55 44'
    """
    out: list[bytes] = []
    for tag, vr, value in sorted(elements, key=lambda e: e[0]):
        raw = _value_bytes(vr, value)
        group, elem = tag >> 16, tag & 0xFFFF
        if not explicit_vr:
            out.append(_IMPLICIT.pack(group, elem, len(raw)))
        elif vr in LONG_LENGTH_VRS:
            out.append(_EXPLICIT_LONG.pack(group, elem, vr.encode(), len(raw)))
        elif len(raw) <= 0xFFFF:
            out.append(_EXPLICIT_SHORT.pack(group, elem, vr.encode(), len(raw)))
        else:
            raise NotFlat(f"{len(raw)}-byte {vr} value in explicit VR")
        out.append(raw)
    return b"".join(out)

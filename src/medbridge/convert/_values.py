"""The header values grouping and stacking read, decoded from the fast scan as pydicom would.

Grouping a 1,000-slice series needs ~25 attributes of each file; a full
``pydicom.dcmread`` of each header and pydicom's lazy value conversion cost several
times more than the conversion of the pixels themselves. The fast header walk
(:func:`medbridge.dicom._header.read_raw_header`) returns those elements' bytes, and
this module turns them into the values ``Dataset.get`` would return, for the value
forms where the result is certain: well-formed numbers, plain ASCII strings that pass
pydicom's own validators. Anything else (a value pydicom would repair or warn about, a
VR other than the dictionary's, text in another character set, a pydicom setting that
changes value types) makes :func:`decode_values` return None, and the caller reads that
file with pydicom, the reference parser, exactly as before (warnings included).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, cast

from pydicom import config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import VALIDATORS
from pydicom.values import convert_text

__all__ = ["FULL_HEADER_TAGS", "SCAN_TAGS", "decode_values", "fast_values_usable"]

#: Attributes read from every file: grouping keys, plane geometry, rescale, pixel layout.
_KEYWORDS = (
    "ImageType",
    "SOPInstanceUID",
    "AcquisitionTime",
    "Modality",
    "SeriesDescription",
    "SliceThickness",
    "EchoNumbers",
    "TriggerTime",
    "SeriesInstanceUID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleIntercept",
    "RescaleSlope",
)


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:  # pragma: no cover - the keywords above are all in the dictionary
        raise KeyError(keyword)
    return int(tag)


_BY_TAG: dict[int, tuple[str | tuple[int, int], str]] = {
    _tag(k): (k, str(dictionary_VR(_tag(k)))) for k in _KEYWORDS
}
#: Philips' (2001,1003) 'Diffusion B-Factor' and (2001,1004) 'Diffusion Direction', which
#: leave trace images out of a DWI series; keyed by tag, as ``Dataset.get`` takes them.
#: Their VR comes from the private creator in Implicit VR, so only Explicit VR is read.
_PRIVATE: dict[int, tuple[str | tuple[int, int], str]] = {
    0x20011003: ((0x2001, 0x1003), "FL"),
    0x20011004: ((0x2001, 0x1004), "CS"),
}

#: Elements whose presence means the file's full header must be read to group it:
#: (5200,9230) 'Per-Frame Functional Groups Sequence' (enhanced multi-frame).
FULL_HEADER_TAGS = (0x52009230,)

#: What the fast walk is asked for: tag → whether its value bytes are needed.
SCAN_TAGS: dict[int, bool] = {
    **dict.fromkeys(_BY_TAG, True),
    **dict.fromkeys(_PRIVATE, True),
    **dict.fromkeys(FULL_HEADER_TAGS, False),
}

_STR_VRS = frozenset({"CS", "UI", "TM", "LO"})
_DS_CHARS = frozenset("0123456789+-.eE")
#: Longest values PS3.5 Table 6.2-1 allows; pydicom warns about longer ones.
_DS_MAX, _IS_MAX = 16, 12
_MULTI_VALUED = frozenset(
    {"ImageType", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"}
)


class _Unsure(Exception):
    """A value whose pydicom reading this module does not reproduce with certainty."""


def fast_values_usable() -> bool:
    """Whether pydicom's settings give the value types this module reproduces."""
    return not (
        config.use_DS_numpy
        or config.use_IS_numpy
        or config.use_DS_decimal
        or config.datetime_conversion
        or config.use_none_as_empty_text_VR_value
    )


def _ds_piece(text: str) -> float:
    if not text or len(text) > _DS_MAX or not set(text) <= _DS_CHARS:
        raise _Unsure
    try:
        return float(text)
    except ValueError:
        raise _Unsure from None


def _is_piece(text: str) -> int:
    if not text or len(text) > _IS_MAX:
        raise _Unsure
    try:
        value = int(text)
    except ValueError:
        raise _Unsure from None
    if str(value) != text:  # pydicom keeps the original string ("02", "+2") for str()
        raise _Unsure
    return value


def _valid(vr: str, value: str) -> str:
    """``value`` if pydicom's validator for ``vr`` accepts it (pydicom would warn else)."""
    validator = cast(Callable[[str, Any], tuple[bool, str]], VALIDATORS[vr])
    valid, _ = validator(vr, value)
    if not valid:
        raise _Unsure
    return value


def _decode(keyword: str | tuple[int, int], vr: str, raw: bytes) -> Any:
    """The value pydicom gives ``raw`` (PS3.5 6.2 forms pydicom converts unchanged).

    DS and IS need no validator: the forms accepted here are the ones PS3.5 allows.
    """
    if not raw:
        return "" if vr in _STR_VRS else None
    if vr == "US":
        if len(raw) != 2:
            raise _Unsure
        return struct.unpack("<H", raw)[0]
    if vr == "FL":
        if len(raw) != 4:
            raise _Unsure
        return struct.unpack("<f", raw)[0]
    if vr == "LO":
        if max(raw) >= 0x80 or b"\\" in raw or b"\x1b" in raw:
            raise _Unsure  # another character set, or several values
        _valid(vr, raw.decode("ascii"))  # as pydicom validates it: before stripping
        return convert_text(raw, None, None)
    text = raw.decode("latin-1")
    if vr == "DS":
        text = text.strip()
    elif vr == "UI":
        text = text.rstrip("\0 ")
    items = text.rstrip(" \x00").split("\\")
    if len(items) > 1 and keyword not in _MULTI_VALUED:
        raise _Unsure
    if vr == "DS":
        values: list[Any] = [_ds_piece(t) for t in items]
    elif vr == "IS":
        values = [_is_piece(t) for t in items]
    else:
        values = [_valid(vr, t) for t in items]
    return values[0] if len(values) == 1 else values


def decode_values(
    elements: dict[int, tuple[bytes | None, bytes | None]], *, explicit_vr: bool
) -> dict[str | tuple[int, int], Any] | None:
    """Keyword → value of the :data:`SCAN_TAGS` present, or None when pydicom must read them.

    The two Philips private values are keyed by their (group, element) tag.

    ``elements`` is :attr:`~medbridge.dicom._header.RawHeader.elements` of a walk asked
    for :data:`SCAN_TAGS`. Also None when one of :data:`FULL_HEADER_TAGS` is present, or
    the image is a Siemens mosaic (its tiles are described in the CSA header).
    """
    values: dict[str | tuple[int, int], Any] = {}
    for tag, (vr_bytes, raw) in elements.items():
        known = _BY_TAG.get(tag)
        if known is None and explicit_vr:
            known = _PRIVATE.get(tag)
        if known is None:
            return None  # one of FULL_HEADER_TAGS, or a private element in Implicit VR
        keyword, vr = known
        if raw is None or (explicit_vr and vr_bytes != vr.encode()):
            return None  # undefined length, or a VR other than the dictionary's
        try:
            values[keyword] = _decode(keyword, vr, raw)
        except _Unsure:
            return None
    image_type = values.get("ImageType", [])
    if any(str(v).upper() == "MOSAIC" for v in image_type):
        return None
    return values

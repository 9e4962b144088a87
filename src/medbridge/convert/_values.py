"""The header values grouping and stacking read, decoded from the fast scan as pydicom would.

Grouping a 1,000-slice series needs a few dozen attributes of each file; a full
``pydicom.dcmread`` of each header and pydicom's lazy value conversion cost several
times more than the conversion of the pixels themselves. The fast header walk
(:func:`medbridge.dicom._header.read_raw_header`) returns those elements' bytes, and
this module turns them into the values ``Dataset.get`` would return, for the value
forms where the result is certain: well-formed numbers, plain ASCII strings that pass
pydicom's own validators, the dictionary's VR.

:class:`ScannedHeader` answers like a pydicom ``Dataset`` from those values, and hands
every other read (another attribute, a private element it could not decode, a method
such as ``private_block``) to the file's full ``Dataset``, parsed on first need: code
that reads more than was scanned is slower, never wrong. Files whose scanned values are
not certain (a value pydicom would repair or warn about, another VR, text in another
character set, a pydicom setting that changes value types), enhanced images and Siemens
mosaics make :func:`decode_values` return None, and the caller reads the file with
pydicom, the reference parser, exactly as before (warnings included).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from pydicom import config
from pydicom.datadict import dictionary_VR, private_dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.valuerep import VALIDATORS
from pydicom.values import convert_text

__all__ = [
    "FULL_HEADER_TAGS",
    "SCAN_TAGS",
    "ScannedHeader",
    "ScannedValues",
    "decode_values",
    "fast_values_usable",
]

#: Attributes read from every classic image: grouping and naming keys, plane geometry,
#: rescale, pixel layout. Absence of any of them is known from the scan.
_KEYWORDS = (
    "ImageType",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "Modality",
    "Manufacturer",
    "SoftwareVersions",
    "SeriesDescription",
    "SliceThickness",
    "EchoTime",
    "EchoNumbers",
    "TriggerTime",
    "ProtocolName",
    "ReceiveCoilName",
    "SequenceName",
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


_BY_TAG: dict[int, tuple[str, str]] = {_tag(k): (k, str(dictionary_VR(_tag(k)))) for k in _KEYWORDS}
SCANNED_KEYWORDS = frozenset(_KEYWORDS)

#: Private elements grouping reads by tag, with their creators (block 0x10): GE's private
#: image type and series plane, Philips' diffusion b-value, direction and dynamic scan
#: start, Siemens' coil string.
_PRIVATE_TAGS = frozenset(
    {
        0x00190010,
        0x00191017,
        0x00430010,
        0x0043102F,
        0x00510010,
        0x0051100F,
        0x20010010,
        0x20011003,
        0x20011004,
        0x20050010,
        0x200510A0,
    }
)

#: Elements whose presence means the file's full header must be read to group it:
#: (5200,9230) 'Per-Frame Functional Groups Sequence' (enhanced multi-frame).
FULL_HEADER_TAGS = (0x52009230,)

#: What the fast walk is asked for: tag → whether its value bytes are needed.
SCAN_TAGS: dict[int, bool] = {
    **dict.fromkeys(_BY_TAG, True),
    **dict.fromkeys(_PRIVATE_TAGS, True),
    **dict.fromkeys(FULL_HEADER_TAGS, False),
}

_STR_VRS = frozenset({"CS", "UI", "TM", "DA", "LO", "SH"})
_TEXT_VRS = frozenset({"LO", "SH"})
_NUMBERS = {"US": "<H", "SS": "<h", "UL": "<L", "SL": "<l", "FL": "<f", "FD": "<d"}
_DS_CHARS = frozenset("0123456789+-.eE")
#: Longest values PS3.5 Table 6.2-1 allows; pydicom warns about longer ones.
_DS_MAX, _IS_MAX = 16, 12
_MULTI_VALUED = frozenset(
    {
        "ImageType",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "PixelSpacing",
        "SoftwareVersions",
    }
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


def _decode(vr: str, raw: bytes, *, multi: bool) -> Any:
    """The value pydicom gives ``raw`` (PS3.5 6.2 forms pydicom converts unchanged).

    DS and IS need no validator: the forms accepted here are the ones PS3.5 allows.
    ``multi``: several values (backslash-separated) are expected; else they are unsure.
    """
    if not raw:
        return "" if vr in _STR_VRS else None
    if vr in _NUMBERS:
        fmt = _NUMBERS[vr]
        if len(raw) != struct.calcsize(fmt):
            raise _Unsure
        return struct.unpack(fmt, raw)[0]
    if vr in _TEXT_VRS:
        if max(raw) >= 0x80 or b"\x1b" in raw or (b"\\" in raw and not multi):
            raise _Unsure  # another character set, or several values
        for piece in raw.decode("ascii").split("\\"):
            _valid(vr, piece)  # as pydicom validates each value: before stripping
        return convert_text(raw, None, None)
    if vr not in ("DS", "IS", "CS", "UI", "TM", "DA"):
        raise _Unsure
    text = raw.decode("latin-1")
    if vr == "DS":
        text = text.strip()
    elif vr == "UI":
        text = text.rstrip("\0 ")
    items = text.rstrip(" \x00").split("\\")
    if len(items) > 1 and not multi:
        raise _Unsure
    if vr == "DS":
        values: list[Any] = [_ds_piece(t) for t in items]
    elif vr == "IS":
        values = [_is_piece(t) for t in items]
    else:
        values = [_valid(vr, t) for t in items]
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True, slots=True)
class ScannedValues:
    """What :func:`decode_values` made of one file's scanned elements.

    ``values``: keyword → value of the scanned attributes present. ``private``: tag → the
    element as pydicom would give it (None: present, but for pydicom to read).
    """

    values: dict[str, Any]
    private: dict[int, DataElement | None]


def _private_vr(tag: int, vr_bytes: bytes | None, elements: dict[int, Any]) -> str | None:
    """The VR pydicom reads a private element with, when certain (PS3.5 7.8, 6.2.2)."""
    creator_tag = tag >> 16 << 16 | (tag & 0xFFFF) >> 8
    if vr_bytes is not None:
        vr = vr_bytes.decode("latin-1")
        return None if vr == "UN" else vr  # pydicom may replace UN with the private VR
    if tag == creator_tag or (tag & 0xFFFF) < 0x100:
        return "LO"  # a private creator
    creator = elements.get(creator_tag)
    if creator is None or creator[1] is None:
        return None
    try:
        name = _decode("LO", creator[1], multi=False)
        return str(private_dictionary_VR(tag, name))
    except (_Unsure, KeyError):
        return None


def _private_element(
    tag: int, vr_bytes: bytes | None, raw: bytes | None, elements: dict[int, Any]
) -> DataElement | None:
    vr = _private_vr(tag, vr_bytes, elements)
    if vr is None or raw is None:
        return None
    try:
        value = _decode(vr, raw, multi=False)
    except _Unsure:
        return None
    if vr in ("DS", "IS") and value is not None:
        # as pydicom builds them: from the text, which str() of the value keeps
        text = raw.decode("latin-1")
        value = (text.strip() if vr == "DS" else text).rstrip(" \x00")
    return DataElement(tag, vr, value)


def decode_values(
    elements: dict[int, tuple[bytes | None, bytes | None]], *, explicit_vr: bool
) -> ScannedValues | None:
    """The :data:`SCAN_TAGS` present, decoded; None when pydicom must read the file.

    ``elements`` is :attr:`~medbridge.dicom._header.RawHeader.elements` of a walk asked
    for :data:`SCAN_TAGS`. Also None when one of :data:`FULL_HEADER_TAGS` is present, or
    the image is a Siemens mosaic or a UIH grid (its tiles are described in private
    headers).
    """
    values: dict[str, Any] = {}
    private: dict[int, DataElement | None] = {}
    for tag, (vr_bytes, raw) in elements.items():
        if tag in _PRIVATE_TAGS:
            private[tag] = _private_element(tag, vr_bytes, raw, elements)
            continue
        known = _BY_TAG.get(tag)
        if known is None:
            return None  # one of FULL_HEADER_TAGS
        keyword, vr = known
        if raw is None or (explicit_vr and vr_bytes != vr.encode()):
            return None  # undefined length, or a VR other than the dictionary's
        try:
            values[keyword] = _decode(vr, raw, multi=keyword in _MULTI_VALUED)
        except _Unsure:
            return None
    image_type = values.get("ImageType", [])
    if any(str(v).upper() in ("MOSAIC", "VFRAME") for v in image_type):
        return None  # Siemens mosaic, UIH grid: slices described in private headers
    return ScannedValues(values, private)


def _tag_of(key: Any) -> int | None:
    try:
        return int(Tag(key))
    except (TypeError, ValueError, OverflowError):
        return None


class ScannedHeader:
    """One classic image's header as the fast scan read it, answering as a ``Dataset``.

    ``get``, ``in``, ``[...]`` and attribute reads of the scanned attributes (by keyword)
    and private elements (by tag) are answered from the scan; "absent" is certain, since
    the walk saw every top-level element. Anything else goes to the full ``Dataset``,
    parsed by ``load`` on first need (:meth:`dataset`).
    """

    __slots__ = ("_load", "_private", "_values")

    def __init__(self, scanned: ScannedValues, load: Callable[[], Dataset]) -> None:
        self._values = scanned.values
        self._private = scanned.private
        self._load = load

    def dataset(self) -> Dataset:
        """The full header, parsed on first use."""
        return self._load()

    def _scanned_tag(self, key: Any) -> int | None:
        """``key`` as a tag when the scan answers for it (a scanned private element)."""
        tag = _tag_of(key)
        if tag in _PRIVATE_TAGS and self._private.get(tag, False) is not None:
            return tag
        return None

    def get(self, key: Any, default: Any = None) -> Any:
        """As ``Dataset.get``: a value by keyword, a data element by tag."""
        if isinstance(key, str):
            if key in self._values:
                return self._values[key]
            return default if key in SCANNED_KEYWORDS else self._load().get(key, default)
        tag = self._scanned_tag(key)
        if tag is None:
            return self._load().get(key, default)
        found = self._private.get(tag)
        return default if found is None else found

    def __contains__(self, key: Any) -> bool:
        if isinstance(key, str):
            if key in self._values or key in SCANNED_KEYWORDS:
                return key in self._values
            return key in self._load()
        tag = self._scanned_tag(key)
        return tag in self._private if tag is not None else key in self._load()

    def __getitem__(self, key: Any) -> Any:
        tag = None if isinstance(key, str) else self._scanned_tag(key)
        if tag is None:
            return self._load()[key]
        found = self._private.get(tag)
        if found is None:
            raise KeyError(Tag(tag))
        return found

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        if name in SCANNED_KEYWORDS:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return getattr(self._load(), name)

    def __bool__(self) -> bool:
        return True  # a scanned image header always holds elements (Rows, Columns)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"ScannedHeader({len(self._values)} scanned values)"

"""A fast reader for the few header attributes a scan needs.

Scanning a folder of 10,000 instances must not cost a full ``pydicom.dcmread`` per
file: pydicom builds a ``Dataset`` of every element and reads the pixel data, about
1.3 ms a file here. Listing and indexing need ~25 top-level attributes, all of them in
groups 0002–0028, so this module walks the element headers of the two encodings that
nearly every file uses (Explicit and Implicit VR Little Endian, including every
encapsulated syntax), decodes only the wanted values, and then checks the rest of the
file's structure by *seeking* past element values instead of reading them, so a
truncated file is still caught. Anything unusual (Big Endian, Deflate, a VR that does
not parse, a header that disagrees with itself) raises :class:`NeedsFullParse` and the
caller falls back to pydicom, which stays the reference parser.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_description, dictionary_VR

from medbridge.dicom.flat import LONG_LENGTH_VRS
from medbridge.errors import InvalidDicomError, NotDicomError

__all__ = [
    "MAX_SEQUENCE_DEPTH",
    "NeedsFullParse",
    "RawHeader",
    "read_raw_header",
    "read_raw_header_bytes",
    "sniff",
    "tag_label",
]

_CHUNK = 64 * 1024
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_FLOAT_PIXEL_DATA = 0x7FE00008
_DOUBLE_PIXEL_DATA = 0x7FE00009

#: Deepest nesting of sequences read (a top-level sequence's items are level 1).
#: Standard objects nest far less (SR content trees ~10 levels; pydicom proposes 100,
#: fo-dicom 256, as guards); 50 keeps every recursive walker of a dataset (pydicom's
#: reader, writer and medbridge's de-identifier ~5 Python frames a level, a deep copy
#: ~14) inside Python's default recursion limit of 1000, so a file is refused before any
#: walker could overflow.
MAX_SEQUENCE_DEPTH = 50

# Explicit VRs whose length field is 4 bytes after 2 reserved bytes (PS3.5 7.1.2).
_LONG_VRS = frozenset(vr.encode() for vr in LONG_LENGTH_VRS)
_ALL_VRS = _LONG_VRS | frozenset(
    {
        b"AE",
        b"AS",
        b"AT",
        b"CS",
        b"DA",
        b"DS",
        b"DT",
        b"FL",
        b"FD",
        b"IS",
        b"LO",
        b"LT",
        b"PN",
        b"SH",
        b"SL",
        b"SS",
        b"ST",
        b"TM",
        b"UI",
        b"UL",
        b"US",
    }
)

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"

# Top-level attributes a scan keeps: tag -> (field name, how to decode).
# "text" values are decoded with the dataset's Specific Character Set; "ascii" values
# (UI, CS, DA, TM, IS, DS) are plain ASCII by definition; "us" is an unsigned short.
WANTED: dict[int, tuple[str, str]] = {
    0x00080005: ("specific_character_set", "ascii"),
    0x00080008: ("image_type", "ascii"),
    0x00080016: ("sop_class_uid", "ascii"),
    0x00080018: ("sop_instance_uid", "ascii"),
    0x00080020: ("study_date", "ascii"),
    0x00080021: ("series_date", "ascii"),
    0x00080030: ("study_time", "ascii"),
    0x00080031: ("series_time", "ascii"),
    0x00080050: ("accession_number", "text"),
    0x00080060: ("modality", "ascii"),
    0x00081030: ("study_description", "text"),
    0x0008103E: ("series_description", "text"),
    0x00100010: ("patient_name", "text"),
    0x00100020: ("patient_id", "text"),
    0x00100030: ("patient_birth_date", "ascii"),
    0x00100040: ("patient_sex", "ascii"),
    0x0020000D: ("study_instance_uid", "ascii"),
    0x0020000E: ("series_instance_uid", "ascii"),
    0x00200010: ("study_id", "text"),
    0x00200011: ("series_number", "ascii"),
    0x00200013: ("instance_number", "ascii"),
    0x00280002: ("samples_per_pixel", "us"),
    0x00280004: ("photometric_interpretation", "ascii"),
    0x00280008: ("number_of_frames", "ascii"),
    0x00280010: ("rows", "us"),
    0x00280011: ("columns", "us"),
    0x00280100: ("bits_allocated", "us"),
}
_META_WANTED = {
    0x00020002: "media_storage_sop_class_uid",
    0x00020003: "media_storage_sop_instance_uid",
    0x00020010: "transfer_syntax_uid",
}


_DEFAULT_ENCODINGS = ["iso8859"]
_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHI")
_U32 = struct.Struct("<I")


class NeedsFullParse(Exception):
    """The fast path cannot read this file; pydicom must (not an error by itself).

    ``deflated_at`` is where a Deflated Explicit VR Little Endian data set's deflate
    stream starts, so a reader can bound what it inflates to before pydicom inflates it.
    """

    def __init__(self, reason: str, *, deflated_at: int | None = None) -> None:
        super().__init__(reason)
        self.deflated_at = deflated_at


@dataclass(slots=True)
class RawHeader:
    """What the fast walk found: decoded wanted values and where the pixels are.

    ``elements`` holds the top-level elements asked for as ``extra``, undecoded:
    tag → (VR as written, or None in Implicit VR; the value bytes, or None when only
    the element's presence was asked for or its length is undefined).
    """

    values: dict[str, object]
    has_preamble: bool
    has_meta: bool
    transfer_syntax_uid: str
    pixel_data_offset: int | None
    pixel_data_length: int | None
    elements: dict[int, tuple[bytes | None, bytes | None]] = field(default_factory=dict)


def tag_label(tag: int) -> str:
    """``(0010,0010) 'Patient's Name'``, the way pydicom names attributes in messages."""
    try:
        name = dictionary_description(tag)
    except KeyError:
        name = "Private tag" if (tag >> 16) % 2 else "Unknown tag"
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X}) '{name}'"


class _Source:
    """Random access to a file through one window, refilled only when a read leaves it."""

    def __init__(self, fp: BinaryIO, size: int) -> None:
        self.fp = fp
        self.size = size
        self.start = 0
        self.buf = fp.read(_CHUNK)

    def get(self, pos: int, n: int) -> bytes:
        """Return exactly ``n`` bytes at ``pos``, or fewer if the file ends first."""
        end = self.start + len(self.buf)
        if pos >= self.start and pos + n <= end:
            off = pos - self.start
            return self.buf[off : off + n]
        self.fp.seek(pos)
        self.buf = self.fp.read(max(n, _CHUNK))
        self.start = pos
        return self.buf[:n]


class _Walker:
    """Walks element headers in one little-endian encoding."""

    def __init__(self, src: _Source, explicit: bool) -> None:
        self.src = src
        self.explicit = explicit
        self.first = -1  # where the data set's first element is, once known

    def header(self, pos: int) -> tuple[int, bytes | None, int, int]:
        """(tag, vr, value length, header length) of the element at ``pos``."""
        raw = self.src.get(pos, 12)
        if len(raw) < 8:
            raise _Truncated(pos, None)
        group, elem = struct.unpack_from("<HH", raw)
        tag = group << 16 | elem
        if group == 0xFFFE or not self.explicit:
            return tag, None, struct.unpack_from("<I", raw, 4)[0], 8
        vr = raw[4:6]
        if vr in _LONG_VRS:
            if len(raw) < 12:
                raise _Truncated(pos, tag)
            return tag, vr, struct.unpack_from("<I", raw, 8)[0], 12
        if vr not in _ALL_VRS:
            raise _unknown_vr(tag, vr, pos == self.first)
        return tag, vr, struct.unpack_from("<H", raw, 6)[0], 8

    def skip_sequence(
        self, pos: int, length: int, *, implicit_items: bool = False, fragments: bool = False
    ) -> int:
        """Position after the sequence (or encapsulated) value at ``pos`` of ``length``.

        Every nested item is walked, iteratively, with a stack instead of recursion: a
        file whose items nest thousands of levels deep must be refused with a reason,
        not exhaust the interpreter's stack (issue 13). Each length is checked against
        what holds it (item, sequence, file) before it is believed, and nesting deeper
        than :data:`MAX_SEQUENCE_DEPTH` is refused. ``implicit_items`` is for UN of
        undefined length, whose items are always Implicit VR Little Endian (PS3.5 6.2.2
        note); ``fragments`` for encapsulated pixel data, whose items are fragments of
        a codestream, skipped by length.

        Raises
        ------
        InvalidDicomError
            Nesting too deep, an item or element longer than what holds it, or a
            sequence holding something other than items.
        """
        size = self.src.size
        end = None if length == _UNDEFINED else pos + length
        if end is not None and end > size:
            raise _Truncated(pos, None)
        # (kind, end position or None for undefined length, explicit VR)
        stack: list[tuple[int, int | None, bool]] = [
            (
                _IN_FRAGMENTS if fragments else _IN_SEQUENCE,
                end,
                self.explicit and not implicit_items,
            )
        ]
        depth = 1
        while stack:
            kind, end, expl = stack[-1]
            if end is not None and pos >= end:
                if pos > end:
                    raise InvalidDicomError(
                        f"an element near byte {pos} runs past the end of the "
                        f"{'item' if kind == _IN_ITEM else 'sequence'} that holds it"
                    )
                stack.pop()
                depth -= kind != _IN_ITEM
                continue
            if kind != _IN_ITEM:
                before = len(stack)
                pos = self._item(pos, kind, end, expl, stack)
                depth -= len(stack) < before  # the sequence delimiter ended it
                continue
            tag, vr, value_length, hlen = self.nested_header(pos, expl)
            pos += hlen
            if tag == _ITEM_END:
                stack.pop()
                continue
            limit = size if end is None else end
            if _holds_items(self.src, tag, vr, value_length, pos, expl):
                if depth >= MAX_SEQUENCE_DEPTH:
                    raise _TooDeep(
                        f"sequences nested more than {MAX_SEQUENCE_DEPTH} levels deep "
                        f"(at byte {pos}); no DICOM object nests so deep, so the file "
                        "is refused rather than read"
                    )
                seq_end = None if value_length == _UNDEFINED else pos + value_length
                if seq_end is not None and seq_end > limit:
                    raise _Truncated(pos - hlen, tag)
                encapsulated = _encapsulated(tag, vr, value_length)
                stack.append(
                    (_IN_FRAGMENTS if encapsulated else _IN_SEQUENCE, seq_end, expl and vr != b"UN")
                )
                depth += 1
                continue
            pos += value_length
            if pos > limit:
                raise _Truncated(pos - value_length - hlen, tag)
        return pos

    def _item(
        self,
        pos: int,
        kind: int,
        end: int | None,
        expl: bool,
        stack: list[tuple[int, int | None, bool]],
    ) -> int:
        """Read one item header of the sequence on top of ``stack``; push or pop."""
        raw = self.src.get(pos, 8)
        if len(raw) < 8:
            raise _Truncated(pos, None)
        group, elem, item_length = struct.unpack_from("<HHI", raw)
        tag = group << 16 | elem
        if tag == _SEQ_END:
            stack.pop()
            return pos + 8
        if tag != _ITEM:
            raise InvalidDicomError(
                f"a sequence holds {tag_label(tag)} near byte {pos} where only items "
                "(FFFE,E000) may be"
            )
        pos += 8
        if item_length == _UNDEFINED:
            if kind == _IN_FRAGMENTS:
                raise InvalidDicomError(f"a pixel data fragment near byte {pos - 8} has no length")
            stack.append((_IN_ITEM, None, expl))
            return pos
        item_end: int = pos + item_length
        if kind == _IN_FRAGMENTS:
            if item_end > self.src.size:
                raise _Truncated(pos - 8, _PIXEL_DATA)
            return item_end
        # An item claiming more than its sequence (or the file) holds is read up to
        # there, as pydicom reads it; what it holds is still checked element by element.
        item_end = min(item_end, self.src.size if end is None else end)
        stack.append((_IN_ITEM, item_end, expl))
        return pos

    def nested_header(self, pos: int, explicit: bool) -> tuple[int, bytes | None, int, int]:
        """(tag, vr, value length, header length) of an element inside an item.

        An item written in Implicit VR inside an Explicit VR file (some vendors do so in
        private sequences) is read as implicit, as pydicom does when the two bytes
        where the VR belongs are not a VR.
        """
        raw = self.src.get(pos, 12)
        if len(raw) < 8:
            raise _Truncated(pos, None)
        group, elem = struct.unpack_from("<HH", raw)
        tag = group << 16 | elem
        vr = raw[4:6]
        if group == 0xFFFE or not explicit or vr not in _ALL_VRS:
            return tag, None, struct.unpack_from("<I", raw, 4)[0], 8
        if vr in _LONG_VRS:
            if len(raw) < 12:
                raise _Truncated(pos, tag)
            return tag, vr, struct.unpack_from("<I", raw, 8)[0], 12
        return tag, vr, struct.unpack_from("<H", raw, 6)[0], 8


@functools.lru_cache(maxsize=4096)
def _dictionary_sequence(tag: int) -> bool | None:
    """Whether pydicom's dictionary makes ``tag`` a sequence; None for tags it lacks."""
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return None


_ITEM_BYTES = b"\xfe\xff\x00\xe0"
_IN_SEQUENCE, _IN_FRAGMENTS, _IN_ITEM = 0, 1, 2
_ENCAPSULATED_VRS = frozenset({b"OB", b"OW"})


def _encapsulated(tag: int, vr: bytes | None, length: int) -> bool:
    """Whether an undefined-length value holds pixel data fragments, not datasets."""
    if length != _UNDEFINED:
        return False
    if tag in (_PIXEL_DATA, _FLOAT_PIXEL_DATA, _DOUBLE_PIXEL_DATA):
        return True
    return vr in _ENCAPSULATED_VRS


def _holds_items(
    src: _Source, tag: int, vr: bytes | None, length: int, pos: int, explicit: bool
) -> bool:
    """Whether the value at ``pos`` is read as items (a sequence, encapsulated data).

    As pydicom decides: the VR SQ; an undefined length; in Implicit VR (and for UN) a
    tag its dictionary names a sequence, or, for tags it does not know, a value that
    starts with an item tag.
    """
    if vr == b"SQ" or length == _UNDEFINED:
        return True
    if explicit and vr != b"UN":
        return False
    known = _dictionary_sequence(tag)
    if known is not None:
        return known
    return length >= 8 and src.get(pos, 4) == _ITEM_BYTES


def _unknown_vr(tag: int, vr: bytes, first: bool) -> Exception:
    """What two bytes that are no VR mean: implicit VR data (first element), or damage.

    A data set written in Implicit VR under an Explicit VR transfer syntax shows it at
    its first element, and pydicom reads it so; past the first element, an Explicit VR
    data set does not change encoding, so the file is damaged there.
    """
    if first:
        return NeedsFullParse(f"unexpected VR {vr!r} in {tag_label(tag)}")
    return InvalidDicomError(
        f"{tag_label(tag)} has the VR {vr.decode('latin-1')!r}, which is no DICOM VR: "
        "the file is damaged there"
    )


class _TooDeep(InvalidDicomError):
    """Sequences nest deeper than :data:`MAX_SEQUENCE_DEPTH`."""


class _Truncated(Exception):
    def __init__(self, pos: int, tag: int | None) -> None:
        self.pos = pos
        self.tag = tag


def _decode(raw: bytes, how: str, encodings: list[str]) -> object:
    if how == "us":
        return struct.unpack_from("<H", raw)[0] if len(raw) >= 2 else None
    if how == "text" and encodings != _DEFAULT_ENCODINGS:
        with warnings.catch_warnings():  # pydicom warns on bytes it cannot map, then replaces
            warnings.simplefilter("ignore")
            text = decode_bytes(raw, encodings, {0x5C, 0x5E, 0x3D})
    elif how == "text":
        text = raw.decode("latin-1")
    else:
        text = raw.decode("ascii", "replace")
    return text.rstrip("\x00 ").lstrip(" ")


def sniff(path: str | os.PathLike[str]) -> None:
    """Raise InvalidDicomError unless the file starts the way DICOM files start."""
    with open(path, "rb") as fp:
        head = fp.read(140)
    try:
        _find_meta_start(head)
    except NeedsFullParse:
        pass
    except InvalidDicomError as exc:
        raise type(exc)(exc.reason, path=path) from None


def _find_meta_start(head: bytes) -> tuple[bool, bool, int]:
    """(has_preamble, has_meta, offset of the first element) from the first bytes."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True, True, 132
    if len(head) < 8:
        raise NotDicomError(
            f"not a DICOM file: only {len(head)} bytes" if head else "empty file (0 bytes)"
        )
    group, elem = struct.unpack_from("<HH", head)
    if group == 0x0002 and head[4:6] in _ALL_VRS:
        return False, True, 0
    if group == 0x0008 and elem <= 0x0018:
        if head[4:6] in _ALL_VRS:
            return False, False, 0
        length = struct.unpack_from("<I", head, 4)[0]
        if length < 0x10000:
            return False, False, 0
    if struct.unpack_from(">H", head)[0] in (0x0002, 0x0008):
        raise NeedsFullParse("big endian without preamble")
    raise NotDicomError(
        "not a DICOM file: no 'DICM' marker at byte 128 and it does not start with a DICOM element"
    )


def read_raw_header(
    path: str | os.PathLike[str], extra: Mapping[int, bool] | None = None
) -> RawHeader:
    """Read the wanted attributes of one file and check that its elements fit in it.

    ``extra`` names more top-level elements to return undecoded in
    :attr:`RawHeader.elements`: tag → whether its value bytes are wanted (False:
    only whether it is there, so a large sequence is skipped, never read).

    Raises
    ------
    InvalidDicomError
        The file is not DICOM, or its structure is broken (truncated, lengths past
        the end of the file); the message says where.
    NeedsFullParse
        The file may be fine but uses an encoding this fast path leaves to pydicom.
    OSError
        The file cannot be opened or read.
    """
    with open(path, "rb", buffering=0) as fp:
        return _read(fp, os.fstat(fp.fileno()).st_size, WANTED, extra or {})


def read_raw_header_bytes(data: bytes, wanted: Mapping[int, tuple[str, str]] = WANTED) -> RawHeader:
    """`read_raw_header` of Part 10 bytes in memory (a C-STORE as received).

    `wanted` maps top-level tags to (field name, decoding: "ascii", "text" or "us"), as
    `WANTED` does for a scan; other callers (the archive's index) want other attributes.

    Raises
    ------
    InvalidDicomError, NeedsFullParse
        As `read_raw_header`.
    """
    return _read(io.BytesIO(data), len(data), wanted, {})


def _read(
    fp: BinaryIO, size: int, wanted: Mapping[int, tuple[str, str]], extra: Mapping[int, bool]
) -> RawHeader:
    src = _Source(fp, size)
    has_preamble, has_meta, pos = _find_meta_start(src.buf[:140])
    try:
        return _walk(src, has_preamble, has_meta, pos, wanted, extra)
    except _Truncated as exc:
        where = f"in {tag_label(exc.tag)}" if exc.tag is not None else "in an element header"
        raise InvalidDicomError(
            f"truncated: the file ends at byte {size} {where} starting near byte {exc.pos}"
        ) from None


def _walk(
    src: _Source,
    has_preamble: bool,
    has_meta: bool,
    pos: int,
    wanted: Mapping[int, tuple[str, str]],
    extra: Mapping[int, bool],
) -> RawHeader:
    values: dict[str, object] = {}
    elements: dict[int, tuple[bytes | None, bytes | None]] = {}
    last_wanted = max(wanted)
    ts = IMPLICIT_VR_LE
    if has_meta:
        meta = _Walker(src, explicit=True)
        while True:
            raw = src.get(pos, 2)
            if len(raw) < 2 or struct.unpack_from("<H", raw)[0] != 0x0002:
                break
            tag, _, length, hlen = meta.header(pos)
            if length == _UNDEFINED or pos + hlen + length > src.size:
                raise _Truncated(pos, tag)
            if tag in _META_WANTED:
                values[_META_WANTED[tag]] = _decode(src.get(pos + hlen, length), "ascii", [])
            pos += hlen + length
        ts = str(values.get("transfer_syntax_uid") or "")
        if not ts:
            raise NeedsFullParse("no (0002,0010) 'Transfer Syntax UID'")
    else:
        head = src.get(pos, 6)
        ts = EXPLICIT_VR_LE if head[4:6] in _ALL_VRS else IMPLICIT_VR_LE
    if ts in (DEFLATED_LE, EXPLICIT_VR_BE) or ts.startswith("1.2.840.10008.1.2.2."):
        raise NeedsFullParse(
            f"transfer syntax {ts}", deflated_at=pos if ts == DEFLATED_LE else None
        )
    explicit = ts != IMPLICIT_VR_LE
    walker = _Walker(src, explicit=explicit)
    walker.first = pos
    encodings = _DEFAULT_ENCODINGS
    pixel_offset: int | None = None
    pixel_length: int | None = None
    size = src.size
    buf, start = src.buf, src.start
    while pos < size:
        off = pos - start
        if off < 0 or off + 12 > len(buf):  # leaving the window: let the walker refill it
            tag, vr, length, hlen = walker.header(pos)
            buf, start = src.buf, src.start
        elif explicit:
            group, elem, vr, length = _EXPLICIT.unpack_from(buf, off)
            tag = group << 16 | elem
            if group == 0xFFFE:
                vr, length, hlen = None, _U32.unpack_from(buf, off + 4)[0], 8
            elif vr in _LONG_VRS:
                length, hlen = _U32.unpack_from(buf, off + 8)[0], 12
            elif vr in _ALL_VRS:
                hlen = 8
            else:
                raise _unknown_vr(tag, vr, pos == walker.first)
        else:
            group, elem, length = _IMPLICIT.unpack_from(buf, off)
            tag, vr, hlen = group << 16 | elem, None, 8
        value_pos = pos + hlen
        if tag <= last_wanted and tag in wanted and length != _UNDEFINED:
            if value_pos + length > size:
                raise _Truncated(pos, tag)
            name, how = wanted[tag]
            voff = value_pos - start
            raw = (
                buf[voff : voff + length]
                if voff + length <= len(buf)
                else src.get(value_pos, length)
            )
            values[name] = _decode(raw, how, encodings)
            if tag == 0x00080005:
                encodings = _encodings(str(values[name]))
        if extra and tag in extra:
            if length != _UNDEFINED and value_pos + length > size:
                raise _Truncated(pos, tag)
            keep = extra[tag] and length != _UNDEFINED
            elements[tag] = (vr, bytes(src.get(value_pos, length)) if keep else None)
            buf, start = src.buf, src.start
        if tag >= _FLOAT_PIXEL_DATA and tag in (_PIXEL_DATA, _FLOAT_PIXEL_DATA, _DOUBLE_PIXEL_DATA):
            pixel_offset, pixel_length = value_pos, length
        if tag == 0xFFFCFFFC:  # Data Set Trailing Padding: meaningless, even when cut short
            break
        if tag >> 16 != 0xFFFE and _holds_items(src, tag, vr, length, value_pos, explicit):
            pos = _skip_value(walker, tag, vr, length, value_pos, explicit)
            buf, start = src.buf, src.start
        else:
            pos = value_pos + length
        if pos > size:
            raise _Truncated(value_pos - hlen, tag)
    return RawHeader(
        values=values,
        has_preamble=has_preamble,
        has_meta=has_meta,
        transfer_syntax_uid=ts,
        pixel_data_offset=pixel_offset,
        pixel_data_length=pixel_length,
        elements=elements,
    )


def _skip_value(
    walker: _Walker, tag: int, vr: bytes | None, length: int, pos: int, explicit: bool
) -> int:
    """Position after a top-level value read as items, every nested item checked.

    A value only guessed to hold items (an unknown private tag in Implicit VR whose
    value starts with an item tag; UN the dictionary calls a sequence) that does not
    parse as items is taken as opaque bytes, as pydicom then takes it; nesting too deep
    is refused either way.
    """
    sure = vr == b"SQ" or length == _UNDEFINED or (not explicit and _dictionary_sequence(tag))
    try:
        return walker.skip_sequence(
            pos,
            length,
            implicit_items=vr == b"UN",
            fragments=_encapsulated(tag, vr, length),
        )
    except _TooDeep:
        raise
    except (InvalidDicomError, _Truncated):
        if sure:
            raise
        return pos + length


def _encodings(charset: str) -> list[str]:
    terms = [t.strip() for t in charset.split("\\")] or [""]
    if not terms[0]:
        terms[0] = "ISO_IR 6"
    with warnings.catch_warnings():  # an unknown term makes pydicom warn; we fall back
        warnings.simplefilter("ignore")
        try:
            return list(convert_encodings(terms))
        except (LookupError, ValueError):  # garbage terms (damaged files): Latin-1 then
            return _DEFAULT_ENCODINGS

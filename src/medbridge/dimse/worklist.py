"""Modality Worklist C-FIND SCP (PS3.4 K): the archive's scheduled steps to a modality.

`medbridge.dimse.handlers.handle_find` hands requests on the MWL information model
here. Matching and answers are `medbridge.archive.worklist.Worklist.find`; this module
checks the caller may query the worklist (``services`` of its ``[aes.NAME]``) and turns
the outcome into C-FIND statuses (PS3.4 K.4.1.1.4 and C.4.1.1.4):

======  =============================================================
0xFF00  pending: one more scheduled step
0x0000  success: no more steps
0x0124  refused: the calling AE may not query the worklist
0xA900  identifier does not match SOP class (a malformed matching key)
0xC310  unable to process: the identifier does not decode
0xFE00  cancelled (C-CANCEL)
======  =============================================================
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode
from pynetdicom.events import Event

from medbridge.archive import Archive
from medbridge.archive.worklist import Worklist
from medbridge.dicom.flat import LONG_LENGTH_VRS, NotFlat, encode_flat
from medbridge.dimse._direct import DirectResponder
from medbridge.errors import ArchiveError
from medbridge.server.config import ServerConfig

__all__ = ["MODALITY_WORKLIST_FIND", "calling_title", "encode_answer", "handle_worklist_find"]

LOGGER = logging.getLogger(__name__)

#: Modality Worklist Information Model - FIND (PS3.4 K.6.1.3).
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"


def calling_title(event: Event) -> str:
    """The calling AE title of the event's association, stripped."""
    return str(event.assoc.requestor.ae_title or "").strip()


def handle_worklist_find(
    event: Event, archive: Archive, config: ServerConfig
) -> Iterator[tuple[int, Dataset | None]]:
    """C-FIND SCP on the Modality Worklist model: one pending response per step."""
    title = calling_title(event)
    peer = f"{title}@{event.assoc.requestor.address}"
    if not config.may(title, "worklist"):
        LOGGER.error("MWL C-FIND from %s refused: not allowed the worklist service", peer)
        yield 0x0124, None
        return
    try:
        identifier = event.identifier
    except Exception as exc:  # a damaged identifier fails to decode
        LOGGER.error("MWL C-FIND from %s: cannot decode identifier: %s", peer, exc)
        yield 0xC310, None
        return
    try:
        answers = list(Worklist(archive.index).find(identifier))
    except ArchiveError as exc:
        LOGGER.error("MWL C-FIND from %s refused: %s", peer, exc)
        yield 0xA900, None
        return
    LOGGER.info("MWL C-FIND from %s: %d scheduled steps", peer, len(answers))
    direct = DirectResponder.for_event(event)
    try:
        for found in answers:
            if event.is_cancelled:
                if direct is not None:
                    direct.flush()
                yield 0xFE00, None
                return
            if direct is not None:  # as handle_find does: past pynetdicom's stack
                encoded = _encode(found, explicit_vr=direct.explicit_vr)
                if encoded is not None and direct.fits(encoded):
                    direct.pending(encoded)
                    continue
                direct.flush()
            yield 0xFF00, found
        if direct is not None:
            direct.flush()
    except OSError as exc:
        LOGGER.error("MWL C-FIND from %s: connection lost: %s", peer, exc)


_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def _header(tag: int, vr: str, length: int, *, explicit_vr: bool) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if not explicit_vr:
        return struct.pack("<HHI", group, element, length)
    if vr in LONG_LENGTH_VRS:
        return struct.pack("<HH2s2xI", group, element, vr.encode(), length)
    return struct.pack("<HH2sH", group, element, vr.encode(), length)


def encode_answer(ds: Dataset, *, explicit_vr: bool) -> bytes:
    """An MWL answer in Implicit or Explicit VR Little Endian, without pydicom's writer.

    The answer's elements are the stored item's raw elements (`Worklist.find` copies
    them undecoded), empty keys and sequences of such items, so each element is its
    stored value bytes behind a new header; sequences and items get undefined lengths
    (PS3.5 7.5.2). Anything else raises `NotFlat` (the caller then uses pydicom).
    """
    parts: list[bytes] = []
    for tag in sorted(ds.keys()):
        elem = ds.get_item(tag)
        vr = str(elem.VR or "")
        if vr == "SQ":
            items = ds[tag].value or []
            parts.append(_header(int(tag), "SQ", 0xFFFFFFFF, explicit_vr=explicit_vr))
            for item in items:
                parts += (_ITEM, encode_answer(item, explicit_vr=explicit_vr), _ITEM_END)
            parts.append(_SEQUENCE_END)
        elif isinstance(elem, RawDataElement):
            if elem.is_implicit_VR or not elem.is_little_endian or not vr or len(vr) != 2:
                raise NotFlat(f"{tag}: stored in another encoding")
            value = bytes(elem.value or b"")
            if len(value) % 2 or (not explicit_vr and vr == "UN"):
                raise NotFlat(f"{tag}: odd length")
            if explicit_vr and vr not in LONG_LENGTH_VRS and len(value) > 0xFFFF:
                raise NotFlat(f"{tag}: too long for its VR")
            parts += (_header(int(tag), vr, len(value), explicit_vr=explicit_vr), value)
        else:
            parts.append(encode_flat([(int(tag), vr, elem.value)], explicit_vr=explicit_vr))
    return b"".join(parts)


def _encode(ds: Dataset, *, explicit_vr: bool) -> bytes | None:
    """`encode_answer`, else pydicom's writer (None if even that fails)."""
    try:
        return encode_answer(ds, explicit_vr=explicit_vr)
    except NotFlat:
        return encode(ds, not explicit_vr, True, False)

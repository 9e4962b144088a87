"""Resolving compound actions and making dummy values (PS3.15 Table E.1-1 legend).

A compound action names alternatives in order of strictness: ``X/Z`` removes unless the
IOD needs the attribute present (Type 2: then empty it), ``X/D`` and ``Z/D`` fall back to
a dummy value when the IOD needs a value (Type 1), ``X/Z/D`` has all three, and
``X/Z/U*`` keeps a reference sequence with its UIDs replaced. medbridge does not carry
PS3.3's module tables; it knows the few cases where a compound attribute is Type 1 or 2 in
IODs met in practice, recognised from the dataset itself (a module's presence is its
evidence), and otherwise takes the strictest alternative, as PS3.15 E.1.1 asks when
conformance cannot be judged.

``X/Z/U*`` resolves to ``U``: the sequences it marks (Referenced Image Sequence, Source
Image Sequence) hold only references, which the U action makes safe, and keeping them
keeps derived images and localizers linked, which the referential-integrity promise of
medbridge needs.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

__all__ = ["dummy_value", "required_type", "resolve"]

_SHARED_FG = 0x52009229
_PER_FRAME_FG = 0x52009230
_CONTENT_SEQUENCE = 0x0040A730

# Type 1 in the Multi-frame Functional Groups Module (PS3.3 C.7.6.16: Content Date and
# Time), the Enhanced MR/CT Image Modules (Acquisition DateTime, 1C) and the Enhanced
# General Equipment Module (C.7.5.2: Device Serial Number).
_TYPE1_MULTIFRAME = frozenset({0x00080023, 0x00080033, 0x0008002A, 0x00181000})
# Type 2 in the Acquisition Context Module (PS3.3 C.7.6.14: Acquisition Context
# Sequence), mandatory in the enhanced (functional group) image IODs.
_TYPE2_MULTIFRAME = frozenset({0x00400555})
# Type 1 in the SR Document General Module (PS3.3 C.17.2: Content Date and Time).
_TYPE1_SR = frozenset({0x00080023, 0x00080033})


def required_type(tag: int, top: Dataset) -> int | None:
    """How the IOD of ``top`` requires ``tag``: 1, 2, or None when not known to be required.

    Parameters
    ----------
    tag:
        The attribute, at the top level of the dataset.
    top:
        The top-level dataset, whose modules show its IOD.
    """
    multiframe = _SHARED_FG in top or _PER_FRAME_FG in top
    if tag in _TYPE1_MULTIFRAME and multiframe:
        return 1
    if tag in _TYPE2_MULTIFRAME and multiframe:
        return 2
    if tag in _TYPE1_SR and _CONTENT_SEQUENCE in top:
        return 1
    return None


def resolve(action: str, required: int | None) -> str:
    """Pick one alternative of a compound action.

    Parameters
    ----------
    action:
        A Table E.1-1 action, simple or compound.
    required:
        What the IOD needs (see :func:`required_type`); None for "not required" or
        "not known", which both take the strictest alternative.
    """
    if "/" not in action:
        return action
    if action == "X/Z/U*":
        return "U"
    choices = action.split("/")
    if required == 1:
        return "D" if "D" in choices else choices[-1]
    if required == 2:
        return "Z" if "Z" in choices else choices[-1]
    return choices[0]


_DUMMY_TEXT = {
    "PN": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "AE": "ANONYMIZED",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    "UR": "ANONYMIZED",
}
# Byte strings: two zero bytes, the shortest even-length value (an Encapsulated Document
# replaced so: the IOD needs one, Type 1, and the patient's report must not stay).
_DUMMY_BYTES = {"OB": b"\x00\x00", "OW": b"\x00\x00", "UN": b"\x00\x00"}


def dummy_value(vr: str) -> object:
    """A non-identifying value valid for ``vr`` (action D), or None to empty the element.

    Numeric VRs have no meaningful dummy; they are emptied instead, which is the Z
    action, the closest valid choice.
    """
    return _DUMMY_TEXT.get(vr, _DUMMY_BYTES.get(vr))

"""Apply the Basic Application Level Confidentiality Profile to one dataset.

:func:`deidentify` walks every element of a dataset and of every item of every sequence,
looks each attribute up in Table E.1-1 (compiled for the policy's options, see
:mod:`medbridge.deid.table`) and applies its action. Attributes the table does not list
are kept, as the profile allows (PS3.15 E.1.1), with safeguards for values that name a
person, a place or an instance wherever they sit: private attributes are removed unless
kept as safe (E.3.10), instance UIDs are remapped (U), dates and times follow the
policy's date handling (E.3.6), and person names, URLs (which name hosts and carry
UIDs) and attributes of unknown meaning (VR UN: newer than pydicom's dictionary, or
unreadable) are removed. Finally the dataset is marked as de-identified (E.1.1 step 4)
and its File Meta Information made consistent.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.charset import encode_string
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from medbridge.deid._actions import dummy_value, required_type, resolve
from medbridge.deid._jpeg import strip_jpeg_text
from medbridge.deid.dates import date_offset_days, shift_da, shift_dt
from medbridge.deid.pixels import blank_regions
from medbridge.deid.policy import BASIC_PROFILE_CODE, Option, Policy
from medbridge.deid.private import (
    clean_identity,
    clean_private_bytes,
    holds_identity,
    is_safe_private,
)
from medbridge.deid.table import Profile, load_table, profile_for
from medbridge.deid.uids import is_well_known, remap_uid
from medbridge.dicom.part10 import meta_values
from medbridge.errors import DeidentificationError

__all__ = ["deidentify", "patient_pseudonym", "require_file_meta"]

_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_BURNED_IN = 0x00280301
_TEXT_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC", "AE"})
# Not listed in Table E.1-1, yet removed: person names, URLs, values of unknown meaning.
_REMOVED_VRS = frozenset({"PN", "UR", "UN"})
_NEEDLE_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC", "DA", "DT", "UI"})
_NESTED_NEEDLE_VRS = frozenset({"PN", "LO", "SH", "LT", "ST", "UT", "UC"})
# binary numbers cannot spell a name; comparing them with text would only corrupt them
_NUMERIC_VRS = frozenset({"FL", "FD", "SL", "SS", "SV", "UL", "US", "UV", "AT"})
_MIN_NEEDLE = 4
_ISO_2022_ESCAPE = re.compile(rb"\x1b[$()*+\-./][()]?[@-~]")
_IMPLEMENTATION_VERSION = "MEDBRIDGE_010"
_ZERO_PREAMBLE = b"\x00" * 128
CLEANED_NOTE = "cleaned safe private"
"""How a note about identity overwritten inside a kept private element starts."""
# UIDs that name a kind of thing, not an instance: a vendor's private SOP class (Siemens
# CSA Non-Image, 1.3.12.2.1107.5.9.1) must stay what it is, like the standard's ones.
_CLASS_UIDS = frozenset(
    {
        0x00080016,  # SOP Class UID
        0x0008001A,  # Related General SOP Class UID
        0x0008001B,  # Original Specialized SOP Class UID
        0x00081150,  # Referenced SOP Class UID
        0x0008010C,  # Coding Scheme UID
        0x00080117,  # Context UID
        0x00041510,  # Referenced SOP Class UID in File
        0x00041512,  # Referenced Transfer Syntax UID in File
    }
)


def patient_pseudonym(patient_id: str, key: bytes) -> str:
    """The Patient ID and Patient's Name written for ``patient_id`` under ``key``.

    Table E.1-1 gives both attributes Z, which allows "a dummy value consistent with the
    VR"; a keyed pseudonym is such a value and lets a recipient group one patient's
    studies without learning who it is.
    """
    digest = hmac.new(key, b"patient:" + patient_id.encode("utf-8"), hashlib.sha256)
    return "MB" + digest.hexdigest()[:14].upper()


@dataclass
class _Context:
    """What the walk needs besides the element at hand; built once per dataset."""

    policy: Policy
    profile: Profile
    top: Dataset
    patient_key: str
    _offset: int | None = None
    _needles: tuple[str, ...] | None = None
    _needle_bytes: tuple[bytes, ...] | None = None
    _pattern: re.Pattern[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def day_offset(self) -> int:
        if self._offset is None:
            self._offset = date_offset_days(self.patient_key, self.policy.key)
        return self._offset

    @property
    def needles(self) -> tuple[str, ...]:
        """Identifying values of the dataset, longest first (see :func:`_identity_values`)."""
        if self._needles is None:
            self._needles = _identity_values(self.top, self.profile, self.policy)
        return self._needles

    @property
    def needle_bytes(self) -> tuple[bytes, ...]:
        """The identifying values as a file may store them, longest first.

        Each value in UTF-8, in the dataset's own character set (ISO-IR 100, ISO 2022
        escapes, ...) and in Latin-1: a vendor header copies names in whichever the
        scanner used, so a name found in only one spelling would slip through.
        """
        if self._needle_bytes is None:
            encodings = list(self.top._character_set)
            found: set[bytes] = set()
            for needle in self.needles:
                found.add(needle.encode("utf-8", "replace"))
                found.add(needle.encode("latin-1", "ignore"))
                try:
                    encoded = encode_string(needle, encodings)
                except (LookupError, UnicodeError):
                    continue
                found.add(encoded)
                found.add(_ISO_2022_ESCAPE.sub(b"", encoded))  # as copied without escapes
            found = {n for n in found if len(n) >= _MIN_NEEDLE}
            self._needle_bytes = tuple(sorted(found, key=len, reverse=True))
        return self._needle_bytes

    def blank(self, text: str) -> str:
        """Overwrite every identifying value in ``text`` with as many ``X``."""
        for needle in self.needles:
            text = text.replace(needle, "X" * len(needle))
        return text

    def scrub(self, text: str) -> str:
        """Cut every identifying value of the dataset out of ``text`` (action C)."""
        if not self.needles:
            return text
        if self._pattern is None:
            self._pattern = re.compile("|".join(map(re.escape, self.needles)), re.IGNORECASE)
        return self._pattern.sub("", text)


@functools.cache
def _descriptor_tags() -> frozenset[int]:
    return frozenset(
        t
        for r in load_table()
        if Option.CLEAN_DESCRIPTORS in r.options
        if (t := r.tag_int) is not None
    )


def _identity_values(top: Dataset, profile: Profile, policy: Policy) -> tuple[str, ...]:
    """Values in ``top`` that identify the patient, a person, a place or an instance.

    They are the values of attributes that the policy does not keep (names, IDs, dates,
    addresses, UIDs), leaving out the descriptions that the Clean Descriptors Option
    exists to keep: every such value at the top level, and the names, IDs and text of
    every sequence item below it (Other Patient IDs Sequence, a verifying observer's
    name), but not their dates and UIDs, which only repeat per frame what the top level
    says. Person names also count by component. Values shorter than 4 characters (2
    when not ASCII) are left out: they would match by chance.
    """
    descriptors = _descriptor_tags()
    found: set[str] = set()
    stack: list[tuple[Dataset, frozenset[str]]] = [(top, _NEEDLE_VRS)]
    while stack:
        ds, wanted = stack.pop()
        for tag in list(ds.keys()):
            if (tag >> 16) & 1 or tag in descriptors:
                continue
            raw = ds.get_item(tag)
            if raw is None:
                continue
            vr = _vr_of(raw, tag)
            if vr == "SQ":
                stack.extend((item, _NESTED_NEEDLE_VRS) for item in ds[tag].value)
                continue
            if vr not in wanted:
                continue
            action = profile.action(tag) or _default_action(tag, vr, policy)
            if action == "K" or (action == "C" and vr in _TEXT_VRS):
                continue  # kept, or text to be cleaned rather than identity itself
            value = ds[tag].value
            values: Iterable[object] = value if isinstance(value, (list, MultiValue)) else [value]
            for item in values:
                text = str(item if item is not None else "").strip("\x00 ")
                if vr == "UI" and is_well_known(text):
                    continue
                parts = [text]
                if vr == "PN":
                    parts += re.split(r"[\\^=]", text)
                found.update(p.strip() for p in parts if _long_enough(p.strip()))
    return tuple(sorted(found, key=len, reverse=True))


def _long_enough(text: str) -> bool:
    """Whether ``text`` is long enough not to match by chance: 4 characters, or 2 that
    are not ASCII (a Chinese, Japanese or Korean name often has two)."""
    return len(text) >= _MIN_NEEDLE or (len(text) >= 2 and not text.isascii())


def _vr_of(raw: DataElement | RawDataElement, tag: int) -> str:
    vr = raw.VR
    if vr is None or vr == "UN":
        try:
            return str(dictionary_VR(tag))
        except KeyError:
            return "UN"
    return str(vr)


def _default_action(tag: int, vr: str, policy: Policy) -> str:
    """The action for an attribute Table E.1-1 does not list (see the module docstring).

    Times go with dates: removed by the Basic Profile, kept by both Retain Longitudinal
    options (a shift moves whole days, so a time of day stays as it is).
    """
    if vr == "SQ":
        return "K"
    if vr == "UI":
        return "K" if policy.retain_uids or tag in _CLASS_UIDS else "U"
    if vr in ("DA", "DT", "TM"):
        return {"remove": "X", "keep": "K", "shift": "C"}[policy.dates]
    if vr in _REMOVED_VRS:
        return "X"
    return "K"


def _set_value(ds: Dataset, tag: int, vr: str, value: object) -> None:
    ds[tag] = DataElement(tag, vr, value)


def _map_values(value: object, fn: object) -> object:
    assert callable(fn)
    if isinstance(value, (list, MultiValue)):
        return [fn(str(v)) for v in value]
    return fn(str(value)) if value is not None else value


def _walk(ds: Dataset, ctx: _Context, *, top: bool, dummy: bool, clean_text: bool) -> None:
    """Apply the profile to every element of ``ds`` and, recursively, of its sequences."""
    policy = ctx.policy
    private: list[int] = []
    overlay_groups_removed: set[int] = set()
    for tag in list(ds.keys()):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 or group in (0x0000, 0x0002):
            del ds[tag]  # group lengths go stale; command and meta groups do not belong
            continue
        if group & 1:
            private.append(tag)
            continue
        if group in overlay_groups_removed:
            continue  # removed with its group below
        raw = ds.get_item(tag)
        if raw is None:
            continue
        vr = _vr_of(raw, tag)
        action = ctx.profile.action(tag)
        if action is None:
            action = _default_action(tag, vr, policy)
            if dummy and action in ("K", "C") and vr not in ("SQ", "UI"):
                action = "D"
            elif (clean_text or 0x6000 <= group <= 0x601E) and action == "K" and vr in _TEXT_VRS:
                action = "C"  # structured content, or a kept overlay's description and label
        elif "/" in action:
            action = resolve(action, required_type(tag, ctx.top) if top else None)
        if action == "C" and vr == "UN":
            action = "X"  # a value that cannot be parsed cannot be cleaned
        if 0x6000 <= group <= 0x601E and element == 0x3000 and action == "X":
            # an overlay without its data is not an overlay: drop the whole group
            overlay_groups_removed.add(group)
            for other in [t for t in list(ds.keys()) if t >> 16 == group]:
                del ds[other]
            continue
        _apply(ds, tag, vr, action, ctx, dummy=dummy, clean_text=clean_text)
    _private(ds, private, ctx)


def _apply(
    ds: Dataset, tag: int, vr: str, action: str, ctx: _Context, *, dummy: bool, clean_text: bool
) -> None:
    """Carry out one simple action on one element."""
    if action == "X":
        del ds[tag]
        return
    if vr == "SQ":
        if action == "Z":
            ds[tag].value = Sequence()
            return
        struct = clean_text or (action == "C")
        for item in ds[tag].value:
            _walk(item, ctx, top=False, dummy=dummy or action == "D", clean_text=struct)
        return
    if action == "K":
        return
    elem = ds[tag]
    if action == "U" or vr == "UI":
        key = ctx.policy.key
        elem.value = _map_values(elem.value, lambda u: remap_uid(u, key))
        return
    if action == "Z":
        if tag in (_PATIENT_ID, _PATIENT_NAME):
            elem.value = patient_pseudonym(ctx.patient_key, ctx.policy.key)
        else:
            elem.value = empty_value_for_VR(vr)
        return
    if action == "D":
        dummy_val = dummy_value(vr)
        elem.value = dummy_val if dummy_val is not None else empty_value_for_VR(vr)
        return
    # action C: shift dates, clean text, keep the rest (graphics kept as drawn)
    if vr == "DA" and ctx.policy.dates == "shift":
        days = ctx.day_offset
        elem.value = _map_values(elem.value, lambda v: shift_da(v, days))
    elif vr == "DT" and ctx.policy.dates == "shift":
        days = ctx.day_offset
        elem.value = _map_values(elem.value, lambda v: shift_dt(v, days))
    elif vr in ("DA", "DT"):
        elem.value = empty_value_for_VR(vr)
    elif vr in _TEXT_VRS and elem.value is not None:
        elem.value = _map_values(elem.value, ctx.scrub)


def _private(ds: Dataset, tags: list[int], ctx: _Context) -> None:
    """Remove private attributes; under Retain Safe Private keep and clean the safe ones.

    See :mod:`medbridge.deid.private`: Table E.1-1 gives the option action C, so a safe
    element holding an identifying value of the dataset is cleaned, not dropped.
    """
    if not tags:
        return
    kept: set[int] = set()
    if ctx.policy.retain_safe_private:
        for tag in tags:
            if (tag & 0xFFFF) < 0x1000 or not is_safe_private(ds, tag):
                continue
            raw = ds.get_item(tag)
            if raw is not None and _vr_of(raw, tag) == "SQ":
                # a vendor's private items hold standard and private elements alike
                for item in ds[tag].value:
                    _walk(item, ctx, top=False, dummy=False, clean_text=False)
                kept.add(tag)
                continue
            if raw is None or _vr_of(raw, tag) in _NUMERIC_VRS or _cleaned(ds, tag, raw, ctx):
                kept.add(tag)
        kept |= {((t >> 16) << 16) | ((t & 0xFFFF) >> 8) for t in kept}
    for tag in tags:
        if tag not in kept:
            del ds[tag]


def _cleaned(ds: Dataset, tag: int, raw: DataElement | RawDataElement, ctx: _Context) -> bool:
    """Clean one kept private value in place; False when it cannot be cleaned (drop it).

    Identifying values of the dataset are overwritten wherever they occur; binary values
    are also cleaned of other instances' UIDs and of a CSA header's patient items
    (:func:`~medbridge.deid.private.clean_private_bytes`).
    """
    needles = ctx.needle_bytes
    value = raw.value
    data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
    holds = holds_identity(data, needles)
    if not holds and not isinstance(value, bytes):
        return True
    elem = ds[tag]
    if not isinstance(elem.value, bytes):
        if holds:
            elem.value = _map_values(elem.value, ctx.blank)
            ctx.notes.append(f"{CLEANED_NOTE} {tag:08X}: it held an identifying value")
        return True
    cleaned = clean_private_bytes(clean_identity(elem.value, needles))
    if cleaned is None:
        ctx.notes.append(f"removed safe private {tag:08X}: its patient items cannot be found")
        return False
    if cleaned != elem.value:
        elem.value = cleaned
        ctx.notes.append(f"{CLEANED_NOTE} {tag:08X}: it held an identifying value")
    return True


def _check_burned_in(ds: Dataset, policy: Policy) -> None:
    value = ds.get(_BURNED_IN)
    flag = str(value.value).strip().upper() if value is not None else ""
    if flag == "YES" and not policy.pixel_mask:
        raise DeidentificationError(
            "(0028,0301) 'Burned In Annotation' is YES: the pixels may show identity; "
            "give the region(s) to blank (--mask x,y,width,height) or leave the image out"
        )


def _mark(ds: Dataset, policy: Policy) -> None:
    """Record what was done (PS3.15 E.1.1 step 4, E.3.6)."""
    options = policy.options
    codes = [BASIC_PROFILE_CODE] + [(o.code, o.meaning) for o in sorted(options, key=_code)]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = ["medbridge PS3.15 Annex E"] + [m for _, m in codes]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = {
        "remove": "REMOVED",
        "keep": "UNMODIFIED",
        "shift": "MODIFIED",
    }[policy.dates]
    if policy.pixel_mask and _BURNED_IN in ds:
        ds.BurnedInAnnotation = "NO"


def _code(option: Option) -> str:
    return option.code


def _update_file_meta(ds: Dataset, key: bytes) -> None:
    """Make the File Meta Information name the new instance and nothing else (PS3.10 7.1).

    A file read without a complete File Meta group gets one built from the data set
    (:func:`medbridge.dicom.part10.meta_values`); a SOP Instance UID found only in the
    old group is remapped like every other. What is nowhere is left out: a data set
    built in memory may lack it, and :func:`require_file_meta` refuses to write it.
    """
    sop_class, sop_instance, syntax = meta_values(ds)
    if "SOPInstanceUID" not in ds and sop_instance:
        sop_instance = remap_uid(sop_instance, key)
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    if sop_class:
        meta.MediaStorageSOPClassUID = UID(sop_class)
    if sop_instance:
        meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    ds.file_meta = meta
    ds.preamble = _ZERO_PREAMBLE  # a vendor preamble (TIFF header, ...) may name anyone


def require_file_meta(ds: Dataset) -> None:
    """Refuse to write a de-identified data set that no DICOM file can hold.

    Raises
    ------
    DeidentificationError
        Neither the data set nor its File Meta Information names the SOP class or
        instance (PS3.10 7.1 requires both), so the file could not say what it holds.
    """
    meta = getattr(ds, "file_meta", None)
    missing = [
        label
        for label, keyword in (
            ("(0008,0016) 'SOP Class UID'", "MediaStorageSOPClassUID"),
            ("(0008,0018) 'SOP Instance UID'", "MediaStorageSOPInstanceUID"),
        )
        if meta is None or not str(meta.get(keyword, "") or "").strip("\x00 ")
    ]
    if missing:
        raise DeidentificationError(
            f"no {' or '.join(missing)} in the data set or its File Meta Information: "
            "not an instance a DICOM file can hold (PS3.10 7.1); add the UIDs (for example "
            "with DCMTK's dcmodify) to de-identify it"
        )


def _patient_key(ds: Dataset) -> str:
    """What identifies the patient for pseudonyms and date offsets.

    Patient ID when present; else Patient's Name; else the Study Instance UID, so that a
    dataset without either still gets one consistent offset per study.
    """
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID"):
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            return f"{keyword}={value}"
    return ""


def deidentify(
    dataset: Dataset, policy: Policy, *, in_place: bool = False, notes: list[str] | None = None
) -> Dataset:
    """De-identify ``dataset`` per PS3.15 Annex E under ``policy``.

    Parameters
    ----------
    dataset:
        The dataset, as read by pydicom (File Meta Information included when present).
    policy:
        The options and key (:class:`~medbridge.deid.policy.Policy`).
    in_place:
        Change ``dataset`` itself instead of a deep copy: faster, for callers that
        discard the original (the file runner does).
    notes:
        When given, receives one line per decision worth reporting (a safe private
        element removed because it held identity).

    Returns
    -------
    Dataset
        The de-identified dataset, marked with (0012,0062) 'Patient Identity Removed',
        (0012,0063) 'De-identification Method' and (0012,0064) 'De-identification Method
        Code Sequence', with its File Meta Information naming the new SOP Instance UID.

    Raises
    ------
    DeidentificationError
        When the image has burned-in annotation and the policy gives no pixel mask; the
        input is left unchanged.
    """
    _check_burned_in(dataset, policy)
    try:
        ds = dataset if in_place else copy.deepcopy(dataset)
    except RecursionError:  # a data set built in memory, deeper than any file is read
        raise DeidentificationError(
            "sequences nested too deep to copy; de-identify in place (in_place=True)"
        ) from None
    ctx = _Context(
        policy=policy,
        profile=profile_for(policy.options),
        top=ds,
        patient_key=_patient_key(ds),
    )
    if policy.options:  # any option may clean (C), which needs the values before the walk
        ctx.needles  # noqa: B018 - gather identity before the walk changes the values
    if policy.pixel_mask:
        blank_regions(ds, policy.pixel_mask)
    _walk(ds, ctx, top=True, dummy=False, clean_text=False)
    removed = strip_jpeg_text(ds, meta_values(ds)[2])
    if removed:
        ctx.notes.append(f"removed {removed} JPEG COM/APPn segment(s): text beside the image")
    _mark(ds, policy)
    _update_file_meta(ds, policy.key)
    if notes is not None:
        notes.extend(ctx.notes)
    return ds

"""Private attributes: removed, or kept by private creator under Retain Safe Private.

The Basic Profile removes every private attribute (odd group; Table E.1-1 row
"(gggg,eeee) where gggg is odd", action X). The Retain Safe Private Option (PS3.15 E.3.10)
keeps private attributes "known to be safe from identity leakage"; medbridge's list
(``data/safe_private.csv``) holds only what conversion reads and whose content is numbers,
codes, sequence names or the scanner's protocol: Siemens CSA headers and their XA
successors, Philips scaling, timing, diffusion and stack fields, GE timing, shim,
acceleration and diffusion fields, UIH diffusion fields. What conversion reads but may
carry identity that cannot be checked is listed apart, with its reason
(``data/private_not_kept.csv``), and removed. An element is found by its private creator
and element byte, never by its block, because a vendor may place its block anywhere in
(gggg,0010-00FF) (PS3.5 7.8.1).

Safety is also checked per dataset, as the option's action C ("clean") asks: every
identifying value of the dataset found inside a kept value (a Siemens CSA header repeats
the study date and the scanner's serial number) is overwritten in place with as many
``X`` bytes, so the vendor structure and its lengths stay intact (:func:`clean_identity`).
Two kinds of identity no value of the dataset spells are cleaned from kept binary values
too (:func:`clean_private_bytes`): the original UIDs of other instances (the localizers a
Siemens protocol was planned on) and the patient's weight, age and sex that a Siemens CSA
series header repeats.
"""

from __future__ import annotations

import csv
import functools
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from pydicom.dataset import Dataset

from medbridge.deid.uids import is_well_known

__all__ = [
    "PrivateRule",
    "clean_identity",
    "clean_private_bytes",
    "holds_identity",
    "is_safe_private",
    "not_kept_private_rules",
    "safe_private_rules",
]


@dataclass(frozen=True, slots=True)
class PrivateRule:
    """One private element that conversion reads: kept under Retain Safe Private (the safe
    list), or removed all the same (the not-kept list).

    Attributes
    ----------
    creator:
        The private creator string, e.g. ``"SIEMENS CSA HEADER"``.
    group:
        The odd group, e.g. ``0x0029``.
    element:
        The low byte of the element, e.g. ``0x10`` for (0029,xx10).
    vr, name, why:
        As pydicom's private dictionary names it, and what conversion reads from it (for
        a not-kept element: why it may hold identity, and what conversion does without it).
    """

    creator: str
    group: int
    element: int
    vr: str
    name: str
    why: str


def _read_rules(name: str) -> tuple[PrivateRule, ...]:
    path = resources.files("medbridge.deid").joinpath(f"data/{name}")
    return tuple(
        PrivateRule(
            creator=row["creator"],
            group=int(row["group"], 16),
            element=int(row["element"], 16),
            vr=row["vr"],
            name=row["name"],
            why=row["why"],
        )
        for row in csv.DictReader(path.read_text(encoding="utf-8").splitlines())
    )


@functools.cache
def safe_private_rules() -> tuple[PrivateRule, ...]:
    """Read the safe private list from the package data."""
    return _read_rules("safe_private.csv")


@functools.cache
def not_kept_private_rules() -> tuple[PrivateRule, ...]:
    """The private elements conversion reads that Retain Safe Private still removes.

    Each may carry identity that the per-dataset check cannot see (compressed text, dates
    in a vendor's own notation); its ``why`` says so and what conversion does without it.
    Together with :func:`safe_private_rules` it accounts for every private element the
    converter reads (checked by ``tests/deid/test_private_reads.py``).
    """
    return _read_rules("private_not_kept.csv")


@functools.cache
def _safe_keys() -> frozenset[tuple[str, int, int]]:
    return frozenset((r.creator, r.group, r.element) for r in safe_private_rules())


def is_safe_private(ds: Dataset, tag: int) -> bool:
    """Whether private data element ``tag`` of ``ds`` is on the safe list.

    Private creator elements themselves, (gggg,0010-00FF), are not judged here: they are
    kept exactly when one of their block's elements is.
    """
    group, element = tag >> 16, tag & 0xFFFF
    block = element >> 8
    if block < 0x10:
        return False
    creator_elem = ds.get((group << 16) | block)
    if creator_elem is None or not isinstance(creator_elem.value, str):
        return False
    creator = creator_elem.value.strip()
    return (creator, group, element & 0xFF) in _safe_keys()


def holds_identity(value: bytes, needles: Iterable[bytes]) -> bool:
    """Whether any identifying value (encoded as in the file) occurs in ``value``."""
    return any(needle in value for needle in needles)


def clean_identity(value: bytes, needles: Iterable[bytes]) -> bytes:
    """``value`` with every identifying value overwritten by as many ``X`` bytes.

    ``needles`` should come longest first, so a value containing another is cleaned
    whole.
    """
    for needle in needles:
        if needle in value:
            value = value.replace(needle, b"X" * len(needle))
    return value


#: A UID inside a vendor's value: five or more dot-separated numbers, a shape no
#: measurement, version or code in the kept values takes.
_UID = re.compile(rb"(?<![0-9.])[0-9]+(?:\.[0-9]+){4,}(?![0-9.])")

#: Siemens CSA series header items repeating the patient's characteristics, which the
#: Basic Profile removes from (0010,1010) Age, (0010,1030) Weight and (0010,0040) Sex:
#: 'UsedPatientWeight' (kg) and 'PatReinPattern' ("1;HFS;<weight>;<age>;<sex>;...").
_CSA_PATIENT_ITEMS = frozenset({b"UsedPatientWeight", b"PatReinPattern"})


def _blank_uid(match: re.Match[bytes]) -> bytes:
    uid = match.group()
    return uid if is_well_known(uid.decode("ascii")) else b"X" * len(uid)


def _csa_patient_items_emptied(value: bytes) -> bytes | None:
    """A CSA2 header (``SV10``) with the patient items' text set to NUL bytes, so each
    reads as empty; None when the header cannot be walked to its end."""
    out = bytearray(value)
    try:
        (n_tags,) = struct.unpack_from("<I", value, 8)
        pos = 16
        for _ in range(n_tags):
            name = value[pos : pos + 64].split(b"\0", 1)[0]
            (n_items,) = struct.unpack_from("<i", value, pos + 76)
            pos += 84
            for _ in range(n_items):
                length = struct.unpack_from("<4i", value, pos)[1]
                pos += 16
                if length < 0 or pos + length > len(value):
                    return None
                if name in _CSA_PATIENT_ITEMS:
                    out[pos : pos + length] = bytes(length)
                pos += (length + 3) // 4 * 4
    except struct.error:
        return None
    return bytes(out)


def clean_private_bytes(value: bytes) -> bytes | None:
    """A kept binary private value cleaned of identity no value of its dataset spells.

    - Every UID but the standard's (SOP classes) is overwritten with as many ``X``: a
      Siemens protocol (ASCCONV) names the localizers it was planned on by their
      original SOP Instance UIDs (``tReferenceImage0``), which link back to the source
      archive and, in Siemens' form, spell the scanner's serial number and the time.
    - In a Siemens CSA header (``SV10``) the items holding the patient's weight, age and
      sex are emptied in place (conversion reads none of them).

    Lengths never change, so the vendor structure stays intact. Returns None when the
    value names those CSA items but cannot be walked as a CSA header (truncated, or the
    older CSA1 layout): such a value cannot be cleaned and must not be kept.
    """
    value = _UID.sub(_blank_uid, value)
    if not any(name in value for name in _CSA_PATIENT_ITEMS):
        return value
    if value[:4] != b"SV10":
        return None
    return _csa_patient_items_emptied(value)

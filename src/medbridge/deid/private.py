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
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from pydicom.dataset import Dataset

__all__ = [
    "PrivateRule",
    "clean_identity",
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

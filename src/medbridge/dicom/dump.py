"""A readable listing of one DICOM file, in the spirit of DCMTK's ``dcmdump``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID

from medbridge.dicom._read import read_dataset

__all__ = ["DumpLine", "dump", "dump_file"]

_MAX_TEXT = 72
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
_DEFER = 64 * 1024  # larger values stay on disk; their length is enough to list them


@dataclass(frozen=True, slots=True)
class DumpLine:
    """One listed element: where it sits, what it is, and its value as text."""

    depth: int
    tag: str
    vr: str
    name: str
    value: str

    def __str__(self) -> str:
        indent = "  " * self.depth
        return f"{indent}{self.tag} {self.vr:2} {self.name:<40} {self.value}"


def dump_file(path: str | os.PathLike[str]) -> Iterator[DumpLine]:
    """List the File Meta Information and data set of the file at ``path``.

    Values over 64 KiB (pixel data, big private blobs) are not read; their length is
    shown instead, so listing a 2 GB multi-frame file costs no more than a small one.

    Raises
    ------
    InvalidDicomError
        The file cannot be parsed as DICOM at all.
    """
    path = os.fspath(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_dataset(path, defer_size=_DEFER)
    meta = getattr(ds, "file_meta", None)
    if meta:
        yield from dump(meta)
    yield from dump(ds)


def dump(ds: Dataset, depth: int = 0) -> Iterator[DumpLine]:
    """List every element of ``ds``, and of every sequence item, in file order.

    Walks with a stack, not recursion, so a data set built in memory however deep
    (files are bounded when read) is listed, not a ``RecursionError``.
    """
    stack: list[Iterator[DumpLine | tuple[Dataset, int]]] = [_lines(ds, depth)]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif isinstance(entry, DumpLine):
            yield entry
        else:
            stack.append(_lines(*entry))


def _lines(ds: Dataset, depth: int) -> Iterator[DumpLine | tuple[Dataset, int]]:
    """The lines of ``ds``'s own elements; an item to list is yielded as (item, depth)."""
    for tag in ds.keys():  # noqa: SIM118 (iterating a Dataset yields elements, not tags)
        raw = ds.get_item(tag, keep_deferred=True)  # a deferred value is listed, not read
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length:
            vr = raw.VR or "??"
            yield DumpLine(depth, _tag(tag), vr, _name_of_tag(ds, tag), f"<{raw.length} bytes>")
            continue
        try:
            elem = ds[tag]
        except Exception as exc:  # a value pydicom cannot convert is shown, not fatal
            yield DumpLine(depth, _tag(tag), "??", "(unreadable)", f"<{exc}>")
            continue
        yield DumpLine(depth, _tag(tag), elem.VR, _name(elem), _value(elem))
        if elem.VR == "SQ":
            for number, item in enumerate(elem.value, start=1):
                yield DumpLine(depth + 1, "(FFFE,E000)", "na", f"Item {number}", "")
                yield (item, depth + 2)


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _name(elem: DataElement) -> str:
    if elem.tag.is_private:
        creator = elem.private_creator
        if 0x0010 <= elem.tag.element <= 0x00FF:
            return "Private Creator"
        label = elem.name.strip("[]") if elem.name != "Private tag data" else "Private tag data"
        return f"{label} [{creator}]" if creator else label
    return elem.keyword or elem.name


def _name_of_tag(ds: Dataset, tag: int) -> str:
    try:
        return _name(ds[tag]) if not ((tag >> 16) % 2) else "Private tag data"
    except Exception:
        return pydicom.datadict.keyword_for_tag(tag) or "Unknown"


def _value(elem: DataElement) -> str:
    value = elem.value
    if elem.VR == "SQ":
        return f"({len(value)} item{'s' if len(value) != 1 else ''})"
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if elem.VR == "UI":
        uid = UID(str(value))
        return f"[{uid}]" + (f" = {uid.name}" if uid.is_valid and uid.name != str(uid) else "")
    text = "\\".join(str(v) for v in value) if elem.VM > 1 else str(value)
    if len(text) > _MAX_TEXT:
        text = f"{text[:_MAX_TEXT]}... ({len(text)} chars)"
    return text if elem.VR in _NUMERIC_VRS else f"[{text}]"

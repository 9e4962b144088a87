"""Which private elements a piece of code reads, recorded where every read happens.

The converter reads vendor elements in many ways: through a creator lookup, by a fixed
tag such as (2005,10A0), through pydicom's ``private_block``, in nested vendor items. A
scan of its source for tags would miss some and break on any new way of spelling one;
instead :func:`recording` watches pydicom's :class:`~pydicom.dataset.Dataset` itself
(``ds[tag]``, ``ds.get(tag)``, ``ds.get_item(tag)``) while real code runs on real files,
and names each private element read by the creator that the read dataset gives its block,
so the record has the form of ``safe_private.csv``: (creator, group, element byte).

Iterating over a dataset (as flattening an enhanced frame copies every element) reads no
element in particular and is not recorded; nor are pydicom's own reads inside an access
(converting a raw element), nor creator elements (gggg,0010-00FF), nor elements of a
block that has no creator in the read dataset (nothing could keep them).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

__all__ = ["PrivateRead", "recording"]


@dataclass(frozen=True, order=True)
class PrivateRead:
    """A private element as the safe list names it: creator, odd group, element byte."""

    creator: str
    group: int
    element: int

    def __str__(self) -> str:
        return f"({self.group:04X},xx{self.element:02X}) {self.creator!r}"


_state = threading.local()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Reads made inside this block (pydicom's own, the recorder's) are not recorded."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _private_read(ds: Dataset, key: Any, getitem: Any) -> PrivateRead | None:
    if getattr(_state, "depth", 0) or isinstance(key, slice | str):
        return None
    try:
        tag = key if isinstance(key, BaseTag) else Tag(key)
    except (TypeError, ValueError, OverflowError):
        return None
    if not tag.group & 1 or tag.element < 0x1000:
        return None
    creator_tag = Tag(tag.group, tag.element >> 8)
    if creator_tag not in ds._dict:
        return None
    with _quiet():
        creator = getitem(ds, creator_tag).value
    if isinstance(creator, bytes):
        creator = creator.decode("latin-1")
    return PrivateRead(str(creator).strip(), tag.group, tag.element & 0xFF)


@contextlib.contextmanager
def recording() -> Iterator[set[PrivateRead]]:
    """Record every private element read from any dataset while the block runs.

    Yields the set the reads are added to. Datasets stay real pydicom datasets: the
    accesses are only watched, their results unchanged.
    """
    reads: set[PrivateRead] = set()
    getitem, get_item, iterate = Dataset.__getitem__, Dataset.get_item, Dataset.__iter__

    def watched_getitem(self: Dataset, key: Any) -> Any:
        found = _private_read(self, key, getitem)
        if found is not None:
            reads.add(found)
        with _quiet():
            return getitem(self, key)

    def watched_get_item(self: Dataset, key: Any, *args: Any, **kwargs: Any) -> Any:
        found = _private_read(self, key, getitem)
        if found is not None:
            reads.add(found)
        with _quiet():
            return get_item(self, key, *args, **kwargs)

    def quiet_iterate(self: Dataset) -> Iterator[Any]:
        elements = iterate(self)
        while True:
            with _quiet():
                elem = next(elements, None)
            if elem is None:
                return
            yield elem

    Dataset.__getitem__ = watched_getitem  # type: ignore[assignment,method-assign]
    Dataset.get_item = watched_get_item  # type: ignore[assignment,method-assign]
    Dataset.__iter__ = quiet_iterate  # type: ignore[method-assign]
    try:
        yield reads
    finally:
        Dataset.__getitem__ = getitem  # type: ignore[method-assign]
        Dataset.get_item = get_item  # type: ignore[method-assign]
        Dataset.__iter__ = iterate  # type: ignore[method-assign]

"""What a sidecar is built from: one output's headers, parsed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag

from medbridge.convert._group import OutputGroup
from medbridge.volume._csa import csa_header, parse_ascconv
from medbridge.volume._frames import frame_dataset
from medbridge.volume._stack import StackPlan

__all__ = ["OutputContext", "flatten_frame"]

_PHILIPS_PER_FRAME = (0x2005, 0x140F)
_SIEMENS_XA_CREATOR = "SIEMENS MR SDS 01"


def _private_value(ds: Dataset, group: int, creator: str, element: int) -> Any:
    """A private element's value found through its creator, or None."""
    try:
        block = ds.private_block(group, creator)
    except KeyError:
        return None
    elem = ds.get(block.get_tag(element))
    return None if elem is None else elem.value


def _merge(target: Dataset, item: Dataset, depth: int) -> None:
    for elem in item:
        if elem.tag.is_private_creator:
            continue
        if elem.VR == "SQ":
            if depth > 0 and elem.value and elem.tag != _PHILIPS_PER_FRAME:
                _merge(target, elem.value[0], depth - 1)
            continue
        if elem.tag.is_private:
            _merge_private(target, item, elem)
        elif elem.tag not in target:
            target.add(elem)


def _merge_private(target: Dataset, item: Dataset, elem: DataElement) -> None:
    """Add a private element under its own creator's block in ``target``.

    Private blocks are reserved per dataset (PS3.5 7.8.1): an item's (2005,0010) may name
    another creator than the top level's, or the top level may have none (de-identified
    data keeps only the safe elements of nested items). Copying the tag as is would file
    the value under whatever creator the top level has for that block.
    """
    group, element = elem.tag.group, elem.tag.element
    creator = item.get(Tag(group, element >> 8))
    if element < 0x1000 or creator is None or not isinstance(creator.value, str):
        return
    block = target.private_block(group, creator.value.strip(), create=True)
    tag = block.get_tag(element & 0xFF)
    if tag not in target:
        target.add(DataElement(tag, elem.VR, elem.value))


def flatten_frame(ds: Dataset, index: int) -> Dataset:
    """One frame of an enhanced image as a flat dataset (first occurrence of a keyword wins).

    Order: the frame's per-frame functional groups, the shared functional groups, the top
    level, then Philips' private per-frame item (2005,140F), which repeats classic
    attributes (scanning sequence, echo number) that the enhanced IOD moved or dropped.
    Functional groups come before the top level because they describe the frame itself
    (Philips keeps a rounded (0018,0095) 'Pixel Bandwidth' at the top level and the exact
    one in MR Imaging Modifier), and dcm2niix, reading the file in order, keeps the later,
    functional-group value.
    """
    flat = Dataset()
    flat.file_meta = getattr(ds, "file_meta", FileMetaDataset())
    per_frame = ds.PerFrameFunctionalGroupsSequence[index]
    _merge(flat, per_frame, 3)
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        _merge(flat, shared[0], 3)
    for elem in ds:
        if elem.tag not in flat and elem.keyword not in (
            "PerFrameFunctionalGroupsSequence",
            "SharedFunctionalGroupsSequence",
        ):
            flat.add(elem)
    private = per_frame.get(_PHILIPS_PER_FRAME)
    if private is not None and private.value:
        _merge(flat, private.value[0], 0)
    return flat


@dataclass
class OutputContext:
    """One output image's source: its group, its stack plan and the first header.

    Vendor modules read from here; expensive parses (CSA headers, the Siemens ASCCONV
    protocol) are done once, on first use.
    """

    group: OutputGroup
    plan: StackPlan
    provenance: dict[str, str] = field(default_factory=dict)

    @cached_property
    def ds(self) -> Dataset:
        """Header of the instance holding the first frame of the first volume.

        For an enhanced multi-frame instance this is a flattened view: the top level,
        then that frame's functional groups, then the shared ones, then Philips' private
        per-frame item, so (0018,0080) 'Repetition Time' is found wherever the IOD put it.
        """
        first = self.plan.frames[0][0]
        frames = self.plan.frames[0]
        numbered = all("InstanceNumber" in f.info.get("instance", ()) for f in frames)
        if first.info.get("frame_index") is None and (numbered or len(self.plan.frames) > 1):
            # dcm2niix reads series-level values (e.g. acquisition time) from the first
            # instance in acquisition order, not from the first slice in space; a single
            # volume without instance numbers it sorts by position: its lowest slice.
            first = min(frames, key=lambda f: f.order)
        source = frame_dataset(first.info)
        if source is None:
            return self.group.ds
        index = first.info.get("frame_index")
        if index is None or "PerFrameFunctionalGroupsSequence" not in source:
            return source
        return flatten_frame(source, int(index))

    @cached_property
    def csa_image(self) -> dict[str, list[Any]]:
        """Siemens CSA image header of the first instance (empty if none)."""
        return csa_header(self.ds, "image")

    @cached_property
    def csa_series(self) -> dict[str, list[Any]]:
        """Siemens CSA series header of the first instance (empty if none)."""
        return csa_header(self.ds, "series")

    @cached_property
    def ascconv(self) -> dict[str, Any]:
        """The Siemens protocol (ASCCONV block), from the CSA series header or (0021,1019)."""
        text = self.csa_series.get("MrPhoenixProtocol") or self.csa_series.get("MrProtocol")
        if text:
            return parse_ascconv(str(text[0]))
        # Siemens XA: (0021,1019) at the top level or in the shared groups' (0021,10FE) item.
        candidates = [self.ds]
        shared = self.ds.get("SharedFunctionalGroupsSequence")
        if shared:
            private = shared[0].get((0x0021, 0x10FE))
            if private is not None and private.value:
                candidates.append(private.value[0])
        for item in candidates:
            value = _private_value(item, 0x0021, _SIEMENS_XA_CREATOR, 0x19)
            if isinstance(value, bytes | str):
                raw = value.decode("latin-1") if isinstance(value, bytes) else value
                if "ASCCONV" in raw:
                    return parse_ascconv(raw)
        return {}

    @property
    def n_slices(self) -> int:
        """Slices per volume."""
        return len(self.plan.frames[0])

    @property
    def n_volumes(self) -> int:
        """Volumes in the output."""
        return len(self.plan.frames)

"""What a sidecar is built from: one output's headers, parsed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._group import OutputGroup
from medbridge.volume._csa import csa_header, parse_ascconv
from medbridge.volume._stack import StackPlan

__all__ = ["OutputContext"]


@dataclass
class OutputContext:
    """One output image's source: its group, its stack plan and the first header.

    Vendor modules read from here; expensive parses (CSA headers, the Siemens ASCCONV
    protocol) are done once, on first use.
    """

    group: OutputGroup
    plan: StackPlan
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def ds(self) -> Dataset:
        """Header of the instance holding the first frame of the first volume."""
        first = self.plan.frames[0][0]
        source = first.info.get("instance")
        if isinstance(source, Dataset):
            return source
        return self.group.ds

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
        for tag in ((0x0021, 0x1019),):
            elem = self.ds.get(tag)
            if elem is not None and isinstance(elem.value, bytes | str):
                raw = elem.value.decode("latin-1") if isinstance(elem.value, bytes) else elem.value
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

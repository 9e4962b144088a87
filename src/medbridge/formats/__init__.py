"""Research image formats: read and write a :class:`~medbridge.volume.Volume` by file name.

Each format is a module with one contract (``EXTENSIONS``, ``sniff(head)``,
``read(path)``, ``write(volume, path)``), listed in :data:`REGISTRY` in priority order
and imported on first use, as nibabel's ``imageclasses`` and pydicom's plugins are.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from medbridge.errors import MedbridgeError
from medbridge.volume import Volume

__all__ = ["REGISTRY", "format_for", "read", "write"]

#: ``(label, module)`` in priority order.
REGISTRY: list[tuple[str, str]] = [
    ("nifti", "medbridge.formats.nifti"),
]


def _modules() -> list[tuple[str, ModuleType]]:
    return [(label, importlib.import_module(name)) for label, name in REGISTRY]


def format_for(path: str | os.PathLike[str], *, head: bytes | None = None) -> ModuleType:
    """The format module for ``path``: by extension, confirmed by sniffing when bytes are given."""
    name = os.fspath(path).lower()
    for _label, module in _modules():
        if any(name.endswith(ext) for ext in module.EXTENSIONS) and (
            head is None or module.sniff(head)
        ):
            return module
    raise MedbridgeError(f"{os.fspath(path)}: no known format for this file name")


def read(path: str | os.PathLike[str]) -> Volume:
    """Read any supported format, choosing by extension and checking the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(548)
    volume: Volume = format_for(path, head=head).read(path)
    return volume


def write(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write a Volume in the format named by ``path``'s extension."""
    format_for(path).write(volume, path)

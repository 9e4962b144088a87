"""Research image formats: read and write a :class:`~medbridge.volume.Volume` by file name.

Each format is a module with one contract (``EXTENSIONS``, ``sniff(head)``,
``read(path)``, ``write(volume, path)``), listed in :data:`REGISTRY` in priority order
and imported on first use, as nibabel's ``imageclasses`` and pydicom's plugins are.
The extension chooses the format and the first bytes confirm it, so a truncated or
misnamed file is reported as such instead of failing deep inside a reader; a format
name given by the caller overrides the extension.
"""

from __future__ import annotations

import importlib
import os
import typing
from types import ModuleType

from medbridge import errors

if typing.TYPE_CHECKING:
    from medbridge.volume import Volume

__all__ = ["REGISTRY", "detect", "format_for", "format_named", "read", "write"]

#: ``(label, module)`` in priority order.
REGISTRY: list[tuple[str, str]] = [
    ("nifti", "medbridge.formats.nifti"),
    ("nrrd", "medbridge.formats.nrrd"),
    ("metaimage", "medbridge.formats.metaimage"),
    ("analyze", "medbridge.formats.analyze"),
    ("mgh", "medbridge.formats.mgh"),
    ("minc", "medbridge.formats.minc"),
]

_HEAD_BYTES = 548
#: Formats read whatever the file is called (nibabel's loaders insist on extensions).
_SELF_DESCRIBING = frozenset({"nrrd", "metaimage"})


def _modules() -> list[tuple[str, ModuleType]]:
    return [(label, importlib.import_module(name)) for label, name in REGISTRY]


def _known_extensions() -> str:
    return " ".join(ext for _label, module in _modules() for ext in module.EXTENSIONS)


def format_named(name: str) -> ModuleType:
    """The module for a format given by label (``nrrd``) or extension (``mha``, ``.nii.gz``).

    Raises
    ------
    FormatError
        No format has that name.
    """
    key = name.lower().lstrip(".")
    for label, module in _modules():
        if key == label or f".{key}" in module.EXTENSIONS:
            return module
    labels = ", ".join(label for label, _ in REGISTRY)
    raise errors.FormatError(f"unknown format '{name}' (known: {labels}, or an extension)")


def format_for(path: str | os.PathLike[str], *, head: bytes | None = None) -> ModuleType:
    """The format module for ``path``: by extension, confirmed by sniffing when bytes are given.

    A name without a known extension is identified by its first bytes when they are a
    NRRD or MetaImage header.

    Raises
    ------
    FormatError
        The extension is unknown, or the bytes do not look like the format it names
        (an empty, truncated or misnamed file).
    """
    name = os.fspath(path).lower()
    for label, module in _modules():
        if any(name.endswith(ext) for ext in module.EXTENSIONS):
            if head is not None and not module.sniff(head):
                raise errors.FormatError(
                    f"named as {label} but its first bytes are not a {label} header "
                    "(empty, truncated or another format)",
                    path=path,
                )
            return module
    by_content = _by_content(head) if head else None
    if by_content is not None:
        return by_content
    raise errors.FormatError(
        f"no known format for this file name (known: {_known_extensions()}); "
        "name the format explicitly",
        path=path,
    )


def _by_content(head: bytes) -> ModuleType | None:
    """The format whose magic ``head`` carries, for a file whose name says nothing.

    Only NRRD and MetaImage count: their text headers identify them, and their readers
    accept any name. nibabel's formats (NIfTI, Analyze, MGH, MINC) are loaded by
    extension, and a gzip stream could be ``.nii.gz`` or ``.mgz``.
    """
    gzip = head[:2] == b"\x1f\x8b"
    for label, module in _modules():
        if label in _SELF_DESCRIBING and module.sniff(head) and not gzip:
            return module
    return None


def _head(path: str | os.PathLike[str]) -> bytes:
    """The first bytes of the file that describes ``path`` (an Analyze ``.img``'s ``.hdr``)."""
    name = os.fspath(path)
    if name.lower().endswith(".img"):
        name = os.path.splitext(name)[0] + (".HDR" if name.endswith(".IMG") else ".hdr")
    try:
        with open(name, "rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise errors.FormatError(f"cannot read: {exc.strerror}", path=name) from exc


def detect(path: str | os.PathLike[str]) -> str | None:
    """The label of the research format ``path`` holds, or None (e.g. for DICOM).

    Both the extension and the first bytes must agree, because DICOM files carry any
    name, ``.img`` included.
    """
    if not os.path.isfile(path):
        return None
    try:
        module = format_for(path, head=_head(path))
    except errors.FormatError:
        return None
    return next(label for label, name in REGISTRY if name == module.__name__)


def read(path: str | os.PathLike[str], *, format: str | None = None) -> Volume:
    """Read any supported format: by ``format`` when given, else by extension and first bytes.

    Raises
    ------
    FormatError
        The file is missing, unreadable, of unknown format, or malformed.
    MissingDependencyError
        The format needs an optional package (MINC-2 needs h5py).
    """
    module = format_named(format) if format else format_for(path, head=_head(path))
    volume: Volume = module.read(path)
    return volume


def write(volume: Volume, path: str | os.PathLike[str], *, format: str | None = None) -> None:
    """Write a Volume in the format named by ``format``, else by ``path``'s extension.

    Raises
    ------
    FormatError
        The format cannot hold this volume (components, frames, voxel type), or the
        name has no known format.
    """
    module = format_named(format) if format else format_for(path)
    module.write(volume, path)

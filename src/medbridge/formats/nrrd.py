"""NRRD (``.nrrd``, or ``.nhdr`` + ``.raw``/``.raw.gz``): read and write through pynrrd.

NRRD is 3D Slicer's and Teem's format. Its header states the world space by name; we
write ``left-posterior-superior`` (what Slicer and ITK write) and read LPS, RAS and LAS.
Each axis has a ``space direction`` (a world vector whose length is the voxel size) or
``none`` for a non-spatial axis. Components (RGB, vectors) go first, as NRRD readers
expect (kind ``RGB-color`` or ``vector``); frames go last (kind ``list``). NRRD has no
slope/intercept, so scaled volumes are written as real values.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import nrrd
import numpy as np
import numpy.typing as npt

from medbridge.errors import FormatError, GeometryError
from medbridge.formats._layout import (
    atomic_path,
    check_layout,
    from_layout,
    stored_or_real,
    to_supported_dtype,
)
from medbridge.volume import Volume
from medbridge.volume._geometry import grid_from_affine, ras_to_lps, world_to_ras

__all__ = ["EXTENSIONS", "read", "sniff", "write"]

#: File name endings this module reads and writes.
EXTENSIONS: tuple[str, ...] = (".nrrd", ".nhdr")

#: NRRD's space names (long and short) → the axis codes of :func:`world_to_ras`.
_SPACES: dict[str, str] = {
    "right-anterior-superior": "RAS",
    "ras": "RAS",
    "left-posterior-superior": "LPS",
    "lps": "LPS",
    "left-anterior-superior": "LAS",
    "las": "LAS",
}

_TYPES = (
    np.uint8,
    np.int8,
    np.uint16,
    np.int16,
    np.uint32,
    np.int32,
    np.uint64,
    np.int64,
    np.float32,
    np.float64,
)


def sniff(head: bytes) -> bool:
    """Whether the bytes start with the NRRD magic (``NRRD000`` + version digit).

    >>> sniff(b"NRRD0004\\ntype: short\\n")
    True
    """
    return head.startswith(b"NRRD000")


def read(path: str | os.PathLike[str]) -> Volume:
    """Read a NRRD file (attached or detached data) into a RAS+ Volume.

    Raises
    ------
    FormatError
        The header is malformed or truncated, the data is shorter or longer than the
        sizes say, or the axes do not describe a 3D grid (with optional components
        and frames).
    """
    name = os.fspath(path)
    try:
        data, header = nrrd.read(name)
    except (nrrd.NRRDError, ValueError, OSError, EOFError, zlib.error, TypeError, KeyError) as exc:
        raise FormatError(f"not a readable NRRD file: {exc}", path=name) from exc
    data = np.asarray(data)
    if data.ndim == 2 and header.get("space directions") is None:
        data = data[:, :, np.newaxis]  # a plain 2D image: one slice
        header["spacings"] = [*header.get("spacings", [1.0, 1.0]), 1.0]
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))  # "endian: big" files
    spatial, before, after = _axes(header, data.ndim, name)
    order = spatial + after + before
    array = np.transpose(data, order)
    if not before:
        array = array[..., np.newaxis]
    if not after:
        array = np.expand_dims(array, 3)
    affine = _affine(header, spatial, name)
    metadata: dict[str, Any] = {}
    if "kinds" in header and before:
        metadata["nrrd_component_kind"] = str(header["kinds"][before[0]])
    return Volume(from_layout(array), affine, metadata)


def _axes(header: dict[str, Any], ndim: int, path: str) -> tuple[list[int], list[int], list[int]]:
    """(spatial axes, component axes before them, frame axes after them)."""
    directions = header.get("space directions")
    if directions is None:
        if ndim != 3:
            raise FormatError(
                f"{ndim}-D NRRD without 'space directions': cannot tell which axes are spatial",
                path=path,
            )
        return [0, 1, 2], [], []
    rows = np.asarray(directions, dtype=np.float64).reshape(ndim, -1)
    spatial = [i for i in range(ndim) if np.all(np.isfinite(rows[i]))]
    other = [i for i in range(ndim) if i not in spatial]
    if len(spatial) != 3 or spatial != list(range(spatial[0], spatial[0] + 3)):
        raise FormatError(
            f"expected three consecutive spatial axes, 'space directions' gives {spatial}",
            path=path,
        )
    before = [i for i in other if i < spatial[0]]
    after = [i for i in other if i > spatial[-1]]
    if len(before) > 1 or len(after) > 1:
        raise FormatError(
            "more than one component axis or frame axis: medbridge volumes hold "
            "i, j, k, frames, components",
            path=path,
        )
    return spatial, before, after


def _affine(header: dict[str, Any], spatial: list[int], path: str) -> npt.NDArray[np.float64]:
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space not in _SPACES:
        raise FormatError(
            f"space '{space}' is not supported (use left-posterior-superior, "
            "right-anterior-superior or left-anterior-superior)",
            path=path,
        )
    affine = np.eye(4)
    directions = header.get("space directions")
    if directions is None:
        spacings = np.asarray(header.get("spacings", [1.0] * len(spatial)), dtype=np.float64)
        affine[: len(spatial), : len(spatial)] = np.diag(np.nan_to_num(spacings, nan=1.0))
    else:
        rows = np.asarray(directions, dtype=np.float64)
        affine[:3, :3] = rows[spatial].T
    origin = header.get("space origin")
    if origin is not None:
        affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    return world_to_ras(affine, _SPACES[space])


def write(volume: Volume, path: str | os.PathLike[str]) -> None:
    """Write ``.nrrd`` (header and gzip data in one file) or ``.nhdr`` + ``.raw.gz``.

    Raises
    ------
    FormatError
        The voxel type has no NRRD equivalent (complex, float16).
    GeometryError
        The affine has a zero-length axis.
    """
    name = os.fspath(path)
    layout = check_layout(volume, name, label="NRRD", frames=True, components=True)
    values = to_supported_dtype(stored_or_real(volume), _TYPES, name, label="NRRD")
    array = values.reshape(layout.shape5)
    data = np.moveaxis(array, 4, 0)  # components fastest, as NRRD readers expect
    keep = [0] if layout.components > 1 else []
    keep += [1, 2, 3] + ([4] if layout.frames > 1 else [])
    data = data.reshape([data.shape[i] for i in keep])
    header = _header(volume, layout_components=layout.components, has_frames=layout.frames > 1)
    header["kinds"] = _kinds(values.dtype, layout.components, layout.frames)
    if name.lower().endswith(".nhdr"):
        _write_detached(name, data, header)
        return
    with atomic_path(name, ".nrrd") as tmp:
        nrrd.write(tmp, data, header, compression_level=1)


def _header(volume: Volume, *, layout_components: int, has_frames: bool) -> dict[str, Any]:
    try:
        affine_lps = ras_to_lps(volume.affine_ras)
        grid_from_affine(affine_lps)  # refuses zero-length axes
    except GeometryError as exc:
        raise FormatError(f"cannot write NRRD geometry: {exc}") from exc
    rows: list[list[float]] = []
    if layout_components > 1:
        rows.append([np.nan] * 3)
    rows.extend(affine_lps[:3, axis].tolist() for axis in range(3))
    if has_frames:
        rows.append([np.nan] * 3)
    return {
        "space": "left-posterior-superior",
        "space directions": np.asarray(rows, dtype=np.float64),
        "space origin": affine_lps[:3, 3].copy(),
        "encoding": "gzip",
    }


def _kinds(dtype: np.dtype[Any], components: int, frames: int) -> list[str]:
    kinds: list[str] = []
    if components > 1:
        rgb = dtype == np.uint8 and components in (3, 4)
        kinds.append(("RGB-color" if components == 3 else "RGBA-color") if rgb else "vector")
    kinds += ["domain"] * 3
    if frames > 1:
        kinds.append("list")
    return kinds


def _write_detached(name: str, data: npt.NDArray[Any], header: dict[str, Any]) -> None:
    """``.nhdr`` with its data beside it; both removed again if writing fails."""
    data_name = os.path.splitext(name)[0] + ".raw.gz"
    try:
        nrrd.write(name, data, header, compression_level=1)
    except BaseException:
        for leftover in (name, data_name):
            if os.path.exists(leftover):
                os.unlink(leftover)
        raise

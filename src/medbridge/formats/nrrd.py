"""NRRD (``.nrrd``, or ``.nhdr`` + ``.raw``/``.raw.gz``): read and write through pynrrd.

NRRD is 3D Slicer's and Teem's format. Its header states the world space by name; we
write ``left-posterior-superior`` (what Slicer and ITK write) and read LPS, RAS and LAS,
also with ``-time`` (a 4D space whose fourth axis is time).
Each axis has a ``space direction`` (a world vector whose length is the voxel size) or
``none`` for a non-spatial axis. Components (RGB, vectors) go first, as NRRD readers
expect (kind ``RGB-color`` or ``vector``); frames go last (kind ``list``). NRRD has no
slope/intercept, so scaled volumes are written as real values.
"""

from __future__ import annotations

import os
import re
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
        The header is malformed or truncated, a data file is missing, the data is
        shorter or longer than the sizes say, or the axes do not describe a 3D grid
        (with optional components and frames).
    """
    name = os.fspath(path)
    try:
        data, header = _read_nrrd(name)
    except (nrrd.NRRDError, ValueError, OSError, EOFError, zlib.error, TypeError, KeyError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"not a readable NRRD file: {exc}", path=name) from exc
    data = np.asarray(data)
    if data.ndim == 2 and header.get("space directions") is None:
        data = data[:, :, np.newaxis]  # a plain 2D image: one slice
        header["spacings"] = [*header.get("spacings", [1.0, 1.0]), 1.0]
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))  # "endian: big" files
    spatial, frames, components = _axes(header, data.ndim, name)
    array = np.transpose(data, spatial + frames + components)
    if not components:
        array = array[..., np.newaxis]
    if not frames:
        array = np.expand_dims(array, 3)
    affine = _affine(header, spatial, name)
    metadata: dict[str, Any] = {}
    if "kinds" in header and components:
        metadata["nrrd_component_kind"] = str(header["kinds"][components[0]])
    return Volume(from_layout(array), affine, metadata)


def _read_nrrd(name: str) -> tuple[npt.NDArray[Any], dict[str, Any]]:
    """pynrrd's reading, plus detached data split over several files, which pynrrd lacks.

    The NRRD format (teem's ``format.html``, "detached headers") allows ``data file:
    LIST [subdim]`` followed by one file name per line, or ``data file: <printf
    pattern> <min> <max> <step> [subdim]``; each file holds a ``subdim``-dimensional
    chunk (default: one slice of the slowest axis), in the header's encoding, with
    its own ``line skip`` and ``byte skip``.
    """
    lines = _header_lines(name)
    at = next((i for i, line in enumerate(lines) if _DATA_FILE.match(line)), len(lines))
    words = lines[at].split(":", 1)[1].split() if at < len(lines) else []
    if not words or (words[0] != "LIST" and not (len(words) >= 4 and "%" in words[0])):
        data, fields = nrrd.read(name)
        return np.asarray(data), dict(fields)
    header = nrrd.read_header(lines[:at])
    sizes = [int(n) for n in header["sizes"]]
    subdim_word = words[1:2] if words[0] == "LIST" else words[4:5]
    subdim = int(subdim_word[0]) if subdim_word else len(sizes) - 1
    count = int(np.prod(sizes[subdim:]))
    if words[0] == "LIST":
        files = [line.strip() for line in lines[at + 1 :] if line.strip()]
    else:
        first, last, step = (int(w) for w in words[1:4])
        files = [words[0] % i for i in range(first, last + 1 if step > 0 else last - 1, step)]
    if len(files) != count or not 0 < subdim <= len(sizes):
        raise FormatError(
            f"'data file: {' '.join(words)}' gives {len(files)} files, sizes {sizes} in "
            f"{subdim}-D chunks need {count}",
            path=name,
        )
    chunk = {k: v for k, v in header.items() if k not in ("data file", "datafile")}
    chunk["dimension"], chunk["sizes"] = subdim, np.asarray(sizes[:subdim])
    parts = []
    for file in files:
        data_path = os.path.join(os.path.dirname(name), file)
        try:
            part = nrrd.read_data({**chunk, "data file": data_path}, filename=name)
        except (nrrd.NRRDError, ValueError, OSError, zlib.error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise FormatError(f"data file {data_path}: {reason}", path=name) from exc
        parts.append(np.asarray(part).ravel(order="F"))
    return np.concatenate(parts).reshape(sizes, order="F"), dict(header)


_DATA_FILE = re.compile(r"data ?file\s*:", re.IGNORECASE)
_MAX_HEADER_LINES = 1 << 16


def _header_lines(name: str) -> list[str]:
    """The header's lines, to its blank line (attached data) or its end (detached)."""
    lines: list[str] = []
    with open(name, "rb") as fh:
        for raw in fh:
            line = raw.decode("latin-1").rstrip("\r\n")
            if (line == "" and lines) or len(lines) > _MAX_HEADER_LINES:
                break
            lines.append(line)
    return lines


def _axes(header: dict[str, Any], ndim: int, path: str) -> tuple[list[int], list[int], list[int]]:
    """Which array axes are spatial, which one is frames, which one is components.

    Spatial axes have a world direction. In a ``...-time`` space the time axis has a
    direction with no spatial part; otherwise an axis of kind ``time`` is frames, and
    of the other non-spatial axes one before the spatial ones is components (RGB or
    vector fastest, as NRRD writers store them) and one after them is frames.
    """
    directions = header.get("space directions")
    if directions is None:
        if ndim != 3:
            raise FormatError(
                f"{ndim}-D NRRD without 'space directions': cannot tell which axes are spatial",
                path=path,
            )
        return [0, 1, 2], [], []
    rows = np.asarray(directions, dtype=np.float64).reshape(ndim, -1)
    finite = [i for i in range(ndim) if np.all(np.isfinite(rows[i]))]
    spatial = [i for i in finite if np.any(rows[i, :3] != 0)]
    if len(spatial) != 3 or spatial != list(range(spatial[0], spatial[0] + 3)):
        raise FormatError(
            f"expected three consecutive spatial axes, 'space directions' gives {spatial}",
            path=path,
        )
    kinds = [str(kind).lower() for kind in header.get("kinds", [])]
    timed = [i for i in finite if i not in spatial] + [
        i for i, kind in enumerate(kinds) if kind == "time" and i not in finite
    ]
    other = [i for i in range(ndim) if i not in spatial and i not in timed]
    frames = sorted(timed + [i for i in other if i > spatial[-1]])
    components = [i for i in other if i < spatial[0]]
    if len(frames) > 1 or len(components) > 1:
        raise FormatError(
            "more than one component axis or frame axis: medbridge volumes hold "
            "i, j, k, frames, components",
            path=path,
        )
    return spatial, frames, components


def _affine(header: dict[str, Any], spatial: list[int], path: str) -> npt.NDArray[np.float64]:
    space = str(header.get("space", "left-posterior-superior")).lower().removesuffix("-time")
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
        affine[:3, :3] = rows[spatial, :3].T  # a "-time" space adds a 4th coordinate
    origin = header.get("space origin")
    if origin is not None:
        affine[:3, 3] = np.asarray(origin, dtype=np.float64)[:3]
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

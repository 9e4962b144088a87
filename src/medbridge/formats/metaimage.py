"""MetaImage (``.mha``, or ``.mhd`` + ``.raw``): ITK's native format, read and written here.

No light library reads MetaImage (SimpleITK would bring all of ITK), and the format is
small: ``Key = value`` text lines ending with ``ElementDataFile``, then raw voxels
(``LOCAL``: in the same file), or one named data file, or one file per slice (``LIST``
or a printf pattern), optionally zlib-compressed. ITK's world
is LPS; the grid is ``Offset`` (origin), ``ElementSpacing`` and ``TransformMatrix``,
whose values list the axis direction vectors one after another (what ITK's
``GetDirection(i)`` returns, i.e. the direction matrix in column order). Components
(``ElementNumberOfChannels``) are interleaved per voxel; a fourth dimension is frames.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from typing import Any

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
from medbridge.volume._geometry import (
    affine_from_grid,
    direction_letters,
    grid_from_affine,
    lps_to_ras,
    ras_to_lps,
)

__all__ = ["ELEMENT_TYPES", "EXTENSIONS", "read", "sniff", "write"]

#: File name endings this module reads and writes.
EXTENSIONS: tuple[str, ...] = (".mha", ".mhd")

#: MetaIO element types and their numpy types (MetaIO's MET_LONG is 4 bytes).
ELEMENT_TYPES: dict[str, np.dtype[Any]] = {
    "MET_UCHAR": np.dtype(np.uint8),
    "MET_CHAR": np.dtype(np.int8),
    "MET_USHORT": np.dtype(np.uint16),
    "MET_SHORT": np.dtype(np.int16),
    "MET_UINT": np.dtype(np.uint32),
    "MET_INT": np.dtype(np.int32),
    "MET_ULONG": np.dtype(np.uint32),
    "MET_LONG": np.dtype(np.int32),
    "MET_ULONG_LONG": np.dtype(np.uint64),
    "MET_LONG_LONG": np.dtype(np.int64),
    "MET_FLOAT": np.dtype(np.float32),
    "MET_DOUBLE": np.dtype(np.float64),
}
_WRITE_TYPES = {
    dtype: name for name, dtype in ELEMENT_TYPES.items() if name not in ("MET_ULONG", "MET_LONG")
}
_ALIASES = {"Position": "Offset", "Origin": "Offset", "Rotation": "TransformMatrix"}
_ALIASES["Orientation"] = "TransformMatrix"
_MAX_HEADER = 1 << 16


def sniff(head: bytes) -> bool:
    """Whether the bytes start like a MetaImage header (``ObjectType`` or ``NDims`` first).

    >>> sniff(b"ObjectType = Image\\nNDims = 3\\n")
    True
    """
    first = head.lstrip()[:16]
    return first.startswith((b"ObjectType", b"NDims", b"Comment"))


@dataclass
class _Header:
    fields: dict[str, str]
    data_offset: int

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def numbers(self, key: str, n: int, default: float, path: str) -> list[float]:
        text = self.fields.get(key)
        if text is None:
            return [default] * n
        try:
            values = [float(v) for v in text.split()]
        except ValueError:
            raise FormatError(f"'{key}' is not numeric: {text!r}", path=path) from None
        if len(values) < n:
            raise FormatError(f"'{key}' has {len(values)} values, NDims needs {n}", path=path)
        return values

    def integers(self, key: str, n: int, path: str, *, default: int | None = None) -> list[int]:
        """``n`` positive whole numbers from ``key`` (required unless a default is given)."""
        if key not in self.fields and default is not None:
            return [default] * n
        values = self.numbers(key, n, 0.0, path)[:n]
        if key not in self.fields or not all(_whole(v) and v > 0 for v in values):
            raise FormatError(f"'{key}' must hold {n} positive integers", path=path)
        return [int(v) for v in values]


def _whole(value: float) -> bool:
    return math.isfinite(value) and value == int(value)


def _parse_header(raw: bytes, path: str) -> _Header:
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(raw) and pos < _MAX_HEADER:
        end = raw.find(b"\n", pos)
        line_end = len(raw) if end < 0 else end
        line = raw[pos:line_end].decode("latin-1").strip()
        pos = line_end + 1
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise FormatError(f"header line is not 'Key = value': {line[:60]!r}", path=path)
        key = _ALIASES.get(key.strip(), key.strip())
        fields[key] = value.strip()
        if key == "ElementDataFile":
            return _Header(fields, min(pos, len(raw)))
    raise FormatError(
        "header ends before 'ElementDataFile' (truncated or not a MetaImage file)", path=path
    )


def read(path: str | os.PathLike[str]) -> Volume:
    """Read a MetaImage file into a RAS+ Volume.

    Raises
    ------
    FormatError
        A truncated or malformed header, an unknown ``ElementType``, ASCII data, a
        missing data file, or data whose size does not match ``DimSize``.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=name) from exc
    header = _parse_header(raw, name)
    ndims = _ndims(header, name)
    dims = header.integers("DimSize", ndims, name)
    dtype = _element_type(header, name)
    channels = header.integers("ElementNumberOfChannels", 1, name, default=1)[0]
    payload = _payload(header, raw, name, dims=dims, element=(channels, dtype))
    flat = np.frombuffer(payload, dtype=dtype)
    array = np.moveaxis(flat.reshape([channels, *dims], order="F"), 0, -1)
    if ndims == 2:
        array = array[:, :, np.newaxis]
    if ndims <= 3:
        array = array[:, :, :, np.newaxis]
    affine = _affine(header, ndims, name)
    metadata: dict[str, Any] = {}
    if ndims == 4 and dims[3] > 1:
        step = _spacing(header, 4, name)[3]
        if step > 0 and step != 1.0:  # 1 is ITK's "no spacing" default
            metadata["RepetitionTime"] = step
    voxels = np.ascontiguousarray(array).astype(dtype.newbyteorder("="))
    return Volume(from_layout(voxels), affine, metadata)


def _ndims(header: _Header, path: str) -> int:
    if (header.get("ObjectType") or "Image").lower() != "image":
        raise FormatError(f"ObjectType is {header.get('ObjectType')!r}, not Image", path=path)
    try:
        ndims = int(header.get("NDims") or "")
    except ValueError:
        raise FormatError("'NDims' is missing or not an integer", path=path) from None
    if not 2 <= ndims <= 4:
        raise FormatError(f"NDims {ndims} is not supported (2, 3 or 4)", path=path)
    if (header.get("BinaryData") or "True").lower() != "true":
        raise FormatError("ASCII data (BinaryData = False) is not supported", path=path)
    return ndims


def _element_type(header: _Header, path: str) -> np.dtype[Any]:
    kind = header.get("ElementType") or ""
    if kind not in ELEMENT_TYPES:
        raise FormatError(
            f"ElementType {kind!r} is not supported (known: {', '.join(ELEMENT_TYPES)})",
            path=path,
        )
    msb = header.get("BinaryDataByteOrderMSB") or header.get("ElementByteOrderMSB") or "False"
    big = msb.lower() == "true"
    return ELEMENT_TYPES[kind].newbyteorder(">" if big else "<")


def _payload(
    header: _Header,
    raw: bytes,
    path: str,
    *,
    dims: list[int],
    element: tuple[int, np.dtype[Any]],
) -> bytes:
    """The voxel bytes: from this file, or from the data files ``ElementDataFile`` names.

    MetaIO's forms (``metaImage.cxx``): ``LOCAL``, the data follows the header; a file
    name, the rest of the line (spaces included), beside the header unless absolute;
    ``LIST [nD]``, then one file name per line, each holding an n-D chunk (by default
    one slice of the last axis); a printf pattern ``name%03d.raw [first [last
    [step]]]``, one file per index along the last axis. ``HeaderSize`` bytes are
    skipped in each data file (``-1``: the data ends the file), and with
    ``CompressedData`` each file is a zlib stream.
    """
    channels, dtype = element
    source = header.get("ElementDataFile") or ""
    words = source.split()
    need = f"DimSize {dims} × {channels} channel(s) of {dtype.name}"
    if source.upper() == "LOCAL":
        total = int(np.prod(dims)) * channels * dtype.itemsize
        return _chunk(header, raw[header.data_offset :], total, path, need=need)
    if not words:
        raise FormatError("'ElementDataFile' is empty: no voxel data named", path=path)
    if words[0] == "LIST":
        files, chunk_ndims = _listed_files(header, raw, words, dims, path)
    elif "%" in source:
        files, chunk_ndims = _pattern_files(words, dims, path), len(dims) - 1
    else:
        files, chunk_ndims = [source], len(dims)
    size = int(np.prod(dims[:chunk_ndims])) * channels * dtype.itemsize
    if len(files) > 1:
        need = f"1/{len(files)} of {need}"
    folder = os.path.dirname(path)
    chunks = []
    for file in files:
        data_path = os.path.join(folder, file)
        try:
            with open(data_path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise FormatError(f"data file {data_path}: {exc.strerror}", path=path) from exc
        chunks.append(_chunk(header, data, size, path, need=need, data_path=data_path))
    return b"".join(chunks)


def _listed_files(
    header: _Header, raw: bytes, words: list[str], dims: list[int], path: str
) -> tuple[list[str], int]:
    """``ElementDataFile = LIST [nD]``: the file names on the lines after it, and n."""
    ndims = len(dims)
    chunk_ndims = ndims - 1
    if len(words) > 1:
        digits = words[1].upper().removesuffix("D")
        if not digits.isdigit():
            raise FormatError(f"'ElementDataFile = LIST {words[1]}': not a dimension", path=path)
        chunk_ndims = int(digits)
        if not 0 < chunk_ndims <= ndims:
            chunk_ndims = ndims - 1  # MetaIO's fallback for 0 or too many
    count = int(np.prod(dims[chunk_ndims:]))
    lines = raw[header.data_offset :].decode("latin-1").splitlines()
    files = [line.strip() for line in lines if line.strip()][:count]
    if len(files) != count:
        raise FormatError(
            f"'ElementDataFile = LIST' names {len(files)} data files, DimSize {dims} in "
            f"{chunk_ndims}-D chunks needs {count}",
            path=path,
        )
    return files, chunk_ndims


def _pattern_files(words: list[str], dims: list[int], path: str) -> list[str]:
    """``ElementDataFile = name%03d.raw first last step``: one name per last-axis index."""
    numbers = words[1:]
    pattern = words[0]
    if len(words) >= 5:  # MetaIO: a name with spaces, then exactly three numbers
        pattern, numbers = " ".join(words[:-3]), words[-3:]
    try:
        values = [int(float(v)) for v in numbers]
    except ValueError:
        raise FormatError(
            f"'ElementDataFile = {' '.join(words)}': first, last and step must be numbers",
            path=path,
        ) from None
    count = dims[-1]
    first = values[0] if values else 1
    last = values[1] if len(values) > 1 else first + count - 1
    step = values[2] if len(values) > 2 else 1
    indices = list(range(first, last + 1, step))[:count] if step > 0 else []
    if len(indices) != count:
        raise FormatError(
            f"'ElementDataFile = {' '.join(words)}' gives {len(indices)} data files, "
            f"DimSize {dims} needs {count} (one per index of the last axis)",
            path=path,
        )
    try:
        return [pattern % i for i in indices]
    except (TypeError, ValueError) as exc:
        raise FormatError(f"data file pattern {pattern!r} is not usable: {exc}", path=path) from exc


def _chunk(
    header: _Header,
    data: bytes,
    size: int,
    path: str,
    *,
    need: str,
    data_path: str | None = None,
) -> bytes:
    """One data file's voxel bytes (``size`` of them): header skipped, zlib undone."""
    try:
        skip = int(header.get("HeaderSize") or "0")
    except ValueError:
        raise FormatError(
            f"'HeaderSize' is not an integer: {header.get('HeaderSize')!r}", path=path
        ) from None
    if skip > 0 and data_path is not None:
        data = data[skip:]
    if (header.get("CompressedData") or "False").lower() == "true":
        try:
            data = zlib.decompress(data, zlib.MAX_WBITS | 32)
        except zlib.error as exc:
            where = f"data file {data_path}: " if data_path else ""
            raise FormatError(
                f"{where}compressed data is corrupt or truncated: {exc}", path=path
            ) from exc
    if skip == -1 and len(data) > size:
        data = data[-size:]  # MetaIO: -1 means the data ends the file
    if len(data) != size:
        where = f"data file {data_path}" if data_path else "data"
        raise FormatError(f"{where} holds {len(data)} bytes, {need} needs {size}", path=path)
    return data


def _spacing(header: _Header, ndims: int, path: str) -> list[float]:
    """``ElementSpacing``, else ``ElementSize`` (MetaIO takes one for the other), else 1."""
    key = "ElementSpacing" if "ElementSpacing" in header.fields else "ElementSize"
    return header.numbers(key, ndims, 1.0, path)


def _affine(header: _Header, ndims: int, path: str) -> npt.NDArray[np.float64]:
    spacing = _spacing(header, ndims, path)[:3]
    origin = header.numbers("Offset", ndims, 0.0, path)[:3]
    matrix = header.numbers("TransformMatrix", ndims * ndims, np.nan, path)
    direction = np.eye(3)
    if not np.isnan(matrix[0]):
        axes = np.asarray(matrix[: ndims * ndims]).reshape(ndims, ndims)  # row = one axis
        size = min(ndims, 3)
        direction[:size, :size] = axes[:size, :size].T
    spacing += [1.0] * (3 - len(spacing))
    origin += [0.0] * (3 - len(origin))
    return lps_to_ras(affine_from_grid(origin, spacing, direction))


def write(volume: Volume, path: str | os.PathLike[str], *, compress: bool | None = None) -> None:
    """Write ``.mha`` (zlib-compressed, one file) or ``.mhd`` + ``.raw`` (uncompressed).

    Parameters
    ----------
    compress:
        Override the default (``.mha`` compressed, ``.mhd`` not).

    Raises
    ------
    FormatError
        The voxel type has no MetaIO element type, or the affine has a zero-length axis.
    """
    name = os.fspath(path)
    layout = check_layout(volume, name, label="MetaImage", frames=True, components=True)
    values = to_supported_dtype(stored_or_real(volume), list(_WRITE_TYPES), name, label="MetaImage")
    values = values.astype(values.dtype.newbyteorder("<"), copy=False)
    array = values.reshape(layout.shape5)
    payload = np.moveaxis(array, 4, 0).tobytes(order="F")
    detached = name.lower().endswith(".mhd")
    squeeze = compress if compress is not None else not detached
    if squeeze:
        payload = zlib.compress(payload, 1)
    ndims = 4 if layout.frames > 1 else 3
    text = _header_text(volume, layout.shape5, ndims, values.dtype, len(payload), squeeze)
    if not detached:
        with atomic_path(name, ".mha") as tmp, open(tmp, "wb") as fh:
            fh.write((text + "ElementDataFile = LOCAL\n").encode("ascii"))
            fh.write(payload)
        return
    data_name = os.path.splitext(name)[0] + (".zraw" if squeeze else ".raw")
    with atomic_path(data_name, ".raw") as tmp, open(tmp, "wb") as fh:
        fh.write(payload)
    with atomic_path(name, ".mhd") as tmp, open(tmp, "w", encoding="ascii") as fh:
        fh.write(text + f"ElementDataFile = {os.path.basename(data_name)}\n")


def _header_text(
    volume: Volume,
    shape5: tuple[int, ...],
    ndims: int,
    dtype: np.dtype[Any],
    size: int,
    compressed: bool,
) -> str:
    try:
        origin, spacing, direction = grid_from_affine(ras_to_lps(volume.affine_ras))
    except GeometryError as exc:
        raise FormatError(f"cannot write MetaImage geometry: {exc}") from exc
    frame_step = volume.metadata.get("RepetitionTime")
    step = float(frame_step) if isinstance(frame_step, int | float) and frame_step > 0 else 1.0
    matrix = np.eye(ndims)
    matrix[:3, :3] = direction.T  # one row per axis: ITK's GetDirection(i)
    lines = [
        "ObjectType = Image",
        f"NDims = {ndims}",
        "BinaryData = True",
        "BinaryDataByteOrderMSB = False",
        f"CompressedData = {compressed}",
    ]
    if compressed:
        lines.append(f"CompressedDataSize = {size}")
    lines += [
        "TransformMatrix = " + _numbers(matrix.ravel()),
        "Offset = " + _numbers([*origin, 0.0][:ndims]),
        "CenterOfRotation = " + _numbers([0.0] * ndims),
        f"AnatomicalOrientation = {_itk_orientation(direction) if ndims == 3 else '????'}",
        "ElementSpacing = " + _numbers([*spacing, step][:ndims]),
        "DimSize = " + " ".join(str(n) for n in shape5[:ndims]),
    ]
    if shape5[4] > 1:
        lines.append(f"ElementNumberOfChannels = {shape5[4]}")
    lines.append(f"ElementType = {_WRITE_TYPES[np.dtype(dtype.newbyteorder('='))]}")
    return "\n".join(lines) + "\n"


def _numbers(values: Any) -> str:
    return " ".join(repr(float(v)) if float(v) != int(v) else str(int(v)) for v in values)


def _itk_orientation(direction: npt.NDArray[np.float64]) -> str:
    """ITK's three letters: for each axis, the side of the patient it starts from.

    ITK writes S/I where DICOM writes H/F.

    >>> _itk_orientation(np.eye(3))
    'RAI'
    """
    letters = "".join(direction_letters(-direction[:, axis])[0] for axis in range(3))
    return letters.translate(str.maketrans("HF", "SI"))

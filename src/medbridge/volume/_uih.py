"""UIH (United Imaging) grids: one image holding every slice of a volume.

UIH saves EPI and DTI volumes as "virtual frames" ('VFRAME' in (0008,0008)): the slices
are tiled in a grid of ⌈√n⌉ tiles per row (as many rows of tiles as needed), the slice
count is (0065,1050) and each slice's own (0020,0032) is in one item of the private
sequence (0065,1051) "MR VFrame Sequence" (creator "Image Private Header"); the image
itself carries no top-level position. dcm2niix cuts the grid the same way and places the
slices by those positions, stored ascending along row × column (a grid written top-down
is stored reversed), which is what the stacker does with frames that carry their own
positions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medbridge.errors import ConversionError
from medbridge.volume._frames import PixelSource
from medbridge.volume._stack import Frame

__all__ = ["is_uih_grid", "uih_grid_frames"]

_CREATOR = "IMAGE PRIVATE HEADER"
_COUNT, _ITEMS = 0x50, 0x51


def _private(ds: Dataset, element: int) -> Any:
    """(0065,xxEE) of the "Image Private Header" block, else at the usual (0065,10EE)."""
    for block in range(0x10, 0x100):
        creator = ds.get((0x0065, block))
        if creator is not None and str(creator.value).strip().upper() == _CREATOR:
            found = ds.get((0x0065, (block << 8) | element))
            return None if found is None else found.value
    found = ds.get((0x0065, 0x1000 | element))
    return None if found is None else found.value


def _count(ds: Dataset) -> int:
    value = _private(ds, _COUNT)
    if isinstance(value, bytes):
        value = value.decode("latin-1").strip(" \x00")
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def is_uih_grid(ds: Dataset) -> bool:
    """A UIH grid of slices: 'VFRAME' in (0008,0008) and more than one slice in (0065,1050)."""
    image_type = [str(v).upper() for v in ds.get("ImageType", [])]
    return "VFRAME" in image_type and _count(ds) > 1


def _floats(value: Any, n: int, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{what} is not numeric: {value!r}") from exc
    if len(out) != n:
        raise ConversionError(f"{what} has {len(out)} values, expected {n}")
    return out


def _number(ds: Dataset, keyword: str, default: float) -> float:
    try:
        return float(ds.get(keyword))
    except (TypeError, ValueError):
        return default


def uih_grid_frames(ds: Dataset, source: PixelSource, order: tuple[Any, ...]) -> list[Frame]:
    """The slices of a UIH grid, each at its (0065,1051) item's (0020,0032).

    Parameters
    ----------
    ds:
        The grid's header.
    source:
        The file's pixels, decoded once for all its slices.
    order:
        The instance's acquisition-order key (each slice appends its tile index).

    Raises
    ------
    ConversionError
        When the slice positions, orientation or spacing are missing, or the image
        cannot hold the grid.
    """
    n_slices = _count(ds)
    items = _private(ds, _ITEMS)
    if not isinstance(items, Sequence | list):
        raise ConversionError(
            "UIH grid (VFRAME) without its (0065,1051) 'MR VFrame Sequence': the slices'"
            " positions are unknown"
        )
    if len(items) != n_slices:
        raise ConversionError(
            f"UIH grid of {n_slices} slices has {len(items)} items in (0065,1051)"
        )
    for keyword in ("ImageOrientationPatient", "PixelSpacing"):
        if ds.get(keyword) in (None, ""):
            raise ConversionError(f"UIH grid has no {keyword}: its place in space is unknown")
    orientation = _floats(ds.ImageOrientationPatient, 6, "(0020,0037)")
    spacing = _floats(ds.PixelSpacing, 2, "(0028,0030)")
    per_row = math.ceil(math.sqrt(n_slices))
    rows_of_tiles = math.ceil(n_slices / per_row)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows % rows_of_tiles or cols % per_row:
        raise ConversionError(
            f"UIH grid of {rows}x{cols} cannot hold {rows_of_tiles}x{per_row} equal tiles"
        )
    t_rows, t_cols = rows // rows_of_tiles, cols // per_row
    source.remaining = n_slices
    frames = []
    for s, item in enumerate(items):
        if item.get("ImagePositionPatient") in (None, ""):
            raise ConversionError(f"UIH grid slice {s + 1} has no (0020,0032) in (0065,1051)")
        position = _floats(item.ImagePositionPatient, 3, "(0065,1051) (0020,0032)")
        r0, c0 = (s // per_row) * t_rows, (s % per_row) * t_cols

        def load(r0: int = r0, c0: int = c0) -> npt.NDArray[Any]:
            arr: npt.NDArray[Any] = source.array()
            return np.asarray(arr[r0 : r0 + t_rows, c0 : c0 + t_cols])

        frames.append(
            Frame(
                position_lps=(position[0], position[1], position[2]),
                orientation_lps=orientation,
                pixel_spacing=(spacing[0], spacing[1]),
                rows=t_rows,
                columns=t_cols,
                load=load,
                order=(*order, s),
                slope=_number(ds, "RescaleSlope", 1.0),
                intercept=_number(ds, "RescaleIntercept", 0.0),
                thickness=_number(ds, "SliceThickness", 0.0),
                info={"grid_slice": s, "instance": ds, "grid_item": item},
            )
        )
    return frames

"""Turning DICOM instances into :class:`~medbridge.volume._stack.Frame` objects.

Three layouts carry 2D planes differently:

* classic single-frame images (PS3.3 C.7.6.2): one plane per instance;
* Siemens mosaics: many slices tiled into one 2D image, with the tile count and the
  true slice normal in the CSA header;
* enhanced multi-frame images (PS3.3 C.7.6.16): many planes per instance, each frame's
  position, orientation and rescale in the Per-Frame or Shared Functional Groups.

Each function reads headers only; pixels are decoded lazily, once per file, by
:class:`PixelSource`. A classic image's header may be the fast scan's header instead of
a pydicom ``Dataset`` (anything answering ``get`` and ``in`` as a Dataset does, and
giving the full Dataset from ``dataset()``); :func:`frame_dataset` gives a frame's full
header either way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from medbridge.dicom import load_pixels
from medbridge.dicom._deflate import is_deflated_frames
from medbridge.errors import ConversionError, InvalidDicomError
from medbridge.volume._csa import csa_header, csa_value
from medbridge.volume._encapsulated import decode_with_preferred_plugin, read_rle_frame
from medbridge.volume._native import Header, read_native_pixels, syntax_of
from medbridge.volume._stack import Frame

__all__ = [
    "PixelSource",
    "classic_frame",
    "decode_file",
    "enhanced_frames",
    "frame_dataset",
    "is_enhanced",
    "is_mosaic",
    "mosaic_frames",
]


class PixelSource:
    """Decodes one file's pixel data on first use and frees it after its last frame.

    Parameters
    ----------
    path:
        The DICOM file.
    uses:
        How many frames will ask for pixels; after that many calls the decoded array is
        dropped, so a series never holds more than one decoded file beyond the output.
    header:
        The file's header as already read, when known: pixels are then read by offset
        (uncompressed, RLE) without parsing the file again.
    syntax, offset:
        The transfer syntax and the offset of the (7FE0,0010) value, from the fast scan
        (``syntax`` is taken from a parsed header's File Meta when not given).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        uses: int = 1,
        *,
        header: Header | None = None,
        syntax: str = "",
        offset: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.remaining = uses
        self.header = header
        self.syntax = syntax_of(header, syntax) if header is not None else syntax
        self.offset = offset
        self._array: npt.NDArray[Any] | None = None

    def array(self) -> npt.NDArray[Any]:
        """All stored values of the file, frames first when multi-frame."""
        if self._array is None:
            self._array = self._read()
        arr = self._array
        self.remaining -= 1
        if self.remaining <= 0:
            self._array = None
        return arr

    def _read(self) -> npt.NDArray[Any]:
        if self.header is not None:
            try:
                arr = read_native_pixels(
                    self.path, self.header, syntax=self.syntax, offset=self.offset
                )
                if arr is None and self.offset is not None:
                    arr = read_rle_frame(
                        self.path, self.header, offset=self.offset, syntax=self.syntax
                    )
            except OSError as exc:
                raise InvalidDicomError(f"cannot read pixel data: {exc}", path=self.path) from exc
            if arr is not None:
                return arr
        if is_deflated_frames(self.syntax):
            return load_pixels(self.path)
        try:
            arr = decode_with_preferred_plugin(self.path, self.syntax)
            if arr is None:
                arr = load_pixels(self.path)  # fills what a file without File Meta lacks
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
        except (OSError, ValueError, RuntimeError, AttributeError) as exc:
            raise InvalidDicomError(f"cannot decode pixel data: {exc}", path=self.path) from exc
        return arr


def decode_file(path: str, syntax: str = "") -> npt.NDArray[Any]:
    """Stored values of a single-frame file, decoded by pydicom (for worker processes)."""
    return PixelSource(path, syntax=syntax).array()


def frame_dataset(info: Mapping[str, Any]) -> Dataset | None:
    """The full header of the instance a frame came from (``info["instance"]``), or None.

    ``info["instance"]`` is the parsed ``Dataset``, or for a classic image possibly the
    fast scan's header, which answers reads of what was scanned and parses the file for
    the rest; code needing a real ``Dataset`` (private blocks, sequences) asks here.
    """
    source = info.get("instance")
    if source is None or isinstance(source, Dataset):
        return source
    load = getattr(source, "dataset", None)
    ds = load() if callable(load) else None
    return ds if isinstance(ds, Dataset) else None


def _floats(value: Any, n: int, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"{what} is not numeric: {value!r}") from exc
    if len(out) != n:
        raise ConversionError(f"{what} has {len(out)} values, expected {n}")
    return out


def _geometry(
    ds: Header, what: str
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        if ds.get(keyword) in (None, ""):
            raise ConversionError(f"{what} has no {keyword}: its place in space is unknown")
    return (
        _floats(ds.get("ImagePositionPatient"), 3, "(0020,0032) 'Image Position (Patient)'"),
        _floats(ds.get("ImageOrientationPatient"), 6, "(0020,0037) 'Image Orientation (Patient)'"),
        _floats(ds.get("PixelSpacing"), 2, "(0028,0030) 'Pixel Spacing'"),
    )


def _float(ds: Header, keyword: str, default: float) -> float:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def classic_frame(ds: Header, source: PixelSource, order: tuple[Any, ...]) -> Frame:
    """The single plane of a classic image.

    ``info`` holds the header (``"instance"``, see :func:`frame_dataset`), the file and its
    transfer syntax, and (0018,1060) 'Trigger Time'.
    """
    position, orientation, spacing = _geometry(ds, "image")

    def load() -> npt.NDArray[Any]:
        return source.array()

    return Frame(
        position_lps=(position[0], position[1], position[2]),
        orientation_lps=orientation,
        pixel_spacing=(spacing[0], spacing[1]),
        rows=int(ds.get("Rows", 0)),
        columns=int(ds.get("Columns", 0)),
        load=load,
        order=order,
        slope=_float(ds, "RescaleSlope", 1.0),
        intercept=_float(ds, "RescaleIntercept", 0.0),
        thickness=_float(ds, "SliceThickness", 0.0),
        info={
            "instance": ds,
            "trigger_time_ms": ds.get("TriggerTime"),
            "path": source.path,
            "transfer_syntax": source.syntax,
        },
    )


def is_mosaic(ds: Dataset) -> bool:
    """A Siemens mosaic: 'MOSAIC' in (0008,0008), unless its CSA header counts one tile.

    A mosaic whose CSA header was removed (some de-identification tools strip group 0029)
    still is one: read as a single image it would be a tiled picture placed as one slice.
    """
    image_type = [str(v).upper() for v in ds.get("ImageType", [])]
    if "MOSAIC" not in image_type:
        return False
    n = csa_value(csa_header(ds), "NumberOfImagesInMosaic")
    return n is None or int(n) > 1


def mosaic_frames(ds: Dataset, source: PixelSource, order: tuple[Any, ...]) -> list[Frame]:
    """The slices tiled in a Siemens mosaic, each placed where the scanner acquired it.

    The mosaic's (0020,0032) is the corner of the whole tiled image, not of a slice;
    the first slice's corner lies half the unused width and height further in, and slice
    ``s`` sits ``s`` slice spacings along the CSA 'SliceNormalVector' (which may point
    against row × column when slices were acquired descending).
    """
    csa = csa_header(ds)
    count = csa_value(csa, "NumberOfImagesInMosaic")
    normal_csa = csa.get("SliceNormalVector")
    if count is None or normal_csa is None or len(normal_csa) != 3:
        raise ConversionError(
            "Siemens mosaic without its CSA image header (0029,1010) 'NumberOfImagesInMosaic' "
            "and 'SliceNormalVector': the direction its tiles are stacked in is unknown "
            "(head-first and foot-first stacks look alike), so it is not converted"
        )
    n_slices = int(count)
    position, orientation, spacing = _geometry(ds, "mosaic")
    rows, cols = int(ds.Rows), int(ds.Columns)
    tiles = math.ceil(math.sqrt(n_slices))
    if rows % tiles or cols % tiles:
        raise ConversionError(f"mosaic of {rows}x{cols} cannot hold {tiles}x{tiles} equal tiles")
    t_rows, t_cols = rows // tiles, cols // tiles
    iop = np.asarray(orientation).reshape(2, 3)
    normal = np.asarray(normal_csa, dtype=np.float64)
    normal /= np.linalg.norm(normal)
    # dcm2niix keeps a mosaic's storage order (Siemens sagittal mosaics run R>>L), except
    # that mosaics stored head-to-foot (first tile = last protocol slice) are reversed.
    direction = normal.copy()
    reversed_tiles = (csa_value(csa, "ProtocolSliceNumber") or 0) > 0
    if reversed_tiles:
        direction = -direction
    against = float(np.dot(normal, np.cross(iop[0], iop[1]))) < 0
    step = _float(ds, "SpacingBetweenSlices", 0.0) or _float(ds, "SliceThickness", 0.0)
    if step <= 0:
        raise ConversionError(
            "mosaic has neither (0018,0088) nor (0018,0050): slice spacing unknown"
        )
    corner = (
        np.asarray(position)
        + iop[0] * spacing[1] * (cols - t_cols) / 2.0
        + iop[1] * spacing[0] * (rows - t_rows) / 2.0
    )
    source.remaining = n_slices
    frames = []
    for s in range(n_slices):
        r0, c0 = (s // tiles) * t_rows, (s % tiles) * t_cols
        pos = corner + normal * step * s

        def load(r0: int = r0, c0: int = c0) -> npt.NDArray[Any]:
            return source.array()[r0 : r0 + t_rows, c0 : c0 + t_cols]

        frames.append(
            Frame(
                position_lps=(float(pos[0]), float(pos[1]), float(pos[2])),
                orientation_lps=orientation,
                pixel_spacing=(spacing[0], spacing[1]),
                rows=t_rows,
                columns=t_cols,
                load=load,
                order=(*order, s),
                slope=_float(ds, "RescaleSlope", 1.0),
                intercept=_float(ds, "RescaleIntercept", 0.0),
                thickness=_float(ds, "SliceThickness", 0.0),
                stack_direction=(float(direction[0]), float(direction[1]), float(direction[2])),
                info={
                    "mosaic_slice": s,
                    "instance": ds,
                    # CSA normal against row x column; tiles stored from the last slice
                    "normal_against_row_column": against,
                    "tiles_reversed": reversed_tiles,
                },
            )
        )
    return frames


def is_enhanced(ds: Dataset) -> bool:
    """Multi-frame with functional groups (enhanced CT/MR/PET and similar IODs)."""
    return "PerFrameFunctionalGroupsSequence" in ds and int(ds.get("NumberOfFrames", 1) or 1) >= 1


def functional_group(ds: Dataset, index: int, keyword: str) -> Dataset | None:
    """First item of a functional group macro for frame ``index``: per-frame, else shared."""
    per_frame = ds.PerFrameFunctionalGroupsSequence[index]
    if keyword in per_frame and per_frame[keyword].value:
        item: Dataset = per_frame[keyword].value[0]
        return item
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and keyword in shared[0] and shared[0][keyword].value:
        item = shared[0][keyword].value[0]
        return item
    return None


def enhanced_frames(ds: Dataset, source: PixelSource, order: tuple[Any, ...]) -> list[Frame]:
    """Every frame of an enhanced multi-frame image, from its functional groups (C.7.6.16)."""
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if len(ds.PerFrameFunctionalGroupsSequence) != n_frames:
        raise ConversionError(
            f"(5200,9230) 'Per-Frame Functional Groups Sequence' has "
            f"{len(ds.PerFrameFunctionalGroupsSequence)} items for {n_frames} frames"
        )
    source.remaining = n_frames
    frames = []
    for i in range(n_frames):
        pos_item = functional_group(ds, i, "PlanePositionSequence")
        ori_item = functional_group(ds, i, "PlaneOrientationSequence")
        pix_item = functional_group(ds, i, "PixelMeasuresSequence")
        if pos_item is None or ori_item is None or pix_item is None:
            raise ConversionError(
                f"frame {i + 1} lacks plane position, orientation or pixel measures"
            )
        position, orientation, spacing = (
            _floats(pos_item.ImagePositionPatient, 3, "(0020,0032) 'Image Position (Patient)'"),
            _floats(
                ori_item.ImageOrientationPatient, 6, "(0020,0037) 'Image Orientation (Patient)'"
            ),
            _floats(pix_item.PixelSpacing, 2, "(0028,0030) 'Pixel Spacing'"),
        )
        scale = functional_group(ds, i, "PixelValueTransformationSequence")
        content = functional_group(ds, i, "FrameContentSequence")
        temporal = int(content.get("TemporalPositionIndex", 0) or 0) if content is not None else 0
        info = enhanced_frame_info(ds, i)

        def load(i: int = i) -> npt.NDArray[Any]:
            arr = source.array()
            return arr[i] if n_frames > 1 else arr

        frames.append(
            Frame(
                position_lps=(position[0], position[1], position[2]),
                orientation_lps=orientation,
                pixel_spacing=(spacing[0], spacing[1]),
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                load=load,
                order=(*order, temporal, i),
                slope=_float(scale, "RescaleSlope", 1.0) if scale is not None else 1.0,
                intercept=_float(scale, "RescaleIntercept", 0.0) if scale is not None else 0.0,
                thickness=_float(pix_item, "SliceThickness", 0.0),
                info=info,
            )
        )
    return frames


_PHILIPS_PRIVATE_FRAME = (0x2005, 0x140F)


def enhanced_frame_info(ds: Dataset, index: int) -> dict[str, Any]:
    """Per-frame values that split or describe outputs: frame type, echo, diffusion."""
    info: dict[str, Any] = {"instance": ds, "frame_index": index}
    frame_type = functional_group(ds, index, "MRImageFrameTypeSequence") or functional_group(
        ds, index, "CTImageFrameTypeSequence"
    )
    if frame_type is not None:
        info["frame_type"] = tuple(str(v) for v in frame_type.get("FrameType", []))
        info["complex_component"] = str(frame_type.get("ComplexImageComponent", "") or "")
    echo = functional_group(ds, index, "MREchoSequence")
    if echo is not None and echo.get("EffectiveEchoTime") is not None:
        info["echo_time"] = float(echo.EffectiveEchoTime)
    per_frame = ds.PerFrameFunctionalGroupsSequence[index]
    private = per_frame.get(_PHILIPS_PRIVATE_FRAME)
    if private is not None and private.value:
        item = private.value[0]
        if item.get("EchoNumbers") not in (None, ""):
            info["echo_number"] = int(item.EchoNumbers)
    diffusion = functional_group(ds, index, "MRDiffusionSequence")
    if diffusion is not None and diffusion.get("DiffusionBValue") is not None:
        info["bvalue"] = float(diffusion.DiffusionBValue)
        grad = diffusion.get("DiffusionGradientDirectionSequence")
        if grad and grad[0].get("DiffusionGradientOrientation") is not None:
            info["gradient_lps"] = tuple(float(v) for v in grad[0].DiffusionGradientOrientation)
    return info

"""WADO-RS ``/rendered`` and ``/thumbnail``: a frame as a consumer image (PS3.18 8.3.5).

The grayscale pipeline is PS3.3 C.11's: stored values through the Modality LUT
(Rescale Slope/Intercept, or the Modality LUT Sequence), then the VOI LUT (the
``window`` query parameter, else the file's first Window Center/Width, else its VOI LUT
Sequence, else the frame's range), then the Presentation LUT (MONOCHROME1 inverted).
Colour frames are shown as RGB (YBR converted by pydicom's decoders or here). The
``viewport`` parameter (PS3.18 8.3.5.1.3) selects a source region and fits it into
``vw`` × ``vh`` with the aspect ratio kept; ``quality`` is JPEG's (1-100).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import (
    apply_color_lut,
    apply_modality_lut,
    apply_voi_lut,
    convert_color_space,
)

from medbridge.errors import QueryError
from medbridge.web.dicomweb._pixels import PixelLayout, decoded_frame

__all__ = [
    "RENDER_TYPES",
    "RenderOptions",
    "parse_options",
    "render",
    "render_animation",
]

#: The media types ``/rendered`` produces and Pillow's format for each.
RENDER_TYPES: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF"}
#: The longest side of a thumbnail when no viewport is given.
THUMBNAIL_SIZE = 128


@dataclass(frozen=True)
class RenderOptions:
    """What the query asks of a rendered image."""

    window: tuple[float, float, str] | None = None
    viewport: tuple[int, int, float | None, float | None, float | None, float | None] | None = None
    quality: int = 90


def _numbers(name: str, text: str, count: tuple[int, ...]) -> list[str]:
    pieces = [p.strip() for p in text.split(",")]
    if len(pieces) not in count:
        raise QueryError(f"{name}={text[:80]!r}: expected {' or '.join(map(str, count))} values")
    return pieces


def parse_options(window: str | None, viewport: str | None, quality: str | None) -> RenderOptions:
    """Parse the ``window``, ``viewport`` and ``quality`` query parameters.

    Raises
    ------
    QueryError
        400: a parameter is malformed (PS3.18 8.3.5.1: "shall be ... ").
    """
    win: tuple[float, float, str] | None = None
    if window:
        pieces = _numbers("window", window, (2, 3))
        function = (pieces[2] if len(pieces) == 3 else "linear").lower()
        if function not in ("linear", "linear_exact", "sigmoid"):
            raise QueryError(f"window function {function!r}: linear, linear_exact or sigmoid")
        try:
            center, width = float(pieces[0]), float(pieces[1])
        except ValueError:
            raise QueryError(f"window={window[:80]!r}: center and width are numbers") from None
        if not (np.isfinite(center) and np.isfinite(width)) or (width < 1 and function == "linear"):
            raise QueryError(f"window={window[:80]!r}: the width must be at least 1")
        if width <= 0:
            raise QueryError(f"window={window[:80]!r}: the width must be positive")
        win = (center, width, function)
    port = None
    if viewport:
        pieces = _numbers("viewport", viewport, (2, 6))
        try:
            vw, vh = int(pieces[0]), int(pieces[1])
            region = [float(p) if p else None for p in pieces[2:]] + [None] * (6 - len(pieces))
        except ValueError:
            raise QueryError(f"viewport={viewport[:80]!r}: values are numbers") from None
        if not (0 < vw <= 8192 and 0 < vh <= 8192):
            raise QueryError(f"viewport={viewport[:80]!r}: width and height in 1..8192")
        port = (vw, vh, region[0], region[1], region[2], region[3])
    q = 90
    if quality:
        try:
            q = int(quality)
        except ValueError:
            raise QueryError(f"quality={quality[:20]!r} is not an integer") from None
        if not 1 <= q <= 100:
            raise QueryError(f"quality={q}: between 1 and 100")
    return RenderOptions(win, port, q)


def _voi(values: npt.NDArray[Any], center: float, width: float, function: str) -> npt.NDArray[Any]:
    """PS3.3 C.11.2.1.2-3: map values to 0..1 through the window."""
    if function == "sigmoid":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "linear_exact":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _first(value: Any) -> float | None:
    """The first value of a (possibly multi-valued) number, or None."""
    if isinstance(value, list | tuple | MultiValue):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _modality(ds: Dataset, values: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """PS3.3 C.11.1: stored values to modality values (Rescale, or the LUT Sequence)."""
    if "ModalityLUTSequence" in ds:
        return np.asarray(apply_modality_lut(values, ds), dtype=np.float32)
    slope = _first(ds.get("RescaleSlope")) or 1.0
    intercept = _first(ds.get("RescaleIntercept")) or 0.0
    out = values.astype(np.float32)
    if slope != 1.0:
        out *= np.float32(slope)
    if intercept:
        out += np.float32(intercept)
    return out


def _to_gray(
    ds: Dataset, values: npt.NDArray[Any], options: RenderOptions, present: npt.NDArray[Any]
) -> npt.NDArray[np.uint8]:
    """Map stored `values` to 8-bit display values; `present` are the frame's own values
    (their range stands in for a window when the file names none)."""
    modality = _modality(ds, values)
    if options.window is not None:
        scaled = _voi(modality, *options.window)
    else:
        center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").lower()
        if center is not None and width is not None and width >= 1:
            if function not in ("sigmoid", "linear_exact"):
                function = "linear"
            scaled = _voi(modality, center, width, function)
        else:
            mapped = modality
            if "VOILUTSequence" in ds:
                mapped = np.asarray(apply_voi_lut(modality, ds), dtype=np.float32)
            shown = mapped[present]
            low, high = float(shown.min()), float(shown.max())
            scaled = (mapped - low) / ((high - low) or 1.0)
    out = np.rint(scaled * 255.0).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        out = 255 - out
    return out


def _grayscale(
    layout: PixelLayout, frame: npt.NDArray[Any], options: RenderOptions
) -> npt.NDArray[np.uint8]:
    """The grayscale pipeline, as a lookup table over the frame's stored values when they
    are 8 or 16-bit integers: a table of a few thousand entries costs far less than the
    arithmetic on a 512x512 frame, which then needs one indexing pass."""
    ds = layout.header
    if frame.dtype.kind in "ui" and frame.dtype.itemsize <= 2:
        low, high = int(frame.min()), int(frame.max())
        values = np.arange(low, high + 1, dtype=np.int32)
        bits = 8 * frame.dtype.itemsize
        table = np.zeros(1 << bits, dtype=np.uint8)  # indexed by the unsigned bit pattern
        table[values & ((1 << bits) - 1)] = _to_gray(
            ds, values, options, np.ones_like(values, bool)
        )
        return np.take(table, frame.view(np.dtype(f"u{frame.dtype.itemsize}")))
    return _to_gray(ds, frame, options, np.ones(frame.shape, dtype=bool))


def _colour(layout: PixelLayout, frame: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    photometric = str(layout.header.get("PhotometricInterpretation", "RGB")).strip()
    if photometric.startswith("YBR") and layout.direct and not layout.encapsulated:
        # read by offset, not through pydicom (whose decoders already give RGB)
        frame = convert_color_space(frame, "YBR_FULL", "RGB")
    if frame.dtype != np.uint8:
        bits = int(layout.header.get("BitsStored", 8) or 8)
        frame = np.clip(frame.astype(np.float32) * (255.0 / ((1 << bits) - 1)), 0, 255).astype(
            np.uint8
        )
    return np.ascontiguousarray(frame)


def _fit(image: Image.Image, options: RenderOptions, thumbnail: bool) -> Image.Image:
    port = options.viewport
    if port is None:
        if thumbnail and max(image.size) > THUMBNAIL_SIZE:
            return _scaled(image, THUMBNAIL_SIZE / max(image.size))
        return image
    vw, vh, sx, sy, sw, sh = port
    if any(v is not None for v in (sx, sy, sw, sh)):
        x0, y0 = sx or 0.0, sy or 0.0
        w = sw if sw is not None else image.width - x0
        h = sh if sh is not None else image.height - y0
        flip_x, flip_y = w < 0, h < 0
        left, right = sorted((x0, x0 + w))
        top, bottom = sorted((y0, y0 + h))
        box = (
            max(0, int(left)),
            max(0, int(top)),
            min(image.width, int(right)),
            min(image.height, int(bottom)),
        )
        if box[2] <= box[0] or box[3] <= box[1]:
            raise QueryError(
                f"viewport region {port[2:]} lies outside the {image.width}x{image.height} image"
            )
        image = image.crop(box)
        if flip_x:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if flip_y:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return _scaled(image, min(vw / image.width, vh / image.height))


def _scaled(image: Image.Image, scale: float) -> Image.Image:
    """`image` scaled by `scale`: a box reduction by the whole factor first (cheap), then
    bilinear for the rest."""
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    factor = int(1 / scale) if scale < 1 else 1
    if factor >= 2:
        image = image.reduce(factor)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return image


def _frame_image(layout: PixelLayout, index: int, options: RenderOptions) -> Image.Image:
    """Frame `index` as an 8-bit Pillow image: RGB for colour and palette, L for gray."""
    frame = decoded_frame(layout, index)
    photometric = str(layout.header.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR" and frame.ndim == 2:
        rgb = apply_color_lut(frame, layout.header)  # PS3.3 C.7.6.3.1.5-6
        descriptor = layout.header.get("RedPaletteColorLookupTableDescriptor") or [0, 0, 8]
        if int(descriptor[2]) > 8:  # 16-bit entries: keep the high byte
            rgb = rgb >> (int(descriptor[2]) - 8)
        return Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if frame.ndim == 3 and frame.shape[-1] in (3, 4):
        return Image.fromarray(_colour(layout, frame[..., :3]), mode="RGB")
    if frame.ndim == 3:
        frame = frame[..., 0]
    return Image.fromarray(_grayscale(layout, frame, options), mode="L")


def render_animation(layout: PixelLayout, options: RenderOptions) -> bytes:
    """Every frame of a multi-frame instance as one animated GIF (PS3.18 8.3.5: a
    rendered multi-frame instance may be a multi-frame media type)."""
    images = [_fit(_frame_image(layout, i, options), options, False) for i in range(layout.frames)]
    out = io.BytesIO()
    seconds = _first(layout.header.get("FrameTime"))
    duration = int(seconds) if seconds and seconds > 0 else 100  # (0018,1063) is in ms
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    return out.getvalue()


def render(
    layout: PixelLayout,
    index: int,
    media_type: str,
    options: RenderOptions,
    *,
    thumbnail: bool = False,
) -> bytes:
    """Return frame `index` (0-based) of `layout` rendered as `media_type`.

    Raises
    ------
    InvalidDicomError
        The frame cannot be decoded.
    QueryError
        The viewport selects nothing of the image.
    """
    image = _frame_image(layout, index, options)
    image = _fit(image, options, thumbnail)
    out = io.BytesIO()
    fmt = RENDER_TYPES[media_type]
    if fmt == "JPEG":
        image.save(out, fmt, quality=options.quality)
    elif fmt == "PNG":
        image.save(out, fmt, compress_level=1)
    else:
        image.save(out, fmt)
    return out.getvalue()

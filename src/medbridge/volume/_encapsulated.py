"""Decoding a compressed single-frame image the cheapest exact way.

pydicom's generic path (parse the whole file, then its decoding pipeline) costs more
than some decoders themselves, and for some syntaxes it tries a slow plugin first:

* RLE Lossless: the frame's bytes are read at the offset the fast scan found and given
  to pylibjpeg-rle (the plugin pydicom itself would use) directly; its output, viewed
  as the header's dtype with the unused high bits shifted out, is what pydicom returns
  for a single-sample image, at about half the cost (measured: 0.66 against 1.3 ms a
  512×512 slice).
* JPEG-LS: pydicom tries pylibjpeg (libjpeg) before pyjpegls (CharLS); JPEG-LS
  decoding is exact by definition (ISO 14495-1, lossless and near-lossless alike), and
  CharLS is about four times faster here (measured: 4.9 against 20.5 ms a slice), so
  pyjpegls is asked first.

Whatever does not fit (colour, multi-frame, a plugin missing or failing) returns None
and the caller decodes with pydicom's default pipeline, which stays the reference and
raises the errors users see.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.encaps import generate_frames
from pydicom.uid import JPEGLSLossless, JPEGLSNearLossless, RLELossless

from medbridge.volume._native import Header, fix_bits, plane_layout, syntax_of

__all__ = ["decode_with_preferred_plugin", "read_rle_frame"]

#: Faster pydicom decoding plugins to try first, by transfer syntax.
_PREFERRED_PLUGINS: dict[str, str] = {
    str(JPEGLSLossless): "pyjpegls",
    str(JPEGLSNearLossless): "pyjpegls",
}


def read_rle_frame(
    path: str, header: Header, *, offset: int, syntax: str | None = None
) -> npt.NDArray[Any] | None:
    """The ``(rows, columns)`` stored values of a single-frame RLE image, or None.

    ``offset`` is where the (7FE0,0010) value (the encapsulated items) starts.
    """
    if syntax_of(header, syntax) != RLELossless:
        return None
    layout = plane_layout(header)
    if layout is None:
        return None
    try:
        from rle.rle import decode_frame
    except ImportError:
        return None
    rows, columns, dtype, stored, allocated = layout
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    try:
        frame = next(generate_frames(data, number_of_frames=1))
        decoded = decode_frame(frame, rows * columns, allocated, "<")
    except Exception:  # any trouble: pydicom's pipeline decides and reports
        return None
    if len(decoded) != rows * columns * dtype.itemsize:
        return None
    arr = np.frombuffer(decoded, dtype=dtype.newbyteorder("<")).reshape(rows, columns)
    return fix_bits(arr, stored, allocated)


def decode_with_preferred_plugin(path: str, syntax: str) -> npt.NDArray[Any] | None:
    """All frames of ``path`` decoded by pydicom with the faster plugin, or None."""
    plugin = _PREFERRED_PLUGINS.get(syntax)
    if plugin is None:
        return None
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.pixels.utils import pixel_array

    if plugin not in get_decoder(syntax).available_plugins:
        return None
    try:
        arr: npt.NDArray[Any] = pixel_array(path, decoding_plugin=plugin)
    except Exception:  # the plugin refused this stream: pydicom's default order decides
        return None
    return arr

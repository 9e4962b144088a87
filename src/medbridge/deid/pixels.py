"""Blanking regions of pixel data (Clean Pixel Data Option, PS3.15 E.3.1).

Burned-in text (names, dates, IDs printed into ultrasound, secondary capture or scanned
images) cannot be found by reading attributes. The user names the rectangles that hold
it; every frame has them set to zero. Compressed pixel data is decoded first and written
back uncompressed (Explicit VR Little Endian), because re-encoding lossy data again would
change more than the mask.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from medbridge.deid.policy import PixelRegion
from medbridge.errors import DeidentificationError

__all__ = ["blank_regions"]


def blank_regions(ds: Dataset, regions: Sequence[PixelRegion]) -> None:
    """Set the pixels inside ``regions`` to zero in every frame of ``ds``.

    Raises
    ------
    DeidentificationError
        When the dataset has no pixel data or it cannot be decoded: an image that should
        be cleaned and cannot be is not let through.
    """
    if "PixelData" not in ds:
        raise DeidentificationError("a pixel mask was given but the dataset has no pixel data")
    try:
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress()
        arr = ds.pixel_array.copy()
    except Exception as exc:  # decoders raise many kinds
        raise DeidentificationError(f"cannot decode pixel data to blank it: {exc}") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    view = arr if frames > 1 else arr[None, ...]
    if samples == 1:
        view = view[..., None]
    rows, cols = view.shape[1], view.shape[2]
    for r in regions:
        if r.y >= rows or r.x >= cols:
            raise DeidentificationError(f"pixel region {r} lies outside the {cols}x{rows} image")
        view[:, r.y : r.y + r.height, r.x : r.x + r.width, :] = 0
    ds.set_pixel_data(arr, str(ds.PhotometricInterpretation), int(ds.BitsStored))

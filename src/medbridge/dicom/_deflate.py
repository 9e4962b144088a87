"""Deflated Image Frame Compression (PS3.5 8.2.16, A.4.13; Supplement 244, 2024).

Each frame of an Explicit VR Little Endian data set is compressed on its own with the
Deflate algorithm (RFC 1951) and encapsulated, one fragment per frame. pydicom learns
the syntax only in 3.1 (``DeflatedImageFrameCompressionDecoder``); until then a file in
it reads fine (its data set is plain Explicit VR Little Endian) but its pixels cannot
be decoded. :func:`inflate_frames` turns such a data set into its native equivalent in
memory, so every pixel reader (``load_pixels``, conversion) decodes it as native data.
Inflating is bounded by the frame size the header gives: a frame that inflates past it
is refused, never held.
"""

from __future__ import annotations

import zlib

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian

from medbridge.errors import InvalidDicomError

__all__ = ["DEFLATED_IMAGE_FRAME_COMPRESSION", "inflate_frames", "is_deflated_frames"]

DEFLATED_IMAGE_FRAME_COMPRESSION = "1.2.840.10008.1.2.8.1"


def is_deflated_frames(transfer_syntax_uid: object) -> bool:
    """Whether a transfer syntax is Deflated Image Frame Compression."""
    return str(transfer_syntax_uid or "").strip("\x00 ") == DEFLATED_IMAGE_FRAME_COMPRESSION


def _frame_bytes(ds: Dataset) -> int:
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.BitsAllocated)
    return (rows * columns * samples * bits + 7) // 8


def inflate_frames(ds: Dataset, *, path: str | None = None) -> None:
    """Replace ``ds``'s deflated frames with native pixel data (Explicit VR Little Endian).

    Raises
    ------
    InvalidDicomError
        A frame does not inflate (damaged stream), inflates to another size than Rows ×
        Columns × Samples × Bits Allocated give, or the attributes are missing.
    """
    try:
        size = _frame_bytes(ds)
        count = int(ds.get("NumberOfFrames", 1) or 1)
        data = ds.PixelData
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidDicomError(
            f"Deflated Image Frame Compression without the image attributes: {exc}", path=path
        ) from exc
    bits = int(ds.BitsAllocated)
    if (
        bits == 1
        and count > 1
        and (size * 8) != int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1)
    ):
        raise InvalidDicomError(
            "Deflated Image Frame Compression of 1-bit frames that do not end on a byte: "
            "not supported",
            path=path,
        )
    frames = []
    try:
        for number, fragment in enumerate(generate_frames(data, number_of_frames=count), 1):
            frames.append(_inflate(fragment, size, number))
    except InvalidDicomError as exc:
        raise InvalidDicomError(exc.reason, path=path) from None
    except (ValueError, EOFError, zlib.error) as exc:
        raise InvalidDicomError(f"deflated frames unreadable: {exc}", path=path) from exc
    if len(frames) != count:
        raise InvalidDicomError(
            f"(0028,0008) 'Number of Frames' is {count} but the pixel data holds "
            f"{len(frames)} deflated frames",
            path=path,
        )
    native = b"".join(frames)
    if len(native) % 2:
        native += b"\x00"
    ds.PixelData = native
    ds["PixelData"].VR = "OW" if bits > 8 else "OB"
    ds["PixelData"].is_undefined_length = False
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def _inflate(fragment: bytes, size: int, number: int) -> bytes:
    """One frame: raw Deflate as PS3.5 A.4.13 writes it, or zlib-wrapped as some do."""
    for wbits in (-zlib.MAX_WBITS, zlib.MAX_WBITS | 32):
        inflater = zlib.decompressobj(wbits)
        try:
            frame = inflater.decompress(fragment, size + 1)
        except zlib.error:
            continue
        if len(frame) > size or inflater.unconsumed_tail:
            raise InvalidDicomError(f"deflated frame {number} inflates past {size} bytes")
        if len(frame) < size:
            raise InvalidDicomError(
                f"deflated frame {number} inflates to {len(frame)} bytes, not {size}"
            )
        return frame
    raise InvalidDicomError(f"deflated frame {number} is not a Deflate stream")

"""Instances with pixel data in several layouts, for the WADO-RS pixel tests.

Generated with pydicom's encoders (RLE, JPEG-LS, JPEG 2000 lossless) over the archive
factory's CT dataset made multi-frame, with each way of locating frames PS3.5 A.4
allows: a Basic Offset Table, none (one fragment per frame), an Extended Offset Table;
plus pydicom's bundled files (Part 10 as a vendor wrote them) for colour, lossy JPEG,
JPEG-LS near-lossless and big endian.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from archive.factory import ROOT, Spec, make_dataset

FRAMES = 3
SIZE = 32
STUDY = 50


@dataclass(frozen=True)
class Stored:
    """One instance to store: its name in test ids, its UIDs and its Part 10 bytes."""

    name: str
    study: str
    series: str
    sop: str
    data: bytes

    @property
    def path(self) -> str:
        return f"/studies/{self.study}/series/{self.series}/instances/{self.sop}"


def _pixels() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 4096, (FRAMES, SIZE, SIZE), dtype=np.uint16)


def _multiframe(number: int) -> Dataset:
    ds = make_dataset(Spec(study=STUDY, series=1, number=number, size=SIZE))
    ds.NumberOfFrames = FRAMES
    ds.PixelData = _pixels().tobytes()
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    return ds


def _part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _stored(name: str, ds: Dataset) -> Stored:
    return Stored(name, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, _part10(ds))


def generated() -> list[Stored]:
    """Multi-frame instances: native, RLE, JPEG-LS and JPEG 2000 with each offset table."""
    out = [_stored("native", _multiframe(1))]
    for number, (name, uid) in enumerate(
        [("rle", RLELossless), ("jpegls", JPEGLSLossless), ("j2k", JPEG2000Lossless)], start=2
    ):
        ds = _multiframe(number)
        ds.compress(uid)
        out.append(_stored(name, ds))
    frames = _frames_of(out[1])  # RLE frames, re-encapsulated without and with tables
    ds = _multiframe(5)
    ds.PixelData = encapsulate(frames, has_bot=False)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = RLELossless
    out.append(_stored("rle-no-bot", ds))
    ds = _multiframe(6)
    ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
        frames
    )
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = RLELossless
    out.append(_stored("rle-eot", ds))
    return out


def _frames_of(item: Stored) -> list[bytes]:
    from pydicom.encaps import generate_frames

    ds = dcmread(io.BytesIO(item.data))
    return list(generate_frames(ds.PixelData, number_of_frames=FRAMES))


def bundled(number: int, name: str) -> Stored:
    """A pydicom test file with UIDs of its own (several share theirs), in study 60.

    The dataset is read and written back as it was encoded (pixel data untouched).
    """
    path = get_testdata_file(name)
    assert path is not None, name
    ds = dcmread(path)
    ds.StudyInstanceUID = f"{ROOT}.60"
    ds.SeriesInstanceUID = f"{ROOT}.60.{number}"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{ROOT}.60.{number}.1"
    out = io.BytesIO()
    ds.save_as(out)
    return Stored(
        name, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, out.getvalue()
    )


#: Bundled files: colour RLE, YBR baseline JPEG, colour JPEG lossless, lossy 12-bit
#: JPEG, JPEG-LS near-lossless, JPEG 2000, big endian, implicit VR, CT.
BUNDLED = (
    "SC_rgb_rle.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_gdcm.dcm",
    "JPEG-lossy.dcm",
    "JPEGLSNearLossless_16.dcm",
    "JPEG2000.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "CT_small.dcm",
)


def monochrome1() -> Stored:
    """A native MONOCHROME1 instance: a ramp, so inversion is visible."""
    ds = make_dataset(Spec(study=STUDY, series=2, number=1, size=SIZE))
    ds.PhotometricInterpretation = "MONOCHROME1"
    ramp = np.tile(np.linspace(0, 4095, SIZE, dtype=np.uint16), (SIZE, 1))
    ds.PixelData = ramp.tobytes()
    ds.RescaleIntercept = 0
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    return _stored("monochrome1", ds)


def with_bulk_elements() -> Stored:
    """A native instance with a large OB value inside a sequence item and on top."""
    ds = make_dataset(Spec(study=STUDY, series=3, number=1, size=SIZE))
    ds.SOPInstanceUID = generate_uid(prefix="1.2.826.0.1.3680043.10.1337.9.")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    item = Dataset()
    item.add_new(0x00420011, "OB", bytes(range(256)) * 8)  # Encapsulated Document, 2 KB
    ds.add_new(0x00400260, "SQ", [item])  # Performed Protocol Code Sequence, reused
    ds.add_new(0x00420011, "OB", bytes(reversed(range(256))) * 16)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return _stored("bulk", ds)


def palette() -> Stored:
    """A native PALETTE COLOR instance: index i shows as (i, 255 - i, 0) (8-bit LUTs)."""
    ds = make_dataset(Spec(study=STUDY + 1, series=1, number=1, size=SIZE))
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    del ds.RescaleIntercept, ds.RescaleSlope
    ds.PixelData = np.tile(np.arange(SIZE, dtype=np.uint8) * 8, (SIZE, 1)).tobytes()
    ramp = np.arange(256, dtype=np.uint16)
    for colour, values in (("Red", ramp), ("Green", 255 - ramp), ("Blue", 0 * ramp)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 8])
        setattr(ds, f"{colour}PaletteColorLookupTableData", values.astype("<u2").tobytes())
        ds[f"{colour}PaletteColorLookupTableData"].VR = "OW"
    return _stored("palette", ds)


def ybr_native() -> Stored:
    """A native YBR_FULL instance of one colour: RGB (200, 40, 90) once converted."""
    from pydicom.pixels.processing import convert_color_space

    ds = make_dataset(Spec(study=STUDY + 1, series=2, number=1, size=SIZE))
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    del ds.RescaleIntercept, ds.RescaleSlope
    rgb = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    rgb[...] = (200, 40, 90)
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    return _stored("ybr", ds)


def all_instances() -> list[Stored]:
    """Everything the pixel tests store."""
    return [
        *generated(),
        *(bundled(i, n) for i, n in enumerate(BUNDLED, start=1)),
        monochrome1(),
        with_bulk_elements(),
        palette(),
        ybr_native(),
    ]


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart body: (headers with lower-case names, content)."""
    boundary = next(
        p.strip().split("=", 1)[1].strip('"')
        for p in content_type.split(";")
        if p.strip().lower().startswith("boundary=")
    )
    delimiter = f"--{boundary}".encode()
    assert body.startswith(delimiter), body[:80]
    assert body.rstrip(b"\r\n").endswith(delimiter + b"--")
    pieces = body.split(b"\r\n" + delimiter)
    pieces[0] = pieces[0][len(delimiter) :]
    out = []
    for piece in pieces[:-1] if pieces[-1].startswith(b"--") else pieces:
        head, _, content = piece.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        out.append((headers, content))
    return out

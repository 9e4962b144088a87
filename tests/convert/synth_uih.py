"""UIH (United Imaging) mosaics built with pydicom: one file per volume, slices in a grid.

UIH saves EPI and DTI volumes as "virtual frames" ('VFRAME' in (0008,0008)): one image
holding a grid of slices, with the slice count in (0065,1050) and, instead of a
top-level (0020,0032), one item per slice in the private sequence (0065,1051) giving that
slice's position and acquisition time; b-value and gradient are in (0065,1009)/(0065,1037)
(private creator "Image Private Header").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import MRImageStorage, generate_uid

from convert.synth import SeriesSpec, new_instance, slice_order

CREATOR = "Image Private Header"


def write_uih_mosaic(
    spec: SeriesSpec,
    folder: Path,
    *,
    bvals: Sequence[float] | None = None,
    bvecs: Sequence[Sequence[float]] | None = None,
    phase: str = "COL",
    top_down: bool = False,
    item_times: bool = False,
    displayed_phase: str = "",
) -> list[Path]:
    """One grid file per volume of ``spec`` (tile = ``rows`` × ``columns``); returns paths.

    The grid has ⌈√n⌉ tiles per row; its first tile is the lowest slice along row ×
    column, or the highest when ``top_down``. Each item holds the slice's (0008,002A),
    and its (0008,0032) too when ``item_times``; ``displayed_phase`` is (0065,1005).
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = spec.slices
    tiles = math.ceil(math.sqrt(n))  # tiles per row of the grid
    rows, cols = spec.rows * math.ceil(n / tiles), spec.columns * tiles
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    tr = spec.repetition_ms
    order = slice_order(spec)
    paths = []
    for t in range(spec.volumes):
        ds = new_instance(MRImageStorage)
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "MR", "UIH", "uMR 790"
        ds.SoftwareVersions = "R005"
        ds.PatientName, ds.PatientID, ds.PatientPosition = "Doe^Jane", "PID12345", "HFS"
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240102"
        ds.StudyTime, ds.SeriesTime = "101500", "101600"
        start = 0.5 + t * tr / 1000.0
        ds.AcquisitionTime = f"1017{start:09.6f}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.AcquisitionNumber, ds.InstanceNumber = spec.series_number, 1, t + 1
        ds.SeriesDescription = ds.ProtocolName = spec.name
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "VFRAME"]
        ds.ImageOrientationPatient = [f"{v:.8g}" for v in spec.orientation]
        ds.PixelSpacing = [f"{v:g}" for v in spec.pixel_spacing]
        ds.SliceThickness = ds.SpacingBetweenSlices = f"{spec.slice_gap:g}"
        ds.MagneticFieldStrength, ds.EchoTime, ds.RepetitionTime = "3", "80", f"{tr:g}"
        ds.FlipAngle, ds.ScanningSequence, ds.SequenceVariant = "90", "EP", "SK"
        ds.MRAcquisitionType, ds.InPlanePhaseEncodingDirection = "2D", phase
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        pixels = np.zeros((rows, cols), dtype=np.uint16)
        items = []
        for k in range(n):
            r0, c0 = (k // tiles) * spec.rows, (k % tiles) * spec.columns
            place = n - 1 - k if top_down else k
            pixels[r0 : r0 + spec.rows, c0 : c0 + spec.columns] = spec.pixels(place, t)
            item = Dataset()
            seconds = start + order.index(place) * tr / 1000.0 / n
            item.AcquisitionDateTime = f"202401021017{seconds:09.6f}"
            if item_times:
                item.AcquisitionTime = f"1017{seconds:09.6f}"
            item.ImagePositionPatient = [f"{v:.6f}" for v in spec.position(place)]
            item.SliceLocation = f"{float(spec.position(place) @ spec.normal()):.6f}"
            items.append(item)
        ds.PixelData = pixels.tobytes()
        block = ds.private_block(0x0065, CREATOR, create=True)
        block.add_new(0x50, "DS", str(n))
        block.add_new(0x51, "SQ", DicomSequence(items))
        if displayed_phase:
            block.add_new(0x05, "SH", displayed_phase)
        if bvals is not None and bvecs is not None:
            ds.ScanningSequence = "EP"
            block.add_new(0x09, "FD", float(bvals[t]))
            block.add_new(0x37, "FD", [float(v) for v in bvecs[t]])
        if spec.tweak is not None:
            spec.tweak(ds, 0, t)
        path = folder / f"{spec.name}_{t + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

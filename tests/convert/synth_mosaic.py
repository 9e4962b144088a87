"""Siemens mosaics built with pydicom: tiles, CSA image/series headers, diffusion.

A Siemens EPI volume is one image whose pixels are a grid of slices ("MOSAIC" in
(0008,0008)); how many, their true normal and their acquisition times are in the CSA
image header (0029,1010), a binary "SV10" table. :func:`csa2` writes that table as the
scanners do; :func:`write_mosaic` writes one mosaic per volume of a
:class:`~synth.SeriesSpec` (its ``rows``/``columns`` are a tile's, its ``slices`` the
tiles), with (0020,0032) at the corner of the whole tiled image, as Siemens does.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydicom.uid import MRImageStorage, generate_uid

from convert.synth import SeriesSpec, new_instance, slice_order

#: One CSA element: its VR and its items (numbers or text).
CsaItems = dict[str, tuple[str, Sequence[object]]]


def csa2(items: CsaItems) -> bytes:
    """A CSA2 ('SV10') header: per tag a 64-byte name, VM, VR, and its items as text.

    As the scanners write it, a tag holds at least six items, the unused ones empty
    (dcm2niix reads some tags' items past the values).
    """
    out = b"SV10\x04\x03\x02\x01" + struct.pack("<II", len(items), 77)
    for name, (vr, values) in items.items():
        n_items = max(6, len(values))
        out += name.encode().ljust(64, b"\0")
        out += struct.pack("<i4sii", len(values), vr.encode().ljust(4, b"\0"), 0, n_items)
        out += struct.pack("<i", 77)
        for value in values:
            text = (f"{value:.8f}" if isinstance(value, float) else str(value)).encode() + b"\0"
            out += struct.pack("<4i", len(text), len(text), 77, len(text))
            out += text + b"\0" * (-len(text) % 4)
        out += struct.pack("<4i", 0, 0, 205, 0) * (n_items - len(values))
    return out


def ascconv(lines: dict[str, object]) -> bytes:
    """A CSA series header holding an ASCCONV protocol ('MrPhoenixProtocol')."""
    body = "".join(f"{key}\t = \t{value}\n" for key, value in lines.items())
    text = f"### ASCCONV BEGIN ###\n{body}### ASCCONV END ###"
    return csa2({"MrPhoenixProtocol": ("UN", [text])})


#: Called per mosaic with the volume index; returns extra CSA image items for it.
CsaTweak = Callable[[int], CsaItems]


def diffusion_csa(bvals: Sequence[float], bvecs: Sequence[Sequence[float]]) -> CsaTweak:
    """CSA 'B_value' and 'DiffusionGradientDirection' (LPS) of each volume."""

    def items(t: int) -> CsaItems:
        out: CsaItems = {"B_value": ("IS", [int(bvals[t])])}
        if bvals[t] > 0:
            out["DiffusionGradientDirection"] = ("FD", [float(v) for v in bvecs[t]])
        return out

    return items


def write_mosaic(
    spec: SeriesSpec,
    folder: Path,
    *,
    reversed_normal: bool = False,
    head_to_foot: bool = False,
    phase: str = "COL",
    phase_positive: int = 1,
    csa: CsaTweak | None = None,
    protocol: dict[str, object] | None = None,
) -> list[Path]:
    """One mosaic file per volume of ``spec``; returns the paths.

    Parameters
    ----------
    reversed_normal:
        The CSA 'SliceNormalVector' points against row × column, as Siemens sagittal
        planes do (normal toward the left, rows running anterior to posterior).
    head_to_foot:
        The slices are stored from the protocol's last slice (CSA 'ProtocolSliceNumber'
        of the first tile is n − 1), and the normal is reversed, as Siemens writes
        "HF" stacks.
    phase, phase_positive:
        (0018,1312) and the CSA 'PhaseEncodingDirectionPositive'.
    csa:
        Extra CSA image items per volume (diffusion).
    protocol:
        ASCCONV lines for the CSA series header.
    """
    folder.mkdir(parents=True, exist_ok=True)
    iop = np.asarray(spec.orientation, dtype=float).reshape(2, 3)
    normal = spec.normal() * (-1.0 if reversed_normal != head_to_foot else 1.0)
    n = spec.slices
    tiles = math.ceil(math.sqrt(n))
    rows, cols = spec.rows * tiles, spec.columns * tiles
    dy, dx = spec.pixel_spacing
    first = np.asarray(spec.origin, dtype=float)
    corner = first - iop[0] * dx * (cols - spec.columns) / 2 - iop[1] * dy * (rows - spec.rows) / 2
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    tr = spec.repetition_ms
    order = slice_order(spec)
    times = [0.0] * n
    for shot, k in enumerate(order):
        times[k] = round(shot * tr / n, 4)
    paths = []
    for t in range(spec.volumes):
        ds = new_instance(MRImageStorage)
        ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "MR", "SIEMENS", "Prisma"
        ds.SoftwareVersions = "syngo MR E11"
        ds.PatientName, ds.PatientID, ds.PatientPosition = "Doe^Jane", "PID12345", "HFS"
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240102"
        ds.StudyTime, ds.SeriesTime = "101500", "101600"
        seconds = 0.5 + t * tr / 1000.0
        ds.AcquisitionTime = f"1017{seconds:09.6f}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.AcquisitionNumber, ds.InstanceNumber = spec.series_number, t + 1, t + 1
        ds.SeriesDescription = ds.ProtocolName = spec.name
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
        ds.ImageOrientationPatient = [f"{v:.8g}" for v in spec.orientation]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in corner]
        ds.PixelSpacing = [f"{v:g}" for v in spec.pixel_spacing]
        ds.SliceThickness = ds.SpacingBetweenSlices = f"{spec.slice_gap:g}"
        ds.MagneticFieldStrength, ds.EchoTime, ds.RepetitionTime = "3", "80", f"{tr:g}"
        ds.FlipAngle, ds.ScanningSequence, ds.SequenceVariant = "90", "EP", "SK\\SP"
        ds.MRAcquisitionType, ds.SequenceName = "2D", "*ep_b0"
        ds.InPlanePhaseEncodingDirection = phase
        ds.AcquisitionMatrix = (
            [spec.columns, 0, 0, spec.rows] if phase == "ROW" else [0, spec.columns, spec.rows, 0]
        )
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        pixels = np.zeros((rows, cols), dtype=np.uint16)
        for k in range(n):
            r0, c0 = (k // tiles) * spec.rows, (k % tiles) * spec.columns
            stored = n - 1 - k if head_to_foot else k
            pixels[r0 : r0 + spec.rows, c0 : c0 + spec.columns] = spec.pixels(stored, t) % 4096
        ds.PixelData = pixels.tobytes()
        items: CsaItems = {
            "NumberOfImagesInMosaic": ("US", [n]),
            "SliceNormalVector": ("FD", [float(v) for v in normal]),
            "PhaseEncodingDirectionPositive": ("IS", [phase_positive]),
            "BandwidthPerPixelPhaseEncode": ("FD", [22.5]),
            "RealDwellTime": ("IS", [2600]),
            "ProtocolSliceNumber": ("IS", [n - 1 if head_to_foot else 0]),
            "MosaicRefAcqTimes": (
                "FD",
                [times[n - 1 - k] if head_to_foot else times[k] for k in range(n)],
            ),
        }
        if csa is not None:
            items |= csa(t)
        ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        ds.add_new(0x00291010, "OB", csa2(items))
        if protocol is not None:
            ds.add_new(0x00291020, "OB", ascconv(protocol))
        if spec.tweak is not None:
            spec.tweak(ds, 0, t)
        path = folder / f"{spec.name}_{t + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

"""Small DICOM series built with pydicom, for conversion cases no reference set covers.

A :class:`SeriesSpec` names what a scanner or an export does (orientation, slice order,
gantry tilt, bits, rescale, vendor string, tags removed by de-identification); ``write``
turns it into one file per slice. Voxel values are a deterministic pattern that differs
along every axis, so a transposed, mirrored or reordered output cannot match by chance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def oblique(degrees_about_x: float, degrees_about_z: float) -> tuple[float, ...]:
    """Axial cosines rotated about x, then z: a double-oblique plane."""
    ax, az = math.radians(degrees_about_x), math.radians(degrees_about_z)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    rot = rz @ rx
    row, col = rot @ np.array([1.0, 0, 0]), rot @ np.array([0, 1.0, 0])
    return tuple(round(float(v), 8) for v in (*row, *col))


@dataclass
class SeriesSpec:
    """What to synthesise; defaults give a plain axial MR series."""

    name: str
    modality: str = "MR"
    manufacturer: str = "SIEMENS"
    orientation: tuple[float, ...] = AXIAL
    rows: int = 12
    columns: int = 10
    slices: int = 6
    pixel_spacing: tuple[float, float] = (0.9, 1.1)
    slice_gap: float = 2.5
    origin: tuple[float, float, float] = (-40.0, -30.0, 10.0)
    descending: bool = False  # instance numbers run against the slice normal
    tilt_degrees: float = 0.0  # CT gantry tilt: slices shift along the column direction
    bits_stored: int = 16
    signed: bool = False
    slope: float = 1.0
    intercept: float = 0.0
    drop: tuple[str, ...] = ()  # keywords removed, as de-identified exports do
    skip_slices: tuple[int, ...] = ()  # slice indices left out (a missing slice)
    duplicate_slices: tuple[int, ...] = ()  # slice indices written twice (new SOP UIDs)
    gaps: dict[int, float] = field(default_factory=dict)  # extra spacing before slice k
    series_number: int = 3
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")
    transfer_syntax: str = ExplicitVRLittleEndian  # a compressed one is encoded by pydicom
    volumes: int = 1  # repeats of the stack (time points, diffusion directions, echoes)
    acquisition: str = "sequential"  # slice acquisition order: "sequential" or "interleaved"
    repetition_ms: float = 2000.0
    multiband: int = 1  # slices excited together: slice k with k + slices/multiband...
    # Called on each file's dataset with (slice index, volume index) before saving: the
    # vendor's private tags, a per-volume echo or b-value, a removed attribute.
    tweak: Callable[[Dataset, int, int], None] | None = None

    def normal(self) -> np.ndarray:
        iop = np.asarray(self.orientation, dtype=float).reshape(2, 3)
        return np.cross(iop[0], iop[1])

    def position(self, k: int) -> np.ndarray:
        """(0020,0032) of slice ``k`` (LPS)."""
        iop = np.asarray(self.orientation, dtype=float).reshape(2, 3)
        extra = sum(g for j, g in self.gaps.items() if j <= k)
        along = self.normal() * (k * self.slice_gap + extra)
        shear = iop[1] * (k * self.slice_gap * math.tan(math.radians(self.tilt_degrees)))
        return np.asarray(self.origin) + along + shear

    def pixels(self, k: int, t: int = 0) -> np.ndarray:
        """Stored values of slice ``k`` of volume ``t``: distinct along every axis."""
        r = np.arange(self.rows)[:, None]
        c = np.arange(self.columns)[None, :]
        top = (1 << (self.bits_stored - 1)) - 1 if self.signed else (1 << self.bits_stored) - 1
        values = (r * 37 + c * 11 + k * 101 + t * 503 + (r * c) % 7) % min(top, 4000)
        if self.signed:
            values = values - 1000
        return values.astype(np.int16 if self.signed else np.uint16)


def slice_order(spec: SeriesSpec) -> list[int]:
    """Slice indices in acquisition order within one volume."""
    order = list(range(spec.slices))
    if spec.acquisition == "interleaved":
        order = order[0::2] + order[1::2]
    return order[::-1] if spec.descending else order


def acquisition_seconds(spec: SeriesSpec, k: int, t: int) -> float:
    """Seconds after 10:17:00 at which slice ``k`` of volume ``t`` was acquired."""
    tr = spec.repetition_ms / 1000.0
    if spec.multiband > 1:  # each band repeats the first band's order
        band = spec.slices // spec.multiband
        first = replace(spec, slices=band, multiband=1)
        return 0.5 + t * tr + slice_order(first).index(k % band) * tr / band
    shot = slice_order(spec).index(k)
    return 0.5 + t * tr + shot * tr / spec.slices


def new_instance(sop_class: str) -> Dataset:
    """An empty instance of `sop_class` with a new SOP Instance UID and its file meta."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    return ds


def _dataset(
    spec: SeriesSpec,
    k: int,
    t: int,
    instance: int,
    uids: tuple[str, str, str],
) -> Dataset:
    ds = new_instance(CTImageStorage if spec.modality == "CT" else MRImageStorage)
    ds.Modality = spec.modality
    ds.Manufacturer = spec.manufacturer
    ds.ManufacturerModelName = "Synthetic"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID12345"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.PatientPosition = "HFS"
    ds.StudyDate = "20240102"
    ds.SeriesDate = "20240102"
    ds.AcquisitionDate = "20240102"
    ds.StudyTime = "101500"
    ds.SeriesTime = "101600"
    seconds = acquisition_seconds(spec, k, t)
    ds.AcquisitionTime = f"10{17 + int(seconds // 60):02d}{seconds % 60:09.6f}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = uids
    ds.SeriesNumber = spec.series_number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance
    ds.SeriesDescription = spec.name
    ds.ProtocolName = spec.name
    ds.ImageType = list(spec.image_type)
    ds.ImageOrientationPatient = [f"{v:.8g}" for v in spec.orientation]
    ds.ImagePositionPatient = [f"{v:.6f}" for v in spec.position(k)]
    ds.PixelSpacing = [f"{v:g}" for v in spec.pixel_spacing]
    ds.SliceThickness = f"{spec.slice_gap:g}"
    ds.SliceLocation = f"{float(spec.position(k) @ spec.normal()):.6f}"
    if spec.modality == "MR":
        ds.MagneticFieldStrength = "3"
        ds.EchoTime = "30"
        ds.RepetitionTime = f"{spec.repetition_ms:g}"
        ds.FlipAngle = "90"
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SP"
        ds.MRAcquisitionType = "2D"
    else:
        ds.KVP = "120"
        ds.GantryDetectorTilt = f"{spec.tilt_degrees:g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = spec.rows
    ds.Columns = spec.columns
    ds.BitsAllocated = 16
    ds.BitsStored = spec.bits_stored
    ds.HighBit = spec.bits_stored - 1
    ds.PixelRepresentation = 1 if spec.signed else 0
    if spec.slope != 1.0 or spec.intercept != 0.0 or spec.modality == "CT":
        ds.RescaleSlope = f"{spec.slope:g}"
        ds.RescaleIntercept = f"{spec.intercept:g}"
        ds.RescaleType = "HU" if spec.modality == "CT" else "US"
    ds.PixelData = spec.pixels(k, t).tobytes()
    if spec.tweak is not None:
        spec.tweak(ds, k, t)
    if spec.transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(spec.transfer_syntax)
    for keyword in spec.drop:
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def write(
    spec: SeriesSpec, folder: Path, *, uids: tuple[str, str, str] | None = None
) -> list[Path]:
    """Write the series, one file per slice, in instance-number order; returns the paths.

    ``uids`` (study, series, frame of reference) lets two specs share one series, as a
    scanner's magnitude and phase images or two echoes do.
    """
    folder.mkdir(parents=True, exist_ok=True)
    uids = uids or (generate_uid(), generate_uid(), generate_uid())
    order = [k for k in range(spec.slices) if k not in spec.skip_slices]
    order += list(spec.duplicate_slices)
    if spec.descending:
        order = order[::-1]
    paths = []
    for t in range(spec.volumes):
        for n, k in enumerate(order):
            instance = t * len(order) + n + 1
            ds = _dataset(spec, k, t, instance, uids)
            path = folder / f"{spec.name}_{instance:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths

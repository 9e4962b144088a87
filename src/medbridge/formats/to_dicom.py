"""A Volume back to DICOM: one series of single-frame MR, CT or Secondary Capture images.

Research results (a segmentation, a processed map) must be able to return to the PACS.
Each slice ``k`` of the volume becomes one instance whose (0020,0032) 'Image Position
(Patient)' and (0020,0037) 'Image Orientation (Patient)' come from the RAS+ affine,
turned to DICOM's LPS in :mod:`medbridge.volume._geometry`. Slices are stored with
their rows reversed (DICOM row ``r`` is voxel ``j = rows - 1 - r``), the mirror of what
dcm2niix does on reading, so converting the series back gives the same volume: the
same voxel order and affine, or for slices that dcm2niix sorts the other way (as it
may for sagittal ones) the same voxels in space with ``k`` reversed. Values that do
not fit 16-bit integers (floats, wide integers) are stored as uint16 with (0028,1053)
'Rescale Slope' and (0028,1052) 'Rescale Intercept'. RGB volumes (three uint8
components) become Secondary Capture RGB images, since MR and CT images are grey;
other vector volumes are refused.

Given ``like`` (a file or folder of the source series), the new series copies that
patient, study and (0020,0052) 'Frame of Reference UID', so it files under the same
study and overlays its source in a viewer; everything else gets new UIDs. Without it,
patient fields are empty and all UIDs are new.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from medbridge.dicom import read_dataset
from medbridge.errors import FormatError, InvalidDicomError
from medbridge.formats._layout import layout_of
from medbridge.volume import Volume
from medbridge.volume._geometry import direction_letters, slice_geometry

__all__ = ["SOP_CLASSES", "find_like_dataset", "plan_pixels", "write_series"]

#: SOP Class UIDs by the modality they are used for ("OT": Secondary Capture).
SOP_CLASSES: dict[str, str] = {
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "OT": "1.2.840.10008.5.1.4.1.1.7",
}

#: Attributes copied from ``like``: Patient, General Study, Frame of Reference modules.
_COPIED = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "PatientPosition",
    "BodyPartExamined",
    "Laterality",
)


def find_like_dataset(like: str | os.PathLike[str]) -> Dataset:
    """The header of one DICOM image in ``like`` (a file, or a folder searched in name order).

    Raises
    ------
    InvalidDicomError
        ``like`` holds no readable DICOM image.
    """
    for path in _candidates(Path(like)):
        try:
            ds = read_dataset(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if "StudyInstanceUID" in ds and "SOPClassUID" in ds:
            return ds
    raise InvalidDicomError("no readable DICOM image to copy patient and study from", path=like)


def _candidates(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder, name)


def plan_pixels(volume: Volume) -> tuple[npt.NDArray[Any], float, float]:
    """Stored 16-bit values plus the slope and intercept that give back the real values.

    Integer voxels that fit int16 or uint16 are kept as they are, with the volume's own
    scaling; real values that are whole numbers in that range (a label map saved as
    floats) are stored exactly. Anything else is mapped linearly onto 0..65535; slope
    and intercept are first rounded to what a 16-character DS holds, then used, so the
    file says exactly how its values were made.

    >>> stored, slope, inter = plan_pixels(Volume(np.array([[0.0, 0.5], [1.0, 2.0]]), np.eye(4)))
    >>> stored.dtype.name, int(stored.min()), int(stored.max()), inter
    ('uint16', 0, 65535, 0.0)
    """
    array = np.asarray(volume.array)
    if array.dtype.kind in "biu":
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        for kind in (np.int16, np.uint16):
            info = np.iinfo(kind)
            if info.min <= lo and hi <= info.max:
                slope, inter = _ds(volume.slope), _ds(volume.intercept)
                return array.astype(kind), slope, inter
    if array.dtype.kind not in "biuf":
        raise FormatError(f"DICOM export cannot store {array.dtype} voxels")
    real = np.asarray(array, dtype=np.float64) * volume.slope + volume.intercept
    if not np.all(np.isfinite(real)):
        raise FormatError("DICOM export needs finite voxel values (found NaN or infinity)")
    lo_f, hi_f = float(real.min()), float(real.max())
    if np.array_equal(real, np.rint(real)) and lo_f >= -32768 and hi_f <= 65535:
        kind = np.int16 if hi_f <= 32767 else np.uint16  # e.g. labels stored as floats
        if lo_f >= np.iinfo(kind).min:
            return real.astype(kind), 1.0, 0.0
    inter = _ds(lo_f)
    slope = _ds((hi_f - inter) / 65535.0) if hi_f > inter else 1.0
    while slope > 0 and (hi_f - inter) / slope > 65535.0:
        slope = _ds(slope * (1 + 1e-9))  # rounding to 16 characters may undershoot
    stored = np.clip(np.rint((real - inter) / slope), 0, 65535).astype(np.uint16)
    return stored, slope, inter


def _ds(value: float) -> float:
    return float(format_number_as_ds(float(value)))


def write_series(
    volume: Volume,
    folder: str | os.PathLike[str],
    *,
    like: str | os.PathLike[str] | None = None,
    modality: str | None = None,
    series_description: str = "medbridge export",
) -> list[Path]:
    """Write ``volume`` as a DICOM series, one file per slice (and per frame), into ``folder``.

    Parameters
    ----------
    volume:
        3D, or 4D with frames (written as temporal positions); grey values, or RGB
        (three uint8 components, written as Secondary Capture since MR and CT images
        are grey).
    folder:
        Created if missing; must be empty, so the series is never mixed with others.
    like:
        DICOM file or series folder whose patient, study and frame of reference the
        new series joins; its modality picks the SOP class (MR, CT, else Secondary
        Capture with plane geometry).
    modality:
        Overrides the modality (``MR``, ``CT``; others give Secondary Capture).
    series_description:
        (0008,103E) of the new series.

    Returns
    -------
    list of Path
        The files written, in instance order.

    Raises
    ------
    FormatError
        The volume has components other than 8-bit RGB (vectors), the folder is not
        empty, or the voxels are not numbers.
    GeometryError
        The affine is sheared.
    """
    target = Path(folder)
    layout = layout_of(volume.array)
    rgb = layout.components == 3 and volume.array.dtype == np.uint8
    if layout.components > 1 and not rgb:
        raise FormatError(
            f"DICOM export holds grey values or RGB (3 × uint8), this volume has "
            f"{layout.components} {volume.array.dtype} components per voxel; write one "
            "component per series",
            path=target,
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FormatError("output folder for a DICOM series must be new or empty", path=target)
    source = find_like_dataset(like) if like is not None else None
    chosen = (modality or (source.Modality if source is not None else None) or "").upper()
    chosen = chosen or str(volume.metadata.get("Modality", "MR")).upper()
    nx, ny, nz = layout.spatial
    orientation, spacing, thickness, positions = slice_geometry(volume.affine_ras, ny, nz)
    sop_key = chosen if chosen in ("MR", "CT") and not rgb else "OT"  # MR/CT images are grey
    base = _series_dataset(volume, source, chosen, sop_key)
    base.SeriesDescription = series_description[:64]
    base.ImageOrientationPatient = [format_number_as_ds(v) for v in orientation]
    base.PixelSpacing = [format_number_as_ds(v) for v in spacing]
    base.SliceThickness = format_number_as_ds(thickness)
    base.SpacingBetweenSlices = format_number_as_ds(thickness)
    if rgb:
        stored = np.asarray(volume.array).reshape(layout.shape5)
        _rgb_pixel_module(base, rows=ny, columns=nx)
    else:
        grey, slope, inter = plan_pixels(volume)
        stored = grey.reshape((*layout.shape5[:4], 1))
        _pixel_module(base, grey, slope, inter, rows=ny, columns=nx)
    if base.SOPClassUID == SOP_CLASSES["OT"]:
        # Secondary Capture has no Image Plane module, so (0020,0020) is required
        base.PatientOrientation = [
            direction_letters(orientation[:3]),
            direction_letters(orientation[3:]),
        ]
    normal = np.cross(orientation[:3], orientation[3:])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    written: list[Path] = []
    try:
        for t in range(layout.frames):
            for k in range(nz):
                number = t * nz + k + 1
                location = float(np.dot(positions[k], normal))
                ds = _instance(base, number, positions[k], location, (t, layout.frames))
                plane = stored[:, ::-1, k, t, :].transpose(1, 0, 2)  # rows, columns, samples
                ds.PixelData = np.ascontiguousarray(plane).tobytes()
                name = f"IM{number:05d}.dcm"
                ds.save_as(staging / name, enforce_file_format=True)
                written.append(target / name)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return written


def _series_dataset(volume: Volume, source: Dataset | None, modality: str, sop_key: str) -> Dataset:
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        setattr(ds, keyword, "")
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime = date, time
    for keyword in ("StudyID", "AccessionNumber", "ReferringPhysicianName"):
        setattr(ds, keyword, "")
    ds.FrameOfReferenceUID = generate_uid()
    ds.PositionReferenceIndicator = ""
    ds.Laterality = ""  # type 2C: empty means unknown
    ds.PatientPosition = ""  # type 2C for MR and CT; copied from like when known
    if source is not None:
        for keyword in _COPIED:
            if keyword in source:
                setattr(ds, keyword, source[keyword].value)
    if ds.get("BodyPartExamined") and not ds.get("Laterality"):
        del ds.Laterality  # a named body part without a side: Laterality must be absent
    ds.SOPClassUID = SOP_CLASSES[sop_key]
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = int(getattr(source, "SeriesNumber", 0) or 0) + 1000
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.ContentDate, ds.ContentTime = date, time
    ds.Manufacturer = "medbridge"
    # Value 3 is required for MR ("image flavor") and CT (AXIAL or LOCALIZER).
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL" if sop_key == "CT" else "OTHER"]
    ds.DerivationDescription = "volume written back to DICOM by medbridge"
    if sop_key == "MR":
        _mr_module(ds, volume.metadata)
    elif sop_key == "CT":
        ds.KVP = ""
        ds.AcquisitionNumber = 1
    else:
        ds.ConversionType = "WSD"  # workstation: SC Equipment module
    return ds


def _mr_module(ds: Dataset, metadata: dict[str, Any]) -> None:
    """MR Image module (PS3.3 C.8.3.1): type 1 terms for a derived image, timings if known."""
    ds.ScanningSequence = "RM"  # research mode: the sequence is not one of the named kinds
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = ""
    ds.EchoTrainLength = ""
    seconds_to_ms = {"RepetitionTime": "RepetitionTime", "EchoTime": "EchoTime"}
    for bids, keyword in seconds_to_ms.items():
        value = metadata.get(bids)
        number = value[0] if isinstance(value, list) and value else value
        if isinstance(number, int | float):
            setattr(ds, keyword, format_number_as_ds(float(number) * 1000.0))
        else:
            setattr(ds, keyword, "")
    strength = metadata.get("MagneticFieldStrength")
    if isinstance(strength, int | float):
        ds.MagneticFieldStrength = format_number_as_ds(float(strength))


def _pixel_module(
    ds: Dataset, stored: npt.NDArray[Any], slope: float, inter: float, *, rows: int, columns: int
) -> None:
    """Image Pixel (PS3.3 C.7.6.3), Modality LUT rescale and a VOI window over the data."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if stored.dtype == np.int16 else 0
    if ds.Modality == "CT" or slope != 1.0 or inter != 0.0:
        ds.RescaleSlope = format_number_as_ds(slope)
        ds.RescaleIntercept = format_number_as_ds(inter)
        if ds.Modality != "CT":
            ds.RescaleType = "US"  # unspecified units, required with rescale outside CT
    lo = float(stored.min()) * slope + inter if stored.size else 0.0
    hi = float(stored.max()) * slope + inter if stored.size else 1.0
    ds.WindowCenter = format_number_as_ds((lo + hi) / 2)
    ds.WindowWidth = format_number_as_ds(max(hi - lo, 1.0))


def _rgb_pixel_module(ds: Dataset, *, rows: int, columns: int) -> None:
    """Image Pixel for 8-bit RGB, colour-by-pixel (PS3.3 C.7.6.3.1.3)."""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0


def _instance(
    base: Dataset, number: int, position: list[float], location: float, frame: tuple[int, int]
) -> Dataset:
    """One slice's instance: new SOP Instance UID, position, and its temporal position."""
    ds = base.copy()
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [format_number_as_ds(v) for v in position]
    ds.SliceLocation = format_number_as_ds(location)
    index, frames = frame
    if frames > 1:
        ds.TemporalPositionIdentifier = index + 1
        ds.NumberOfTemporalPositions = frames
        ds.AcquisitionNumber = index + 1
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds

"""Enhanced (multi-frame) MR and CT images built with pydicom from a ``SeriesSpec``.

One file holds every slice of every volume as frames (PS3.3 C.7.6.16): what is the same
for all frames sits in the Shared Functional Groups (pixel measures, orientation, timing,
echo, rescale, frame type), what varies in the Per-Frame groups (position, frame content
with its Dimension Index Values, stack and in-stack position, temporal index, acquisition
time). Frames can be stored slice-fastest or volume-fastest, and the Dimension Index may
be left out, as exporters do.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from convert.synth import SeriesSpec, acquisition_seconds, slice_order

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
#: (0020,9056) Stack ID, (0020,9057) In-Stack Position, (0020,9128) Temporal Position Index.
_DIMENSIONS = (0x00209056, 0x00209057, 0x00209128)


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _shared(spec: SeriesSpec) -> Dataset:
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([_item(
        PixelSpacing=[f"{v:g}" for v in spec.pixel_spacing],
        SliceThickness=f"{spec.slice_gap:g}",
        SpacingBetweenSlices=f"{spec.slice_gap:g}",
    )])  # fmt: skip
    shared.PlaneOrientationSequence = Sequence(
        [_item(ImageOrientationPatient=[f"{v:.8g}" for v in spec.orientation])]
    )
    shared.PixelValueTransformationSequence = Sequence([_item(
        RescaleSlope=f"{spec.slope:g}", RescaleIntercept=f"{spec.intercept:g}",
        RescaleType="HU" if spec.modality == "CT" else "US",
    )])  # fmt: skip
    frame_type = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    if spec.modality == "CT":
        shared.CTImageFrameTypeSequence = Sequence([_item(FrameType=frame_type)])
        return shared
    shared.MRImageFrameTypeSequence = Sequence(
        [_item(FrameType=frame_type, ComplexImageComponent="MAGNITUDE")]
    )
    shared.MRTimingAndRelatedParametersSequence = Sequence(
        [_item(RepetitionTime=spec.repetition_ms, FlipAngle=90.0)]
    )
    shared.MREchoSequence = Sequence([_item(EffectiveEchoTime=30.0)])
    return shared


def _frame(spec: SeriesSpec, k: int, t: int, dims: bool) -> Dataset:
    seconds = acquisition_seconds(spec, k, t)
    stamp = f"20240102101{7 + int(seconds // 60)}{seconds % 60:09.6f}"
    content = _item(
        StackID="1",
        InStackPositionNumber=k + 1,
        TemporalPositionIndex=t + 1,
        FrameAcquisitionDateTime=stamp,
    )
    if dims:
        content.DimensionIndexValues = [1, k + 1, t + 1]
    frame = Dataset()
    frame.FrameContentSequence = Sequence([content])
    frame.PlanePositionSequence = Sequence(
        [_item(ImagePositionPatient=[f"{v:.6f}" for v in spec.position(k)])]
    )
    return frame


def write_enhanced(
    spec: SeriesSpec, folder: Path, *, volume_fastest: bool = False, dims: bool = True
) -> Path:
    """Write ``spec`` as one enhanced MR (or CT) file; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    sop_class = ENHANCED_CT if spec.modality == "CT" else ENHANCED_MR
    order = slice_order(spec)
    pairs = [(k, t) for t in range(spec.volumes) for k in order]
    if volume_fastest:
        pairs = [(k, t) for k in order for t in range(spec.volumes)]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = spec.modality, spec.manufacturer, "X"
    ds.PatientName, ds.PatientID, ds.PatientPosition = "Doe^Jane", "PID12345", "HFS"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240102"
    ds.StudyTime, ds.SeriesTime, ds.AcquisitionDateTime = "101500", "101600", "20240102101700"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = spec.series_number, 1, 1
    ds.SeriesDescription = ds.ProtocolName = spec.name
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    if spec.modality == "MR":
        ds.MagneticFieldStrength = "3"
        ds.MRAcquisitionType = "2D"
        ds.EchoPulseSequence, ds.EchoPlanarPulseSequence = "GRADIENT", "NO"
    else:
        ds.KVP = "120"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns, ds.NumberOfFrames = spec.rows, spec.columns, len(pairs)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, spec.bits_stored, spec.bits_stored - 1
    ds.PixelRepresentation = 1 if spec.signed else 0
    if dims:
        ds.DimensionOrganizationSequence = Sequence(
            [_item(DimensionOrganizationUID=(organization := generate_uid()))]
        )
        ds.DimensionIndexSequence = Sequence([
            _item(DimensionOrganizationUID=organization, DimensionIndexPointer=pointer,
                  FunctionalGroupPointer=0x00209111)
            for pointer in _DIMENSIONS
        ])  # fmt: skip
    ds.SharedFunctionalGroupsSequence = Sequence([_shared(spec)])
    ds.PerFrameFunctionalGroupsSequence = Sequence([_frame(spec, k, t, dims) for k, t in pairs])
    ds.PixelData = b"".join(spec.pixels(k, t).tobytes() for k, t in pairs)
    path = folder / f"{spec.name}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path

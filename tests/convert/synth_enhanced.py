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
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from convert.synth import SeriesSpec, acquisition_seconds, new_instance, slice_order

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
#: (0020,9056) Stack ID, (0020,9057) In-Stack Position, (0020,9128) Temporal Position Index.
_DIMENSIONS = (0x00209056, 0x00209057, 0x00209128)
#: Private creator of Siemens XA's per-frame item (its block is 0x11, as XA writes it).
_XA_FRAME = "SIEMENS MR SDI 02"
#: Private creator of Siemens XA's shared item (block 0x10).
_XA_SHARED = "SIEMENS MR SDS 01"


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _orientation(spec: SeriesSpec) -> Sequence:
    return Sequence([_item(ImageOrientationPatient=[f"{v:.8g}" for v in spec.orientation])])


def _shared(spec: SeriesSpec, orientation: bool) -> Dataset:
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([_item(
        PixelSpacing=[f"{v:g}" for v in spec.pixel_spacing],
        SliceThickness=f"{spec.slice_gap:g}",
        SpacingBetweenSlices=f"{spec.slice_gap:g}",
    )])  # fmt: skip
    if orientation:
        shared.PlaneOrientationSequence = _orientation(spec)
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


def _diffusion(b: float, direction: tuple[float, float, float]) -> Dataset:
    """An MR Diffusion item (0018,9117): b-value, directionality and, if any, direction."""
    item = _item(DiffusionBValue=float(b), DiffusionDirectionality="DIRECTIONAL" if b else "NONE")
    if b:
        item.DiffusionGradientDirectionSequence = Sequence(
            [_item(DiffusionGradientOrientation=[float(v) for v in direction])]
        )
    return item


def _frame(
    spec: SeriesSpec,
    k: int,
    t: int,
    dims: bool,
    diffusion: tuple[list[float], list[Any]] | None,
    shared_orientation: bool,
    private: bool,
) -> Dataset:
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
    if not shared_orientation:
        frame.PlaneOrientationSequence = _orientation(spec)
    if private:  # Siemens XA: (0021,1104) 'TimeAfterStart' (s) in a private item
        item = Dataset()
        for holder in (frame, item):
            holder.add_new(0x00210011, "LO", _XA_FRAME)
        item.add_new(0x00211104, "DS", f"{seconds:.4f}")
        frame.add_new(0x002111FE, "SQ", Sequence([item]))
    if diffusion is not None:
        frame.MRDiffusionSequence = Sequence([_diffusion(diffusion[0][t], diffusion[1][t])])
    return frame


def write_enhanced(
    spec: SeriesSpec,
    folder: Path,
    *,
    volume_fastest: bool = False,
    dims: bool = True,
    diffusion: tuple[list[float], list[Any]] | None = None,
    software: str = "",
    per_volume: bool = False,
    private: bool = True,
    protocol: str = "",
    table: tuple[int, int, int] | None = None,
) -> list[Path]:
    """Write ``spec`` as enhanced MR (or CT) files; returns their paths.

    One file holds every frame, or with ``per_volume`` one file each volume of one
    series, as Siemens XA writes a time series (with the orientation in every frame).
    ``diffusion`` gives each volume's b-value and direction (LPS) for an MR Diffusion
    item per frame; ``software`` is (0018,1020) (Siemens XA names itself there). XA's
    files hold their frames in space order, each with a private item giving its
    (0021,1104) 'TimeAfterStart', which ``private=False`` strips as de-identifiers do.
    ``protocol`` (ASCCONV text) and ``table`` (the table position) go where XA keeps
    them: (0021,1019) and (0021,1005) of the shared groups' private item (0021,10FE).
    """
    folder.mkdir(parents=True, exist_ok=True)
    order = slice_order(spec)
    pairs = [(k, t) for t in range(spec.volumes) for k in order]
    if volume_fastest:
        pairs = [(k, t) for k in order for t in range(spec.volumes)]
    uids = (generate_uid(), generate_uid(), generate_uid())
    if not per_volume:
        ds = _enhanced(spec, pairs, 1, uids, dims, diffusion, software, False, False)
        _xa_shared(ds, protocol, table)
        ds.save_as(path := folder / f"{spec.name}.dcm", enforce_file_format=True)
        return [path]
    paths = []
    space = list(range(spec.slices))[:: -1 if spec.descending else 1]
    for t in range(spec.volumes):
        volume = [(k, t) for k in space]
        ds = _enhanced(spec, volume, t + 1, uids, dims, diffusion, software, True, private)
        _xa_shared(ds, protocol, table)
        ds.save_as(path := folder / f"{spec.name}_{t + 1}.dcm", enforce_file_format=True)
        paths.append(path)
    return paths


def _xa_shared(ds: Dataset, protocol: str, table: tuple[int, int, int] | None) -> None:
    """Siemens XA's shared private item (0021,10FE), block "SIEMENS MR SDS 01"."""
    if not protocol and table is None:
        return
    shared = ds.SharedFunctionalGroupsSequence[0]
    item = Dataset()
    for holder in (shared, item):
        holder.add_new(0x00210010, "LO", _XA_SHARED)
    if table is not None:
        item.add_new(0x00211005, "IS", [str(v) for v in table])
    if protocol:
        text = f"<XProtocol>\n### ASCCONV BEGIN ###\n{protocol}\n### ASCCONV END ###\n"
        item.add_new(0x00211019, "OB", text.encode("latin-1"))
    shared.add_new(0x002110FE, "SQ", Sequence([item]))


def _enhanced(
    spec: SeriesSpec,
    pairs: list[tuple[int, int]],
    instance: int,
    uids: tuple[str, str, str],
    dims: bool,
    diffusion: tuple[list[float], list[Any]] | None,
    software: str,
    per_volume: bool,
    private: bool,
) -> Dataset:
    """One enhanced instance holding the frames ``pairs`` (slice, volume) in that order."""
    ds = new_instance(ENHANCED_CT if spec.modality == "CT" else ENHANCED_MR)
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = spec.modality, spec.manufacturer, "X"
    ds.PatientName, ds.PatientID, ds.PatientPosition = "Doe^Jane", "PID12345", "HFS"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240102"
    ds.StudyTime, ds.SeriesTime, ds.AcquisitionDateTime = "101500", "101600", "20240102101700"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = uids
    ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = spec.series_number, instance, 1
    ds.SeriesDescription = ds.ProtocolName = spec.name
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    if software:
        ds.SoftwareVersions = software
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
    shared = not per_volume  # Siemens XA repeats the orientation in every frame
    xa = per_volume and private and spec.manufacturer.upper().startswith("SI")
    ds.SharedFunctionalGroupsSequence = Sequence([_shared(spec, shared)])
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        [_frame(spec, k, t, dims, diffusion, shared, xa) for k, t in pairs]
    )
    ds.PixelData = b"".join(spec.pixels(k, t).tobytes() for k, t in pairs)
    return ds

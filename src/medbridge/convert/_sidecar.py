"""BIDS JSON sidecars as dcm2niix writes them, from the DICOM standard attributes.

Vendor-specific fields (Siemens CSA/ASCCONV, GE and Philips private tags) come from
``_siemens``, ``_ge`` and ``_philips``; this module holds the common fields, the key order
dcm2niix uses, number formatting (dcm2niix prints ``%g``: six significant digits) and the
anonymisation rule (no names, IDs or birth dates unless asked).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from pydicom.dataset import Dataset

from medbridge import __version__
from medbridge.convert._context import OutputContext
from medbridge.convert._group import ge_image_kind
from medbridge.convert._naming import protocol_name, series_number, vendor
from medbridge.volume._frames import functional_group

__all__ = ["KEY_ORDER", "Sidecar", "build_sidecar", "dumps"]

#: Keys in the order dcm2niix writes them; keys not listed follow, in insertion order.
KEY_ORDER: tuple[str, ...] = (
    "Modality", "MagneticFieldStrength", "ImagingFrequency", "Manufacturer",
    "InternalPulseSequenceName", "ManufacturersModelName", "InstitutionName",
    "InstitutionalDepartmentName", "InstitutionAddress", "DeviceSerialNumber", "StationName",
    "BodyPart", "SeriesInstanceUID", "StudyInstanceUID", "ReferringPhysicianName", "StudyID",
    "PatientName", "PatientID", "AccessionNumber", "PatientBirthDate", "PatientSex", "PatientAge",
    "PatientWeight", "PatientPosition", "ProcedureStepDescription", "SoftwareVersions",
    "MRAcquisitionType", "StudyDescription", "SeriesDescription", "ProtocolName",
    "ScanningSequence", "SequenceVariant", "PulseSequenceType", "ScanOptions", "SequenceName",
    "ImageType", "RawImage", "ImageTypeText", "NonlinearGradientCorrection", "SeriesNumber",
    "AcquisitionTime", "AcquisitionDateTime", "AcquisitionNumber", "ImageComments",
    "TriggerDelayTime", "PhilipsRWVSlope", "PhilipsRWVIntercept", "PhilipsRescaleSlope",
    "PhilipsRescaleIntercept", "PhilipsScaleSlope", "UsePhilipsFloatNotDisplayScaling", "Units",
    "ConvolutionKernel", "ReconFilterType", "ReconFilterSize", "ExposureTime", "XRayTubeCurrent",
    "XRayExposure", "SliceThickness", "SpacingBetweenSlices", "NumberOfAverages", "SAR",
    "TablePosition", "EchoNumber", "EchoTime", "RepetitionTime", "InversionTime", "MTState",
    "SpoilingState", "FlipAngle", "PhaseEncodingPolarityGE", "PartialFourier", "BaseResolution",
    "ShimSetting", "DiffusionScheme", "PrescanReuseString", "DelayTime", "TxRefAmp",
    "PhaseResolution", "PhaseOversampling", "VendorReportedEchoSpacing", "ReceiveCoilName",
    "CoilString", "ReceiveCoilActiveElements", "PulseSequenceDetails", "RefLinesPE", "WipMemBlock",
    "CoilCombinationMethod", "ConsistencyInfo", "MatrixCoilMode", "MultibandAccelerationFactor",
    "PercentPhaseFOV", "PercentSampling", "EchoTrainLength", "PartialFourierDirection",
    "PartialFourierEnabled", "PhaseEncodingStepsNoPartialFourier", "PhaseEncodingSteps",
    "FrequencyEncodingSteps", "PhaseEncodingStepsOutOfPlane", "AcquisitionMatrixPE",
    "ReconMatrixPE", "BandwidthPerPixelPhaseEncode", "ParallelReductionFactorInPlane",
    "ParallelAcquisitionTechnique", "ParallelReductionFactorOutOfPlane",
    "NumberOfDiffusionDirectionGE", "NumberOfDiffusionT2GE", "WaterFatShift",
    "EstimatedEffectiveEchoSpacing", "EstimatedTotalReadoutTime", "AcquisitionDuration",
    "NumberOfKSpaceTrajectories", "EffectiveEchoSpacing", "DerivedVendorReportedEchoSpacing",
    "TotalReadoutTime", "PixelBandwidth", "PhaseEncodingAxis", "DwellTime",
    "PhaseEncodingDirection", "SliceTiming", "ImageOrientationPatientDICOM",
    "ImageOrientationText", "InPlanePhaseEncodingDirectionDICOM", "ConversionSoftware",
    "ConversionSoftwareVersion",
)  # fmt: skip

#: Vendors dcm2niix names in the sidecar's "Manufacturer" (others are left out).
_JSON_VENDORS = frozenset(
    {
        "Bruker",
        "Siemens",
        "GE",
        "Philips",
        "Toshiba",
        "Canon",
        "Mediso",
        "Hitachi",
        "UIH",
        "MRSolutions",
        "Hyperfine",
    }
)

#: Keys that identify the patient; left out unless the caller asks for them.
IDENTIFYING: frozenset[str] = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientWeight",
        "AccessionNumber",
    }
)


class Sidecar:
    """Ordered sidecar fields, each remembering where its value came from."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def set(self, key: str, value: Any, source: str) -> None:
        """Store ``value`` under ``key`` unless it is missing (None, empty, NaN)."""
        if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
            return
        if isinstance(value, list | tuple) and not value:
            return
        self.values[key] = value
        self.sources[key] = source

    def drop(self, key: str) -> None:
        """Forget ``key``."""
        self.values.pop(key, None)
        self.sources.pop(key, None)

    def ordered(self, *, provenance: bool = False) -> dict[str, Any]:
        """Fields in dcm2niix's order; with ``provenance``, a ``Provenance`` map at the end."""
        rank = {k: i for i, k in enumerate(KEY_ORDER)}
        keys = sorted(self.values, key=lambda k: rank.get(k, len(rank)))
        # Keys dcm2niix places after SliceTiming-like blocks stay before the software keys.
        out = {
            k: self.values[k]
            for k in keys
            if k not in ("ConversionSoftware", "ConversionSoftwareVersion")
        }
        out["ConversionSoftware"] = "medbridge"
        out["ConversionSoftwareVersion"] = __version__
        if provenance:
            out["Provenance"] = {k: self.sources[k] for k in keys if k in self.sources}
        return out


def text(ds: Dataset, keyword: str) -> str | None:
    """A DICOM value as text; multi-valued elements joined with backslashes, as stored."""
    if keyword not in ds:
        return None
    value = ds[keyword].value
    if value is None:
        return None
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    out = str(value).strip()
    return out or None


def number(value: Any) -> float | int | None:
    """A numeric DICOM value as int when integral, else float; None if not a number."""
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(f) or math.isinf(f):
        return None
    return int(f) if f.is_integer() else f


def num(ds: Dataset, keyword: str) -> float | int | None:
    """``number`` of a dataset element (first value if multi-valued)."""
    if keyword not in ds:
        return None
    value = ds[keyword].value
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    return number(value)


def g6(value: float) -> float | int:
    """Round as ``%g`` prints: six significant digits (dcm2niix's JSON precision).

    >>> g6(0.000279998432)
    0.000279998
    """
    out = float(f"{value:.6g}")
    return int(out) if out.is_integer() and abs(out) < 1e15 else out


def _acquisition_time(ds: Dataset) -> str | None:
    """(0008,0032) as HH:MM:SS.ffffff, when the acquisition date is known too (dcm2niix).

    (0008,002A) 'Acquisition DateTime' stands in for both only when the date and time
    elements are absent, as in recent Philips exports.
    """
    raw = text(ds, "AcquisitionTime")
    date = text(ds, "AcquisitionDate")
    dt = text(ds, "AcquisitionDateTime")
    if date is None and dt and len(dt) > 13:
        raw, date = raw or dt[8:], dt[:8]
    if raw is None or len(raw) < 6 or not date:
        return None
    main, _, frac = raw.partition(".")
    try:
        value = float(main.ljust(6, "0") + "." + (frac or "0"))
    except ValueError:
        return None
    # dcm2niix prints the HHMMSS.FFFFFF number with five decimals ("%+013.5f"), then
    # splits it into hours, minutes and seconds.
    printed = f"{value:+013.5f}"
    return f"{int(printed[1:3]):02d}:{int(printed[3:5]):02d}:{float(printed[5:]):09.6f}"


def _image_type(ctx: OutputContext) -> list[str]:
    """(0008,0008) split at underscores, plus the value kind dcm2niix recognised in it.

    The kind is named ("MAGNITUDE", "PHASE"...) when the image type says it with a
    single-letter code or word (Siemens/Philips "M"/"P"), or the vendor flags it (GE's
    (0043,102F)); field maps get "FIELDMAPHZ".
    """
    values: list[str] = []
    for v in ctx.ds.get("ImageType", []):
        values.extend(p for p in str(v).split("_") if p)
    kind = ctx.group.kind
    if kind == "fieldmap":
        return [*values, "FIELDMAPHZ"]
    flags = {"M": "mag", "MAGNITUDE": "mag", "P": "phase", "PHASE": "phase", "R": "real",
             "REAL": "real", "I": "imag", "IMAGINARY": "imag"}  # fmt: skip
    stated = {flags[v.upper()] for v in values if v.upper() in flags}
    component = _only_component(ctx)
    if component in flags:
        stated.add(flags[component])
    ge_kind = ge_image_kind(ctx.ds)
    if ge_kind is not None:
        stated.add(ge_kind)
    if kind in stated:
        extra = {"mag": "MAGNITUDE", "phase": "PHASE", "real": "REAL", "imag": "IMAGINARY"}[kind]
        if extra not in values:
            values.append(extra)
    return values


def _only_component(ctx: OutputContext) -> str:
    """(0008,9208) 'Complex Image Component' of an enhanced instance whose frames all share
    one; dcm2niix names it in ImageType, except for instances that mix components (split
    into several outputs)."""
    source = ctx.plan.frames[0][0].info.get("instance")
    if not ctx.group.enhanced or not isinstance(source, Dataset):
        return ""
    found = set()
    for index in range(len(source.PerFrameFunctionalGroupsSequence)):
        item = functional_group(source, index, "MRImageFrameTypeSequence")
        found.add(str(item.get("ComplexImageComponent", "") or "").upper() if item else "")
    return found.pop() if len(found) == 1 else ""


def _iso_date(value: str | None) -> str | None:
    """DICOM DA "YYYYMMDD" as ISO 8601 "YYYY-MM-DD" (None unless eight characters)."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if value and len(value) == 8 else None


def _identifying_fields(ds: Dataset, car: Sidecar) -> None:
    """Who the images are of, written only when the user asks (``-ba n``), as dcm2niix does."""
    for key, keyword, tag in (
        ("SeriesInstanceUID", "SeriesInstanceUID", "(0020,000E)"),
        ("StudyInstanceUID", "StudyInstanceUID", "(0020,000D)"),
        ("ReferringPhysicianName", "ReferringPhysicianName", "(0008,0090)"),
        ("StudyID", "StudyID", "(0020,0010)"),
        ("PatientName", "PatientName", "(0010,0010)"),
        ("PatientID", "PatientID", "(0010,0020)"),
        ("AccessionNumber", "AccessionNumber", "(0008,0050)"),
    ):
        car.set(key, text(ds, keyword), tag)
    car.set("PatientBirthDate", _iso_date(text(ds, "PatientBirthDate")), "(0010,0030)")
    sex = (text(ds, "PatientSex") or "")[:1].upper()
    car.set("PatientSex", sex if sex in ("M", "F", "O") else None, "(0010,0040)")
    age = text(ds, "PatientAge") or ""
    if len(age) == 4 and age.endswith("Y") and age[:3].isdigit():
        car.set("PatientAge", int(age[:3]), "(0010,1010) years")
    weight = num(ds, "PatientWeight")
    car.set("PatientWeight", weight if weight and weight > 0 else None, "(0010,1030)")


def _seconds(value: float | int | None) -> float | int | None:
    return None if value is None else g6(float(value) / 1000.0)


def _enhanced(ds: Dataset, sequence: str, keyword: str) -> Any:
    """A value from the shared functional groups of an enhanced image.

    An enhanced frame reaches the sidecar flattened (its groups merged into the top
    level, see :func:`~medbridge.convert._context.flatten_frame`), so the keyword itself
    is looked up first.
    """
    if keyword in ds and ds[keyword].value not in (None, ""):
        return ds[keyword].value
    shared = ds.get("SharedFunctionalGroupsSequence")
    if not shared:
        return None
    seq = shared[0].get(sequence)
    if not seq:
        return None
    return seq[0].get(keyword)


def common_fields(ctx: OutputContext, car: Sidecar, *, anonymize: bool) -> None:
    """Fields every vendor has, from standard attributes (PS3.3 C.7, C.8.3, C.8.13)."""
    ds = ctx.ds
    car.set("Modality", text(ds, "Modality"), "(0008,0060)")
    car.set("MagneticFieldStrength", num(ds, "MagneticFieldStrength"), "(0018,0087)")
    freq = num(ds, "ImagingFrequency")
    if freq is None:
        freq = number(_enhanced(ds, "MRImagingModifierSequence", "TransmitterFrequency"))
    car.set("ImagingFrequency", freq, "(0018,0084)")
    maker = vendor(ds)
    car.set("Manufacturer", maker if maker in _JSON_VENDORS else None, "(0008,0070)")
    car.set("ManufacturersModelName", text(ds, "ManufacturerModelName"), "(0008,1090)")
    car.set("InstitutionName", text(ds, "InstitutionName"), "(0008,0080)")
    # dcm2niix always writes the department, "None" when (0008,1040) is absent.
    car.set(
        "InstitutionalDepartmentName",
        text(ds, "InstitutionalDepartmentName") or "None",
        "(0008,1040)",
    )
    car.set("InstitutionAddress", text(ds, "InstitutionAddress"), "(0008,0081)")
    car.set("DeviceSerialNumber", text(ds, "DeviceSerialNumber"), "(0018,1000)")
    car.set("StationName", text(ds, "StationName"), "(0008,1010)")
    car.set("BodyPart", text(ds, "BodyPartExamined"), "(0018,0015)")
    car.set("PatientPosition", text(ds, "PatientPosition"), "(0018,5100)")
    if not anonymize:
        _identifying_fields(ds, car)
    car.set(
        "ProcedureStepDescription", text(ds, "PerformedProcedureStepDescription"), "(0040,0254)"
    )
    car.set("SoftwareVersions", text(ds, "SoftwareVersions"), "(0018,1020)")
    car.set("MRAcquisitionType", text(ds, "MRAcquisitionType"), "(0018,0023)")
    car.set("StudyDescription", text(ds, "StudyDescription"), "(0008,1030)")
    car.set("SeriesDescription", text(ds, "SeriesDescription"), "(0008,103E)")
    car.set("ProtocolName", protocol_name(ds) or None, "(0018,1030), else the series description")
    car.set("ScanningSequence", text(ds, "ScanningSequence"), "(0018,0020)")
    car.set("SequenceVariant", text(ds, "SequenceVariant"), "(0018,0021)")
    car.set("ScanOptions", text(ds, "ScanOptions"), "(0018,0022)")
    variant = _sequence_variant(ds)
    if "SP" in variant:
        car.set("SpoilingState", True, "(0018,0021) 'Sequence Variant' SP")
    if "MTC" in variant:
        car.set("MTState", True, "(0018,0021) 'Sequence Variant' MTC")
    car.set(
        "SequenceName", text(ds, "SequenceName") or text(ds, "PulseSequenceName"), "(0018,0024)"
    )
    car.set("ImageType", _image_type(ctx), "(0008,0008) split at '_', plus the value kind")
    car.set("SeriesNumber", series_number(ds) or None, "(0020,0011), else CRC-32 of the UID")
    acquired = _acquisition_time(ds)
    car.set("AcquisitionTime", acquired, "(0008,0032)")
    if not anonymize and acquired is not None:
        date = text(ds, "AcquisitionDate") or (text(ds, "AcquisitionDateTime") or "")[:8]
        car.set("AcquisitionDateTime", f"{_iso_date(date)}T{acquired}", "(0008,0022) + (0008,0032)")
    car.set("AcquisitionNumber", num(ds, "AcquisitionNumber"), "(0020,0012)")
    car.set("ImageComments", text(ds, "ImageComments"), "(0020,4000)")
    thickness = num(ds, "SliceThickness")
    if thickness is None:
        thickness = number(_enhanced(ds, "PixelMeasuresSequence", "SliceThickness"))
    car.set("SliceThickness", None if thickness is None else g6(thickness), "(0018,0050)")
    spacing = num(ds, "SpacingBetweenSlices")
    if spacing is None:
        spacing = number(_enhanced(ds, "PixelMeasuresSequence", "SpacingBetweenSlices"))
    car.set("SpacingBetweenSlices", None if spacing is None else g6(spacing), "(0018,0088)")
    car.set("SAR", _sar(ds), "(0018,1316)")
    echo_time = num(ds, "EffectiveEchoTime") if ctx.group.enhanced else num(ds, "EchoTime")
    if ctx.group.enhanced and ctx.group.echo_number is not None and ctx.group.multi_echo:
        car.set("EchoNumber", ctx.group.echo_number, "echo index within the instance")
    elif not ctx.group.enhanced and (num(ds, "EchoNumbers") or 0) > (
        0 if ctx.group.multi_echo else 1
    ):
        car.set("EchoNumber", num(ds, "EchoNumbers"), "(0018,0086)")
    if echo_time:
        car.set("EchoTime", _seconds(echo_time), "(0018,0081) ms → s")
    tr = num(ds, "RepetitionTime")
    if tr is None:
        tr = number(_enhanced(ds, "MRTimingAndRelatedParametersSequence", "RepetitionTime"))
    car.set("RepetitionTime", _seconds(tr), "(0018,0080) ms → s")
    ti = num(ds, "InversionTime")
    if ti:
        car.set("InversionTime", _seconds(ti), "(0018,0082) ms → s")
    flip = num(ds, "FlipAngle")
    if flip is None:
        flip = number(_enhanced(ds, "MRTimingAndRelatedParametersSequence", "FlipAngle"))
    car.set("FlipAngle", flip, "(0018,1314)")
    fov = num(ds, "PercentPhaseFieldOfView")
    if fov is None:
        fov = number(_enhanced(ds, "MRFOVGeometrySequence", "PercentPhaseFieldOfView"))
    car.set("PercentPhaseFOV", None if fov is None else g6(fov), "(0018,0094)")
    sampling = num(ds, "PercentSampling")
    if sampling is None:
        sampling = number(_enhanced(ds, "MRFOVGeometrySequence", "PercentSampling"))
    car.set("PercentSampling", None if sampling is None else g6(sampling), "(0018,0093)")
    etl = num(ds, "EchoTrainLength")
    if etl is not None and etl > 1:
        car.set("EchoTrainLength", etl, "(0018,0091)")
    steps = num(ds, "NumberOfPhaseEncodingSteps")
    car.set("PhaseEncodingSteps", steps, "(0018,0089)")
    car.set("AcquisitionMatrixPE", acquisition_matrix_pe(ds), "(0018,1310) phase entry")
    car.set("ReconMatrixPE", recon_matrix_pe(ctx), "image rows or columns along phase")
    bw = num(ds, "PixelBandwidth")
    if bw is None:
        bw = number(_enhanced(ds, "MRImagingModifierSequence", "PixelBandwidth"))
    car.set("PixelBandwidth", None if bw is None else g6(bw), "(0018,0095)")
    iop = _orientation(ctx)
    car.set("ImageOrientationPatientDICOM", iop, "(0020,0037)")
    car.set("InPlanePhaseEncodingDirectionDICOM", phase_direction(ds), "(0018,1312)")


def pulse_sequence_type(
    ctx: OutputContext,
    scanning: str | None,
    variant: str | None,
    reported_multiband: int | None = None,
) -> str | None:
    """ "Gradient Echo EPI", "Spin Echo"... from the scanning sequence alone.

    dcm2niix names the echo from (0018,0020) 'Scanning Sequence' (or where a vendor keeps
    it: Siemens XA's private item), never from the sequence name or the enhanced IOD's
    (0018,9008): 'SE' is a spin echo; 'GR', or 'EP' without 'SE', a gradient echo (a
    Siemens "epse" diffusion sequence that stores only 'EP' is reported as gradient echo
    EPI, as dcm2niix does). Siemens multiband is prefixed: from ASCCONV, the PAT text, or
    ``reported_multiband`` (the sidecar's factor, which may be inferred from slice times).
    """
    seq = _values(scanning)
    if "SE" in seq:
        echo = "Spin Echo"
    elif "GR" in seq or "EP" in seq:
        echo = "Gradient Echo"
    else:
        return None
    out = f"{echo} EPI" if "EP" in seq else echo
    if echo == "Gradient Echo" and "EP" not in seq and "SP" in _values(variant):
        out = "Spoiled " + out
    multiband = multiband_factor(ctx.ascconv) or pat_factors(ctx.ds)[1]
    if vendor(ctx.ds) == "Siemens":
        # Siemens: whatever factor the sidecar reports, also one inferred from slice times.
        multiband = max(multiband or 0, int(reported_multiband or 0))
    if multiband is not None and multiband > 1:
        out = "Multiband " + out
    return out


def pat_factors(ds: Dataset) -> tuple[float, int]:
    """(in-plane, slice) acceleration from Siemens' (0051,1011) PAT text ("p2", "s3", "p2s3").

    As dcm2niix reads it, an in-plane factor counts only when the text is nothing else
    ("p2s3" gives none in-plane); 0 when unknown.
    """
    if vendor(ds) != "Siemens" or (0x0051, 0x1011) not in ds:
        return 0.0, 0
    text = str(ds[0x0051, 0x1011].value or "").strip()
    accel = re.fullmatch(r"p(\d+(?:\.\d+)?)", text)
    slices = re.search(r"s(\d+)", text)
    return (float(accel.group(1)) if accel else 0.0), (int(slices.group(1)) if slices else 0)


def _values(joined: str | None) -> set[str]:
    """Backslash-separated defined terms as a set ("SE\\EP" → {"SE", "EP"})."""
    return {v.strip().upper() for v in (joined or "").split("\\") if v.strip()}


def multiband_factor(ascconv: dict[str, Any]) -> int | None:
    """Siemens slice acceleration: sSliceAcceleration, or the CMRR VB sequences' WIP block.

    CMRR's multiband EPI on VB software predates sSliceAcceleration and keeps the factor
    in sWiPMemBlock.alFree[13] (the sequence's documented layout).
    """
    value = ascconv.get("sSliceAcceleration.lMultiBandFactor")
    if isinstance(value, int):
        return value
    name = str(ascconv.get("tSequenceFileName", "")).lower()
    cmrr = ascconv.get("sWiPMemBlock.alFree[13]")
    if "cmrr_mb" in name and isinstance(cmrr, int) and cmrr > 0:
        return cmrr
    return None


def _sequence_variant(ds: Dataset) -> set[str]:
    """(0018,0021) 'Sequence Variant' values (SP spoiled, MTC magnetisation transfer...)."""
    return {v.strip().upper() for v in (text(ds, "SequenceVariant") or "").split("\\")}


def _sar(ds: Dataset) -> float | int | None:
    value = num(ds, "SAR")
    if value is None:
        timing = ds.get("SharedFunctionalGroupsSequence")
        if timing:
            seq = timing[0].get("MRTimingAndRelatedParametersSequence")
            if seq and seq[0].get("SpecificAbsorptionRateSequence"):
                value = number(
                    seq[0].SpecificAbsorptionRateSequence[0].get("SpecificAbsorptionRateValue")
                )
    return None if value is None else g6(value)


def _orientation(ctx: OutputContext) -> list[float | int]:
    iop = ctx.plan.frames[0][0].orientation_lps
    return [g6(v) for v in iop]


def phase_direction(ds: Dataset) -> str | None:
    """(0018,1312) 'In-plane Phase Encoding Direction', also from enhanced MR FOV/Geometry."""
    value = text(ds, "InPlanePhaseEncodingDirection")
    if value is None:
        raw = _enhanced(ds, "MRFOVGeometrySequence", "InPlanePhaseEncodingDirection")
        value = str(raw).strip() if raw else None
    return {"COLUMN": "COL"}.get(value or "", value) or None


def acquisition_matrix_pe(ds: Dataset) -> int | None:
    """Phase-encoding steps of (0018,1310) 'Acquisition Matrix' (freq rows, freq cols, phase rows,
    phase cols): the phase-rows entry unless it is 0, then phase-cols (dcm2niix's reading,
    whatever the phase direction: only one of them is set)."""
    matrix = ds.get("AcquisitionMatrix")
    if matrix is not None and len(matrix) == 4:
        value = int(matrix[2]) or int(matrix[3])
        if value:
            return value
    steps = _enhanced(ds, "MRFOVGeometrySequence", "MRAcquisitionPhaseEncodingStepsInPlane")
    return int(steps) if steps else None


def recon_matrix_pe(ctx: OutputContext) -> int | None:
    """Reconstructed voxels along phase encoding: the (tile) rows for COL or a square
    image, the columns for ROW; without a direction, dcm2niix falls back on the phase
    entry of (0018,1310) 'Acquisition Matrix'."""
    direction = phase_direction(ctx.ds)
    frame = ctx.plan.frames[0][0]
    if direction == "COL" or frame.rows == frame.columns:
        return frame.rows
    if direction == "ROW":
        return frame.columns
    matrix = ctx.ds.get("AcquisitionMatrix")
    if matrix is not None and len(matrix) == 4:
        return int(matrix[2]) or int(matrix[3]) or None
    return None


def build_sidecar(ctx: OutputContext, *, anonymize: bool = True) -> Sidecar:
    """All sidecar fields of one output."""
    from medbridge.convert import _ge, _general, _mr, _philips, _siemens, _uih

    car = Sidecar()
    common_fields(ctx, car, anonymize=anonymize)
    maker = vendor(ctx.ds)
    if maker == "Siemens":
        _siemens.fields(ctx, car)
    elif maker == "GE":
        _ge.fields(ctx, car)
    elif maker == "Philips":
        _philips.fields(ctx, car)
    elif maker == "UIH":
        _uih.fields(ctx, car)
    _mr.fields(ctx, car)
    if maker == "Philips":
        _philips.estimated_timing(ctx, car)
    _general.fields(ctx, car)
    return car


def _format(value: Any, indent: str) -> str:
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return "[" + ", ".join(json.dumps(v) for v in value) + "]"
        inner = f",\n{indent}\t".join(_format(v, indent + "\t") for v in value)
        return f"[\n{indent}\t{inner}\t]"
    if isinstance(value, dict):
        return json.dumps(value, indent="\t")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return "-0" if math.copysign(1.0, value) < 0 and value == 0 else str(int(value))
    return json.dumps(value)


def dumps(fields: dict[str, Any]) -> str:
    """JSON text laid out as dcm2niix lays it out (tabs, one key per line)."""
    lines = [f'\t"{k}": {_format(v, chr(9))}' for k, v in fields.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def numbers_line(values: Iterable[float]) -> str:
    """One line of a bval/bvec file (``%g`` numbers separated by spaces)."""
    return " ".join(f"{g6(v)}" for v in values)

"""Philips sidecar fields and Philips private scaling.

Philips stores three scalings (PS3.3 does not cover the last): the displayed value
``DV = SV × RescaleSlope + RescaleIntercept`` and the "floating point" value
``FP = DV / (RescaleSlope × ScaleSlope)`` with ScaleSlope in (2005,100E). dcm2niix writes
FP scaling into the NIfTI header (``UsePhilipsFloatNotDisplayScaling``) and all three in
the sidecar, so quantitative maps keep their units.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._ge import private
from medbridge.convert._sidecar import Sidecar, g6, number

__all__ = ["estimated_timing", "fields", "philips_scaling"]

#: Water-fat chemical shift (ppm) that Philips' water-fat shift (in pixels) refers to.
_WATER_FAT_PPM = 3.4

_CREATOR = "Philips MR Imaging DD 001"


def _rescale(ds: Dataset) -> tuple[float, float, Any]:
    """(RescaleSlope, RescaleIntercept, Real World Value Mapping item) of the first frame."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    rwv = None
    if per_frame:
        item = per_frame[0]
        pvt = item.get("PixelValueTransformationSequence")
        rwv_seq = item.get("RealWorldValueMappingSequence")
        rwv = rwv_seq[0] if rwv_seq else None
        if pvt:
            return (
                float(pvt[0].get("RescaleSlope", 1) or 1),
                float(pvt[0].get("RescaleIntercept", 0) or 0),
                rwv,
            )
    if rwv is None and "RealWorldValueSlope" in ds and "PerFrameFunctionalGroupsSequence" not in ds:
        rwv = ds  # an enhanced frame, flattened: its mapping item was merged into it
    return float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0), rwv


def _scale_slope(ds: Dataset) -> float | None:
    value = private(ds, 0x2005, _CREATOR, 0x0E)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if value is None and per_frame:
        inner = per_frame[0].get((0x2005, 0x140F))
        if inner is not None and inner.value:
            value = private(inner.value[0], 0x2005, _CREATOR, 0x0E)
    number_value = number(value[0] if isinstance(value, list | tuple) else value)
    return None if not number_value else float(number_value)


def philips_scaling(ds: Dataset) -> tuple[float, float] | None:
    """NIfTI (slope, intercept) giving Philips floating-point values, or None if unscaled."""
    slope, intercept, _ = _rescale(ds)
    scale = _scale_slope(ds)
    if scale is None or slope == 0:
        return None
    return 1.0 / scale, intercept / (slope * scale)


def _table_position(ds: Dataset) -> list[Any] | None:
    """Philips' table z, (2005,143C) in the first (2001,105F) stack item, as dcm2niix signs it."""
    stack = ds.get((0x2001, 0x105F))
    if stack is None or stack.VR != "SQ" or not stack.value:
        return None
    elem = stack.value[0].get((0x2005, 0x143C))
    z = number(elem.value) if elem is not None else None
    return None if z is None else [0, 0, g6(-float(z))]


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the Philips-only fields."""
    ds = ctx.ds
    car.set("TablePosition", _table_position(ds), "(2001,105F) stack item (2005,143C), z negated")
    slope, intercept, rwv = _rescale(ds)
    if rwv is not None:
        car.set(
            "PhilipsRWVSlope", number(g6(float(rwv.get("RealWorldValueSlope", 1)))), "(0040,9225)"
        )
        car.set(
            "PhilipsRWVIntercept",
            number(g6(float(rwv.get("RealWorldValueIntercept", 0)))),
            "(0040,9224)",
        )
    scale = _scale_slope(ds)
    if scale is not None:
        car.set("PhilipsRescaleSlope", g6(slope), "(0028,1053)")
        car.set("PhilipsRescaleIntercept", g6(intercept), "(0028,1052)")
        car.set("PhilipsScaleSlope", g6(scale), "(2005,100E)")
        car.set("UsePhilipsFloatNotDisplayScaling", 1, "NIfTI scaling gives Philips FP values")
    if ctx.group.kind == "fieldmap":
        car.set("Units", "Hz", "frame type FIELD_MAP")
    wfs = number(private(ds, 0x2001, "Philips Imaging DD 001", 0x22))
    car.set("WaterFatShift", None if wfs is None else g6(float(wfs)), "(2001,1022)")


def estimated_timing(ctx: OutputContext, car: Sidecar) -> None:
    """EPI readout timing estimated from the water-fat shift, as dcm2niix estimates it.

    Philips does not store the echo spacing; its (2001,1022) 'Water Fat Shift' (pixels)
    over the water-fat frequency difference (3.4 ppm of the imaging frequency) is the
    readout duration of ETL + 1 echoes. BIDS' effective echo spacing divides the readout
    of ETL echoes by the reconstructed phase-encoding lines minus one.
    """
    wfs = number(private(ctx.ds, 0x2001, "Philips Imaging DD 001", 0x22))  # unrounded
    freq = car.values.get("ImagingFrequency")
    recon = car.values.get("ReconMatrixPE")
    if not wfs or not freq or not recon or recon < 2:
        return
    etl = int(car.values.get("EchoTrainLength") or 1)
    readout = float(wfs) / (_WATER_FAT_PPM * float(freq)) * etl / (etl + 1)
    car.set(
        "EstimatedEffectiveEchoSpacing",
        g6(readout / (recon - 1)),
        "(2001,1022) water-fat shift / (3.4 ppm × ImagingFrequency), dcm2niix's estimate",
    )
    car.set(
        "EstimatedTotalReadoutTime",
        g6(readout),
        "(2001,1022) water-fat shift / (3.4 ppm × ImagingFrequency) × ETL / (ETL + 1)",
    )

"""Sidecar rules dcm2niix applies to every vendor, after the vendor-specific fields.

Vendor modules state what each scanner stores; these rules decide what a sidecar may say
whatever the vendor: a 3D acquisition has no slice timing and (unless it is 3D EPI) no
phase-encoding axis, CT and PET have no slice timing, CT reports its exposure instead of
slice thickness, a derived image is marked as not raw, and a known phase-encoding axis
without a known polarity is still reported as an axis. Keeping them in one place makes
GE, Canon, Hitachi, UIH and unknown vendors behave like the vendors in the reference sets.
"""

from __future__ import annotations

import re
from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._group import is_derived, trigger_time
from medbridge.convert._mr import mr_attribute
from medbridge.convert._naming import vendor
from medbridge.convert._sidecar import (
    Sidecar,
    g6,
    num,
    number,
    phase_direction,
    pulse_sequence_type,
    text,
)

__all__ = ["echo_train_length", "fields", "is_3d", "is_epi", "is_xray"]


def is_3d(ds: Dataset) -> bool:
    """(0018,0023) 'MR Acquisition Type' is 3D (Philips also says so in (2005,106F))."""
    value = str(ds.get("MRAcquisitionType", "") or "").strip().upper()
    if not value:
        philips = ds.get((0x2005, 0x106F))
        value = str(philips.value if philips is not None else "").strip().upper()
    return value.startswith("3D")


def is_epi(ds: Dataset) -> bool:
    """Echo-planar: "EP" in (0018,0020) 'Scanning Sequence' or (0018,9018) says YES."""
    scanning = ds.get("ScanningSequence")
    values = (
        scanning
        if isinstance(scanning, list | tuple) or type(scanning).__name__ == "MultiValue"
        else [scanning]
    )
    if any("EP" in str(v or "").upper() for v in values):
        return True
    return str(mr_attribute(ds, "EchoPlanarPulseSequence") or "").strip().upper() == "YES"


def is_xray(ds: Dataset) -> bool:
    """A CT/X-ray image as dcm2niix tells it: (0018,1152) 'Exposure' and no echo time."""
    return ds.get("Exposure") not in (None, "") and not num(ds, "EchoTime")


def echo_train_length(ds: Dataset) -> int:
    """(0018,0091), else (0018,9241) 'Gradient Echo Train Length' or Philips' EPI factor."""
    for value in (
        num(ds, "EchoTrainLength"),
        number(mr_attribute(ds, "GradientEchoTrainLength")),
        _private_number(ds, 0x2001, 0x1013),
    ):
        if value is not None and value > 1:
            return int(value)
    return int(num(ds, "EchoTrainLength") or 0)


def _private_number(ds: Dataset, group: int, element: int) -> float | int | None:
    elem = ds.get((group, element))
    return None if elem is None else number(elem.value)


def _phase_encoding(ctx: OutputContext, car: Sidecar) -> None:
    """BIDS phase-encoding keys as dcm2niix reports them for every vendor.

    3D acquisitions other than 3D EPI (echo train of one: MP-RAGE, SPACE, field maps) get
    neither axis nor direction; otherwise a known (0018,1312) with an unknown polarity
    still gives ``PhaseEncodingAxis`` ("i" for rows, "j" for columns).
    """
    ds = ctx.ds
    if is_3d(ds) and echo_train_length(ds) <= 1:
        car.drop("PhaseEncodingDirection")
        car.drop("PhaseEncodingAxis")
        return
    direction = phase_direction(ds)
    if direction in ("ROW", "COL") and "PhaseEncodingDirection" not in car.values:
        car.set("PhaseEncodingAxis", "j" if direction == "COL" else "i", "(0018,1312)")


def _slice_timing(ctx: OutputContext, car: Sidecar) -> None:
    """No slice times for 3D acquisitions, CT and PET, nor when every slice shares one."""
    modality = str(ctx.ds.get("Modality", "") or "").upper()
    times = car.values.get("SliceTiming")
    if is_3d(ctx.ds) or modality in ("CT", "PT") or (times and len(set(times)) < 2):
        car.drop("SliceTiming")


def _trigger_delay(ctx: OutputContext, car: Sidecar) -> None:
    """(0018,1060) 'Trigger Time' of GE and Philips images as dcm2niix reports it.

    Over several files the span from the first to the last (in instance order) is given,
    when it is positive; otherwise the first file's own trigger time.
    """
    if vendor(ctx.ds) not in ("GE", "Philips"):
        return
    frames = sorted((f for volume in ctx.plan.frames for f in volume), key=lambda f: f.order)
    values = [_trigger(f.info.get("instance")) for f in (frames[0], frames[-1])]
    first, last = values
    if first is None:
        return
    span = (last - first) if last is not None else 0.0
    delay = span if span > 0 else first
    if delay > 0:
        car.set("TriggerDelayTime", g6(delay), "(0018,1060) 'Trigger Time', last − first")


def _trigger(ds: Any) -> float | None:
    """A frame's ``info["instance"]`` header (a Dataset or the fast scan's) → trigger time."""
    return trigger_time(ds) if ds is not None else None


def _xray(ctx: OutputContext, car: Sidecar) -> None:
    """CT exposure keys; slice thickness and spacing are left out (they often vary)."""
    ds = ctx.ds
    seconds = num(ds, "ExposureTime")
    if seconds:
        car.set("ExposureTime", g6(float(seconds) / 1000.0), "(0018,1150) ms → s")
    current = num(ds, "XRayTubeCurrent")
    if current:
        car.set("XRayTubeCurrent", current, "(0018,1151)")
    kernel = text(ds, "ConvolutionKernel")
    car.set("ConvolutionKernel", kernel, "(0018,1210)")
    split = re.fullmatch(r"(.*\D)(\d+)", kernel or "")
    if split:  # "FC13": filter type FC, size 13 (dcm2niix splits the trailing number)
        car.set("ReconFilterType", split.group(1), "(0018,1210) before its trailing digits")
        car.set("ReconFilterSize", int(split.group(2)), "(0018,1210) trailing digits")
    if not is_xray(ds):
        return
    exposure = num(ds, "Exposure")
    if exposure:
        car.set("XRayExposure", g6(float(exposure)), "(0018,1152)")
    car.drop("SliceThickness")
    car.drop("SpacingBetweenSlices")


def _gradient_correction(ctx: OutputContext, car: Sidecar) -> None:
    """NonlinearGradientCorrection from (0008,0008) of any vendor: "ND" (not distortion
    corrected) is false, "DIS2D"/"DIS3D" true (dcm2niix tests the values joined by "_")."""
    if "NonlinearGradientCorrection" in car.values:
        return
    values = ctx.ds.get("ImageType", []) or []
    joined = "_".join([values] if isinstance(values, str) else [str(v) for v in values])
    if "_ND" in joined:
        car.set("NonlinearGradientCorrection", False, "(0008,0008) 'ND'")
    elif "_DIS2D" in joined or "_DIS3D" in joined:
        car.set("NonlinearGradientCorrection", True, "(0008,0008) 'DIS2D/DIS3D'")


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Apply the vendor-neutral rules to a sidecar the vendor modules have filled."""
    if is_derived(ctx.ds):
        car.set("RawImage", False, "derived (0008,0008) 'Image Type'")
    car.set(
        "PulseSequenceType",
        pulse_sequence_type(
            ctx,
            car.values.get("ScanningSequence"),
            car.values.get("SequenceVariant"),
            car.values.get("MultibandAccelerationFactor"),
        ),
        "(0018,0020) + (0018,0021), dcm2niix's rule",
    )
    _gradient_correction(ctx, car)
    _phase_encoding(ctx, car)
    _slice_timing(ctx, car)
    _trigger_delay(ctx, car)
    _xray(ctx, car)

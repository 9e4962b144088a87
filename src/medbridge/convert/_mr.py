"""Sidecar fields from the enhanced MR acquisition attributes (PS3.3 C.8.13).

The enhanced MR IOD moved acquisition details into functional groups: k-space sampling
(MR FOV/Geometry, C.8.13.5.2), acceleration and partial Fourier (MR Modifier,
C.8.13.5.6), spoiling and magnetisation transfer (MR Imaging Modifier, C.8.13.5.4),
averages and receive coil. Philips classic images repeat the same attributes in the
private per-frame item (2005,140F), and Siemens XA enhanced images carry them in the
shared groups. dcm2niix reads them wherever they are; so does :func:`mr_attribute`,
which makes these fields vendor-neutral (Canon and other enhanced exports get them too).
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._naming import vendor
from medbridge.convert._sidecar import Sidecar, g6, number
from medbridge.volume._frames import frame_dataset

__all__ = ["fields", "mr_attribute"]

_PHILIPS_PRIVATE_ITEM = (0x2005, 0x140F)


def mr_attribute(ds: Dataset, keyword: str) -> Any:
    """The first value of ``keyword`` at the top level (an enhanced frame comes here
    flattened) or in a classic image's Philips private item (2005,140F); None if absent
    or empty."""
    for item in _items(ds):
        if keyword in item:
            value = item[keyword].value
            if value is None or value == "":
                continue
            if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
                value = value[0] if len(value) else None
            return value
    return None


def _items(ds: Dataset) -> list[Dataset]:
    items = [ds]
    private = ds.get(_PHILIPS_PRIVATE_ITEM)
    if private is not None and private.VR == "SQ" and private.value:
        items.append(private.value[0])
    return items


def _text(ds: Dataset, keyword: str) -> str | None:
    value = mr_attribute(ds, keyword)
    out = str(value).strip() if value is not None else ""
    return out or None


def _state(ds: Dataset, keyword: str) -> bool | None:
    """A defined-term attribute whose "NONE" means off (spoiling, magnetisation transfer)."""
    value = _text(ds, keyword)
    return None if value is None else value.upper() != "NONE"


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the fields the enhanced MR attributes give, for any vendor that stores them."""
    ds = ctx.ds
    name = _text(ds, "PulseSequenceName")
    if "SequenceName" not in car.values:
        car.set("SequenceName", name, "(0018,9005) 'Pulse Sequence Name'")
    averages = number(mr_attribute(ds, "NumberOfAverages"))
    if averages is not None and averages > 1:
        car.set("NumberOfAverages", averages, "(0018,0083) 'Number of Averages'")
    car.set("MTState", _state(ds, "MagnetizationTransfer"), "(0018,9020)")
    car.set("SpoilingState", _state(ds, "Spoiling"), "(0018,9016)")
    car.set("CoilString", _text(ds, "ReceiveCoilName"), "(0018,1250) 'Receive Coil Name'")
    duration = number(mr_attribute(ds, "AcquisitionDuration"))
    if duration:
        car.set("AcquisitionDuration", g6(duration), "(0018,9073) 'Acquisition Duration'")
    _sampling(ctx, car)
    _acceleration(ds, car)
    if "SliceTiming" not in car.values:
        car.set(
            "SliceTiming",
            frame_slice_times(ctx),
            "(0018,9074) 'Frame Acquisition DateTime' of each slice",
        )


def _seconds_of_day(value: Any) -> float | None:
    text = str(value or "").strip()
    if len(text) < 14:
        return None
    try:
        return int(text[8:10]) * 3600 + int(text[10:12]) * 60 + float(text[12:].split("+")[0])
    except ValueError:
        return None


def frame_slice_times(ctx: OutputContext) -> list[Any] | None:
    """Slice times of an enhanced 2D time series from each frame's acquisition time.

    Each frame's Frame Content (PS3.3 C.7.6.16.2.2) states when it was acquired; the
    first volume's frames, relative to the earliest, are the slice times (as dcm2niix
    reports them for Siemens XA). Single volumes and 3D acquisitions have none.
    """
    if not ctx.group.enhanced or ctx.n_volumes < 2 or ctx.n_slices < 2:
        return None
    if str(ctx.ds.get("MRAcquisitionType", "")).strip().upper() == "3D":
        return None
    times = []
    for frame in ctx.plan.frames[0]:
        index = frame.info.get("frame_index")
        source = frame_dataset(frame.info) if index is not None else None
        if source is None or index is None:
            return None
        content = source.PerFrameFunctionalGroupsSequence[int(index)].get("FrameContentSequence")
        when = _seconds_of_day(content[0].get("FrameAcquisitionDateTime")) if content else None
        if when is None:
            return None
        times.append(when)
    first = min(times)
    if max(times) - first <= 0 or max(times) - first > 3600:
        return None
    return [g6(t - first) for t in times]


def _sampling(ctx: OutputContext, car: Sidecar) -> None:
    """k-space steps; with partial Fourier, dcm2niix names the in-plane steps as such."""
    ds = ctx.ds
    in_plane = number(mr_attribute(ds, "MRAcquisitionPhaseEncodingStepsInPlane"))
    partial = (_text(ds, "PartialFourier") or "").upper() == "YES"
    siemens = vendor(ds) == "Siemens"
    if partial and not siemens:
        car.set("PartialFourierEnabled", "YES", "(0018,9081) 'Partial Fourier'")
        car.drop("PhaseEncodingSteps")
        car.set(
            "PhaseEncodingStepsNoPartialFourier",
            in_plane,
            "(0018,9231) 'MR Acquisition Phase Encoding Steps in-plane'",
        )
    elif "PhaseEncodingSteps" not in car.values:
        car.set("PhaseEncodingSteps", in_plane, "(0018,9231)")
    direction = _text(ds, "PartialFourierDirection")
    car.set("PartialFourierDirection", direction, "(0018,9036) 'Partial Fourier Direction'")
    car.set(
        "FrequencyEncodingSteps",
        number(mr_attribute(ds, "MRAcquisitionFrequencyEncodingSteps")),
        "(0018,9058) 'MR Acquisition Frequency Encoding Steps'",
    )
    car.set(
        "PhaseEncodingStepsOutOfPlane",
        number(mr_attribute(ds, "MRAcquisitionPhaseEncodingStepsOutOfPlane")),
        "(0018,9232) 'MR Acquisition Phase Encoding Steps out-of-plane'",
    )
    car.set(
        "NumberOfKSpaceTrajectories",
        number(mr_attribute(ds, "NumberOfKSpaceTrajectories")),
        "(0018,9093) 'Number of k-Space Trajectories'",
    )


def _acceleration(ds: Dataset, car: Sidecar) -> None:
    for key, keyword, tag in (
        ("ParallelReductionFactorInPlane", "ParallelReductionFactorInPlane", "(0018,9069)"),
        ("ParallelReductionFactorOutOfPlane", "ParallelReductionFactorOutOfPlane", "(0018,9155)"),
    ):
        value = number(mr_attribute(ds, keyword))
        if key not in car.values and value is not None:
            car.set(key, g6(value), tag)
    technique = _text(ds, "ParallelAcquisitionTechnique")
    if "ParallelAcquisitionTechnique" not in car.values:
        car.set("ParallelAcquisitionTechnique", technique, "(0018,9078)")

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

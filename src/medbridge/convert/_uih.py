"""UIH (United Imaging) sidecar fields.

UIH time series store no slice-time table; as for Siemens classic images, dcm2niix takes
each slice's (0008,0032) 'Acquisition Time' (see :mod:`medbridge.convert._slicetime`),
for time series only. A grid ('VFRAME', see :mod:`medbridge.volume._uih`) keeps each
slice's time in its own (0065,1051) item, and dcm2niix, reading every (0008,0032) of the
file, reports the last item's as the series' 'AcquisitionTime'. (0065,1005) names the
phase-encoding direction as the console displays it ("P->A").
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._ge import private
from medbridge.convert._sidecar import Sidecar, _acquisition_time
from medbridge.convert._slicetime import acquisition_slice_times, dcm2niix_seconds

__all__ = ["fields"]

_CREATOR = "Image Private Header"


def _hhmmss(item: Any) -> float | None:
    raw = str(getattr(item, "AcquisitionTime", "") or "").strip() if item is not None else ""
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _grid_slice_times(ctx: OutputContext) -> list[float] | None:
    """Each stored slice's time (s) from its (0065,1051) item's (0008,0032)."""
    values = [_hhmmss(f.info.get("grid_item")) for f in ctx.plan.frames[0]]
    if len(values) < 2 or any(v is None for v in values):
        return None
    times = dcm2niix_seconds([v for v in values if v is not None])
    return times if len(set(times)) > 1 else None


def _last_item_time(ds: Dataset) -> str | None:
    """'AcquisitionTime' as dcm2niix reports a grid: its last (0065,1051) item's."""
    items = private(ds, 0x0065, _CREATOR, 0x51) or []
    timed = [i for i in items if _hhmmss(i) is not None]
    if not timed:
        return None
    stand_in = Dataset()
    stand_in.AcquisitionTime = timed[-1].AcquisitionTime
    if "AcquisitionDate" in ds:
        stand_in.AcquisitionDate = ds.AcquisitionDate
    return _acquisition_time(stand_in)


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the UIH-only fields."""
    shown = private(ctx.ds, 0x0065, _CREATOR, 0x05)
    car.set(
        "PhaseEncodingDirectionDisplayed",
        str(shown).strip() if shown else None,
        "(0065,1005) phase direction as displayed",
    )
    grid = ctx.group.mosaic and "grid_slice" in ctx.plan.frames[0][0].info
    if grid:
        car.set("AcquisitionTime", _last_item_time(ctx.ds), "last (0065,1051) item's (0008,0032)")
    if ctx.n_volumes > 1 and not ctx.group.enhanced and (grid or not ctx.group.mosaic):
        car.set(
            "SliceTiming",
            _grid_slice_times(ctx) if grid else acquisition_slice_times(ctx.plan.frames[0]),
            "(0008,0032) 'Acquisition Time' of each slice (a grid's: of its items)",
        )

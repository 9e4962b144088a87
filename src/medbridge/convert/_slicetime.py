"""Slice times of classic (one slice per file) series from each file's acquisition time.

Siemens classic 2D images and UIH time series store no slice-time table; dcm2niix then
takes each slice's (0008,0032) 'Acquisition Time'. It keeps that HHMMSS.FFFFFF value in
single precision and prints the seconds with five decimals, so its times are quantised to
about 1/128 s: 10:17:00.833333 and 10:17:00.5 are 0.33594 s apart, not 0.333333. Those
are the values every dcm2niix-converted dataset carries, so medbridge reproduces the same
arithmetic (:func:`dcm2niix_seconds`) rather than the exact difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medbridge.volume._stack import Frame

__all__ = ["acquisition_slice_times", "dcm2niix_seconds", "shared_first_time"]

#: Times further apart than half a day wrapped past midnight.
_HALF_DAY = 43200.0


def _single(value: float) -> float:
    return float(np.float32(value))


def _hhmmss_to_seconds(value: float) -> float:
    """dcm2niix's ``dicomTimeToSec``: HHMMSS.FFFFF printed with five decimals, read back."""
    printed = f"{value:+013.5f}"
    return int(printed[0:3]) * 3600 + int(printed[3:5]) * 60 + float(printed[5:])


def dcm2niix_seconds(times_hhmmss: Sequence[float]) -> list[float]:
    """Seconds from the earliest of ``times_hhmmss`` (HHMMSS.FFFFFF numbers), as dcm2niix
    computes them in single precision.

    >>> dcm2niix_seconds([101700.5, 101700.833333])
    [0.0, 0.33594]
    """
    seconds = [_single(_hhmmss_to_seconds(_single(t))) for t in times_hhmmss]
    first = min(seconds)
    # A series running past midnight: times after the wrap are a day later.
    spans = [s - first if s - first < _HALF_DAY else s - first - 2 * _HALF_DAY for s in seconds]
    low = min(spans)
    out = []
    for span in spans:
        ms = _single(_hhmmss_to_seconds(_single(span - low)) * 1000.0)
        out.append(float(f"{ms / 1000.0:.6g}"))
    return out


def _hhmmss(ds: Any) -> float | None:
    raw = str(getattr(ds, "AcquisitionTime", "") or "").strip() if ds is not None else ""
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def acquisition_slice_times(frames: Sequence[Frame]) -> list[float] | None:
    """Each stored slice's time (s) from its file's (0008,0032), or None when any is missing
    or all are equal (a de-identified export that rewrote them carries no timing)."""
    values = [_hhmmss(f.info.get("instance")) for f in frames]
    if len(values) < 2 or any(v is None for v in values):
        return None
    times = dcm2niix_seconds([v for v in values if v is not None])
    return times if len(set(times)) > 1 else None


def shared_first_time(frames: Sequence[Frame]) -> int:
    """How many slices of a volume share the first acquired slice's time: more than one
    (but not all) means a multiband acquisition, as dcm2niix infers it."""
    ordered = sorted(frames, key=lambda f: f.order)
    values = [_hhmmss(f.info.get("instance")) for f in ordered]
    if not values or values[0] is None:
        return 0
    first = _single(values[0])
    shared = sum(1 for v in values if v is not None and _single(v) == first)
    return shared if shared < len(values) else 0

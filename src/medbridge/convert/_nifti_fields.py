"""NIfTI header text and slice fields of a converted image, as dcm2niix fills them.

dcm2niix leaves a short summary in every header it writes, which tools such as FSL's
``fslhd`` and AFNI show and some pipelines parse:

* ``descrip`` (80 bytes): ``TE=<echo time ms, %.2g>;Time=<acquisition time HHMMSS, %.3f>``,
  then ``;phase=<0|1>`` when the phase-encoding polarity is known (1 when positive: a
  sidecar ``j-`` or ``i``) and ``;mb=<factor>`` for a multiband acquisition (slices
  sharing a time count as one). X-ray images (CT) leave the echo time out.
* ``aux_file`` (24 bytes): the first 23 characters of (0020,4000) 'Image Comments'.
* ``slice_code``: the slice order (NIfTI's SEQ_INC 1 ... ALT_DEC2 6) dcm2niix derives only
  from Siemens' own slice-time table (CSA 'MosaicRefAcqTimes' or its (0019,1029) copy),
  by where the earliest slice is; unknown (0) for simultaneous (multiband) slices, when
  the protocol numbers slices from the top ('ProtocolSliceNumber'), and for every other
  source of slice times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from medbridge.convert._context import OutputContext
from medbridge.convert._ge import ge_multiband
from medbridge.convert._naming import vendor
from medbridge.convert._siemens import _mosaic_times
from medbridge.volume._csa import csa_header, csa_value
from medbridge.volume._frames import frame_dataset

__all__ = ["nifti_fields", "slice_order_code"]

SEQ_INC, SEQ_DEC, ALT_INC, ALT_DEC, ALT_INC2, ALT_DEC2 = 1, 2, 3, 4, 5, 6


def slice_order_code(times: Sequence[float]) -> int:
    """NIfTI ``slice_code`` of a slice-time table (any unit), dcm2niix's ``checkSliceTimes``.

    >>> slice_order_code([0, 3, 1, 4, 2])  # slices 1,3,5 first, then 2,4
    3
    >>> slice_order_code([2, 0, 3, 1])  # slices 2,4 first, then 1,3
    5
    >>> slice_order_code([0, 1, 2, 0, 1, 2])  # two slices at once: multiband
    0
    """
    n = len(times)
    if n < 3:
        return 0
    low = min(times)
    values = [t - low for t in times] if low < 0 else list(times)
    zeros = sum(1 for t in values if t == 0)
    first = min(range(n), key=lambda i: (values[i], i))
    if zeros > 1:
        return 0  # multiband (or all equal): unknown
    if first == 1:
        return ALT_INC2
    if first == n - 2:
        return ALT_DEC2
    if first == 0:
        return SEQ_INC if values[1] < values[2] else ALT_INC
    if first == n - 1:
        return SEQ_DEC if values[n - 3] > values[n - 2] else ALT_DEC
    return 0


def _siemens_code(ctx: OutputContext) -> int:
    """slice_code from the first image's Siemens slice-time table, 0 without one."""
    if vendor(ctx.ds) != "Siemens":
        return 0
    header = frame_dataset(ctx.plan.frames[0][0].info)
    if header is None:
        return 0
    times = _mosaic_times(header)
    try:
        values = [float(t) for t in times or []]
    except (TypeError, ValueError):
        return 0
    if (csa_value(csa_header(header, "image"), "ProtocolSliceNumber") or 0) > 1:
        return 0
    return slice_order_code(values)


def _hhmmss(clock: Any, ds: Any) -> float:
    """The acquisition time as dcm2niix's HHMMSS.FFFFFF number: the sidecar's
    ``AcquisitionTime`` (HH:MM:SS.ffffff), else (0008,0032) itself (the sidecar leaves the
    time out without a date; the header does not), else 0."""
    found = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2}(?:\.\d*)?)", str(clock or ""))
    if found:
        hours, minutes, seconds = found.groups()
        return int(hours) * 10000 + int(minutes) * 100 + float(seconds)
    # Read as an attribute: a scanned header answers it without parsing the file.
    raw = str(getattr(ds, "AcquisitionTime", "") or "").strip() if ds is not None else ""
    main, _, frac = raw.partition(".")
    try:
        return float(main.ljust(6, "0") + "." + (frac or "0")) if main else 0.0
    except ValueError:
        return 0.0


def _first_time_shared(ctx: OutputContext) -> int:
    """Siemens classic slices: how many share the first slice's (0008,0032) (all of them
    when the times were removed), dcm2niix's multiband estimate; 0 when not applicable."""
    if vendor(ctx.ds) != "Siemens" or ctx.group.mosaic or ctx.group.enhanced:
        return 0
    frames = sorted(ctx.plan.frames[0], key=lambda f: f.order)
    if len(frames) < 2:
        return 0
    values = [np.float32(_hhmmss(None, f.info.get("instance"))) for f in frames]
    return sum(1 for v in values if v == values[0])


def _multiband(ctx: OutputContext, fields: dict[str, Any]) -> int:
    """The multiband factor dcm2niix knows when it fills the header: GE's (0043,10B6) (the
    protocol block is read later), Siemens' shared acquisition times, else the sidecar's."""
    if vendor(ctx.ds) == "GE":
        return ge_multiband(ctx.ds)
    factor = fields.get("MultibandAccelerationFactor")
    return max(factor if isinstance(factor, int) else 0, _first_time_shared(ctx))


def _phase_positive(ctx: OutputContext, fields: dict[str, Any]) -> int | None:
    """dcm2niix's phase-encoding polarity (1 positive), known even where the sidecar
    leaves the direction out (3D non-EPI): the sidecar's direction (rows are stored
    reversed, so a positive column direction is ``j-``), else GE's polarity (Flipped is
    negative), else Siemens' CSA 'PhaseEncodingDirectionPositive'."""
    direction = {"j-": 1, "j": 0, "i": 1, "i-": 0}.get(str(fields.get("PhaseEncodingDirection")))
    if direction is not None:
        return direction
    polarity = fields.get("PhaseEncodingPolarityGE")
    if polarity in ("Flipped", "Unflipped"):
        return 0 if polarity == "Flipped" else 1
    if vendor(ctx.ds) == "Siemens" and not ctx.group.enhanced:
        value = csa_value(csa_header(ctx.ds, "image"), "PhaseEncodingDirectionPositive")
        if value in (0, 1):
            return int(value)
    return None


def nifti_fields(ctx: OutputContext, fields: dict[str, Any]) -> dict[str, Any]:
    """``_descrip``, ``_aux_file`` and ``_slice_code`` for :func:`medbridge.formats.nifti.write`,
    from the output's sidecar ``fields`` and headers."""
    text = f"Time={_hhmmss(fields.get('AcquisitionTime'), ctx.ds):.3f}"
    echo = fields.get("EchoTime")
    if fields.get("Modality") != "CT" and "XRayExposure" not in fields:
        text = f"TE={float(echo) * 1000.0 if isinstance(echo, int | float) else 0.0:.2g};{text}"
    phase = _phase_positive(ctx, fields)
    if phase is not None:
        text += f";phase={phase}"
    multiband = _multiband(ctx, fields)
    if multiband > 1:
        text += f";mb={multiband}"
    comments = str(fields.get("ImageComments") or "")
    return {"_descrip": text, "_aux_file": comments[:23], "_slice_code": _siemens_code(ctx)}

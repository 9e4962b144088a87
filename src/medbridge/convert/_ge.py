"""GE sidecar fields from the GEMS private groups (0019, 0043).

GE keeps shims, the internal sequence name and echo spacing in private elements whose
creators are 'GEMS_ACQU_01' (0019) and 'GEMS_PARM_01' (0043); each slice's acquisition
time within the TR is its (0018,1060) 'Trigger Time'.
"""

from __future__ import annotations

import gzip
from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._sidecar import Sidecar, g6, number, phase_direction, recon_matrix_pe

__all__ = ["fields", "private"]


def private(ds: Dataset, group: int, creator: str, element: int) -> Any:
    """Value of a private element found through its creator, or None."""
    for block in range(0x10, 0x100):
        owner = ds.get((group, block))
        if owner is None:
            continue
        if str(owner.value).strip() == creator:
            elem = ds.get((group, (block << 8) | element))
            return None if elem is None else elem.value
    return None


def protocol_block(ds: Dataset) -> dict[str, str]:
    """GE's protocol data block (0025,101B): a length, then gzip'd ``KEY "value"`` lines."""
    raw = private(ds, 0x0025, "GEMS_SERS_01", 0x1B)
    if not isinstance(raw, bytes) or len(raw) < 8:
        return {}
    try:
        text = gzip.decompress(raw[4:]).decode("latin-1")
    except (OSError, EOFError):
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key:
            out[key] = value.strip().strip('"')
    return out


def _table_position(ds: Dataset) -> list[Any] | None:
    """GE (0043,10B2): its third value is the table's z position (dcm2niix's TablePosition)."""
    values = private(ds, 0x0043, "GEMS_PARM_01", 0xB2)
    if not isinstance(values, list | tuple) and type(values).__name__ != "MultiValue":
        return None
    z = number(values[2]) if len(values) >= 3 else None
    return None if z is None else [0, 0, g6(float(z))]


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the GE-only fields."""
    ds = ctx.ds
    block = protocol_block(ds)
    car.set("TablePosition", _table_position(ds), "(0043,10B2) third value (table z)")
    reuse = private(ds, 0x0043, "GEMS_PARM_01", 0x95)
    car.set(
        "PrescanReuseString",
        str(reuse).strip() if reuse else None,
        "(0043,1095) prescan reuse string",
    )
    if "ProcedureStepDescription" not in car.values:
        car.set("ProcedureStepDescription", block.get("PSEQ"), "GE protocol block PSEQ")
    if "SequenceName" not in car.values:
        seq_name = private(ds, 0x0019, "GEMS_ACQU_01", 0x9C)
        car.set("SequenceName", str(seq_name).strip() if seq_name else None, "(0019,109C)")
    view_order = block.get("VIEWORDER")
    if view_order in ("0", "1"):
        flipped = view_order == "1"
        car.set(
            "PhaseEncodingPolarityGE",
            "Flipped" if flipped else "Unflipped",
            "GE protocol block VIEWORDER",
        )
        direction = phase_direction(ds)
        if direction == "COL":
            car.set("PhaseEncodingDirection", "j" if flipped else "j-", "(0018,1312) + VIEWORDER")
        elif direction == "ROW":
            car.set("PhaseEncodingDirection", "i-" if flipped else "i", "(0018,1312) + VIEWORDER")
    name = private(ds, 0x0019, "GEMS_ACQU_01", 0x9E)
    car.set("InternalPulseSequenceName", str(name).strip() if name else None, "(0019,109E)")
    shims = [private(ds, 0x0043, "GEMS_PARM_01", e) for e in (0x02, 0x03, 0x04)]
    if all(v is not None for v in shims):
        car.set("ShimSetting", [int(v) for v in shims], "(0043,1002-1004) gradient offsets")
    duration = number(private(ds, 0x0019, "GEMS_ACQU_01", 0x5A))
    if duration:
        car.set("AcquisitionDuration", g6(float(duration) / 1e6), "(0019,105A) µs → s")
    spacing_us = number(private(ds, 0x0043, "GEMS_PARM_01", 0x2C))
    asset = private(ds, 0x0043, "GEMS_PARM_01", 0x83)
    factor = 1.0
    if asset is not None:
        values = (
            asset
            if isinstance(asset, list | tuple) or type(asset).__name__ == "MultiValue"
            else [asset]
        )
        try:
            factor = float(values[0]) or 1.0
        except (TypeError, ValueError, IndexError):
            factor = 1.0
    if asset is not None:  # without GE's ASSET element, acceleration is simply unknown
        car.set(
            "ParallelReductionFactorInPlane",
            g6(1.0 / factor) if factor < 1 else g6(factor),
            "(0043,1083) ASSET",
        )
        car.set("ParallelReductionFactorOutOfPlane", 1, "no out-of-plane acceleration recorded")
    recon_pe = recon_matrix_pe(ctx)
    if spacing_us and recon_pe:
        ees = float(spacing_us) * 1e-6 * min(factor, 1.0 / factor if factor > 1 else factor)
        car.set("EffectiveEchoSpacing", g6(ees), "(0043,102C) × ASSET")
        car.set(
            "TotalReadoutTime",
            g6(ees * (recon_pe - 1)),
            "EffectiveEchoSpacing × (ReconMatrixPE − 1)",
        )
    times: list[Any] = []
    for frame in ctx.plan.frames[0]:
        t = frame.info.get("trigger_time_ms")
        if t is None:
            times = []
            break
        times.append(g6(float(t) / 1000.0))
    if times and len(set(times)) > 1:
        car.set("SliceTiming", times, "(0018,1060) 'Trigger Time' of each slice")
    elif car.values.get("MRAcquisitionType") != "3D":
        guessed = slice_times_from_order(ctx, block.get("SLICEORDER"))
        car.set("SliceTiming", guessed, "protocol block SLICEORDER + TR, dcm2niix's estimate")


def slice_times_from_order(ctx: OutputContext, order: str | None) -> list[Any] | None:
    """Slice times from GE's protocol-block SLICEORDER (0 sequential, 1 interleaved).

    GE EPI often stores no per-slice time; dcm2niix then assumes a continuous acquisition
    (TR divided evenly among the slices), in instance order, which GE numbers in
    acquisition direction; interleaved acquires every other slice first (1st, 3rd...).
    Only for time series (a single volume has no slice-timing use) with a known TR.
    """
    if order not in ("0", "1") or ctx.n_volumes < 2 or ctx.n_slices < 2:
        return None
    tr = number(ctx.ds.get("RepetitionTime"))
    if not tr:
        return None
    stored = ctx.plan.frames[0]
    by_instance = sorted(range(len(stored)), key=lambda k: stored[k].order)
    n = len(by_instance)
    sequence = by_instance[0::2] + by_instance[1::2] if order == "1" else by_instance
    step = float(tr) / 1000.0 / n
    times = [0.0] * n
    for shot, k in enumerate(sequence):
        times[k] = shot * step
    return [g6(t) for t in times]

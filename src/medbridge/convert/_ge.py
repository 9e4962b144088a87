"""GE sidecar fields from the GEMS private groups (0019, 0043).

GE keeps shims, the internal sequence name and echo spacing in private elements whose
creators are 'GEMS_ACQU_01' (0019) and 'GEMS_PARM_01' (0043); each slice's acquisition
time within the TR is its (0018,1060) 'Trigger Time'.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._sidecar import (
    Sidecar,
    g6,
    number,
    phase_direction,
    recon_matrix_pe,
    text,
)

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


def phase_flipped(ds: Dataset) -> bool | None:
    """GE's phase-encoding polarity: flipped (True), unflipped (False) or unknown (None).

    RX27 and later state it in (0018,9034) 'Rectilinear Phase Encode Reordering' (LINEAR is
    flipped); older releases keep it in the binary user data (0043,102A) of EPI images: a
    polarity bit, inverted when slices run bottom-up (dcm2niix's reading, after dicm2nii).
    """
    reordering = str(ds.get((0x0018, 0x9034)).value if (0x0018, 0x9034) in ds else "")
    if reordering.strip()[:1].upper() in ("L", "R"):
        return reordering.strip()[:1].upper() == "L"
    data = private(ds, 0x0043, "GEMS_PARM_01", 0x2A)
    if not isinstance(data, bytes) or len(data) < 916:
        return None
    offset = struct.unpack_from("<H", data, 24)[0]
    if len(data) < offset + 916:
        return None
    version = struct.unpack_from("<f", data, offset)[0]
    if not 5.0 <= version <= 40.0:
        return None
    start, slice_order_at = offset, 0x394
    if version >= 25.002:
        start, slice_order_at = start + 0x4C, slice_order_at - 0x8C
    if not struct.unpack_from("<H", data, start + 0x3A)[0] & 0x800:
        return None  # not EPI
    flipped = bool(struct.unpack_from("<H", data, start + 0x30)[0] & 0x4)
    if struct.unpack_from("<H", data, start + slice_order_at)[0] == 2:  # bottom-up slices
        flipped = not flipped
    return flipped


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
    flipped = phase_flipped(ds)
    if flipped is not None:
        car.set(
            "PhaseEncodingPolarityGE",
            "Flipped" if flipped else "Unflipped",
            "(0018,9034), else the (0043,102A) user data flags",
        )
        direction = phase_direction(ds)
        if direction == "COL":
            car.set("PhaseEncodingDirection", "j" if flipped else "j-", "(0018,1312) + polarity")
        elif direction == "ROW":
            car.set("PhaseEncodingDirection", "i-" if flipped else "i", "(0018,1312) + polarity")
    for key, element in (("NumberOfDiffusionDirectionGE", 0xE0), ("NumberOfDiffusionT2GE", 0xDF)):
        count = number(private(ds, 0x0019, "GEMS_ACQU_01", element))
        car.set(key, round(count) if count else None, f"(0019,10{element:02X})")
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
    multiband = _multiband(ds)
    timing = epi_slice_times(ctx, block)
    if timing is not None:
        times, multiband = timing
        car.set("SliceTiming", times, "protocol block SLICEORDER + TR, dcm2niix's estimate")
    if multiband > 1:
        car.set("MultibandAccelerationFactor", multiband, "(0043,10B6) or protocol MBACCEL")


def _first_int(value: Any) -> int:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    parsed = number(value)
    return int(parsed) if parsed is not None else 0


def _multiband(ds: Dataset) -> int:
    """(0043,10B6): multiband factor, then slice FOV shift and calibration."""
    return max(_first_int(private(ds, 0x0043, "GEMS_PARM_01", 0xB6)), 1)


def _epi_version(ds: Dataset) -> int:
    """dcm2niix's GE EPI flavour: -1 not EPI, 0 multi-phase "epi", 1 "epiRT", 2 "epi2",
    3 the ABCD pepolar research sequence; from (0019,109C), (0019,109E), (0043,107C)."""
    name = str(private(ds, 0x0019, "GEMS_ACQU_01", 0x9C) or "")
    version = -1
    for marker, value in (("epi_pepolar", 3), ("epi2", 2), ("epiRT", 1), ("epi", 0)):
        if marker in name:
            version = value
            break
    if private(ds, 0x0043, "GEMS_PARM_01", 0x7C) is not None:
        version = 1  # an epiRT group delay
    internal = str(private(ds, 0x0019, "GEMS_ACQU_01", 0x9E) or "").strip()
    if internal == "EPI" and version not in (1, 3):
        version = 0
    return version


def _release(ds: Dataset) -> tuple[float, bool]:
    """GE software release (27.0...) and whether it is 27.0 R03 or later, from (0018,1020)."""
    found = re.search(r"[A-Z]{2}(\d+)\.(\d)_(EA|R(\d+))", text(ds, "SoftwareVersions") or "")
    if not found:
        return 0.0, False
    major, minor = int(found.group(1)), int(found.group(2))
    release = int(found.group(4) or 0)
    version = major + 0.1 * minor
    return version, version >= 27.1 or (major == 27 and release >= 3)


def epi_slice_times(ctx: OutputContext, block: dict[str, str]) -> tuple[list[Any], int] | None:
    """GE EPI slice times estimated as dcm2niix estimates them, and the multiband factor.

    GE stores no per-slice time; dcm2niix assumes a continuous acquisition: the TR shared
    evenly by the excitations, in the protocol block's SLICEORDER (0 sequential, 1
    interleaved: every other slice first), slices repeating every ``ceil(n / multiband)``
    excitations. Only for 2D time series of the epi/epiRT sequences with a protocol block
    (diffusion and other sequences get none); 27.0 R03 changed the multiband order.
    """
    ds = ctx.ds
    if ctx.n_volumes < 2 or ctx.n_slices < 2 or not block or ds.get("MRAcquisitionType") == "3D":
        return None
    version = _epi_version(ds)
    options = block.get("IOPT", "")
    timed = version in (1, 3) or "FMRI" in options  # epiRT (or the pepolar sequence)
    multi_phase = (version == 0 or "MPh" in options) and "MPhVar" not in options
    if not (timed or multi_phase):
        return None  # diffusion, other sequences, variable multi-phase delays
    tr = number(ds.get("RepetitionTime"))
    order = block.get("SLICEORDER", "")  # dcm2niix takes an unreadable order as interleaved
    if not tr:
        return None
    multiband = max(_multiband(ds), _first_int(block.get("MBACCEL")), 1)
    n = ctx.n_slices
    excitations = math.ceil(n / multiband)
    release, r3 = _release(ds)
    if multiband > 1 and release < 26.0:
        return None  # early HyperBand: dcm2niix gives up
    if multiband > 1 and not r3 and excitations % 2 == 0:
        excitations += 1
    step = float(tr) / excitations
    shots = list(range(excitations))
    if order != "0":
        odd = (excitations - 1) // 2
        shots = [i // 2 if i % 2 == 0 else odd + (i + 1) // 2 for i in range(excitations)]
        if multiband > 1 and r3 and excitations > 2 and excitations % 2 == 0:
            shots[-1], shots[-3] = shots[-3], shots[-1]
    stored = ctx.plan.frames[0]
    by_instance = sorted(range(n), key=lambda k: stored[k].order)
    times = [0.0] * n
    for position, k in enumerate(by_instance):
        times[k] = shots[position % excitations] * step / 1000.0
    return [g6(t) for t in times], multiband

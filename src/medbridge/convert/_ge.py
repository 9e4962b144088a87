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

import numpy as np
from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._sidecar import (
    Sidecar,
    acquisition_matrix_pe,
    g6,
    number,
    phase_direction,
    recon_matrix_pe,
    text,
)

__all__ = ["fields", "ge_multiband", "private"]


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
    if ctx.group.kind == "fieldmap":
        car.set("Units", "Hz", "the B0 map sequence's first volume: a field map in Hz")
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
    car.set("DiffGradientCyclingGE", _cycling_mode(ds), "(0019,10B3)/(0019,10B6) + model")
    car.set("InternalPulseSequenceName", _internal_epi_name(ds), "(0019,109E) EPI or EPI2")
    car.set("Interpolation3D", _zip_factor(ds), "(0018,0050) / (0018,0088) when GE's counts differ")
    shims = [private(ds, 0x0043, "GEMS_PARM_01", e) for e in (0x02, 0x03, 0x04)]
    if all(v is not None for v in shims):
        car.set("ShimSetting", [int(v) for v in shims], "(0043,1002-1004) gradient offsets")
    duration = number(private(ds, 0x0019, "GEMS_ACQU_01", 0x5A))
    if duration:
        car.set("AcquisitionDuration", g6(float(duration) / 1e6), "(0019,105A) µs → s")
    _acceleration_and_readout(ctx, car)
    delay = number(private(ds, 0x0043, "GEMS_PARM_01", 0x7C))
    tr = number(ds.get("RepetitionTime"))
    if delay and delay > 0 and tr:
        # epiRT's group delay (s) is part of the volume period, as dcm2niix counts it.
        car.set("RepetitionTime", g6((float(tr) + float(delay) * 1000.0) / 1000.0),
                "(0018,0080) + (0043,107C) group delay")  # fmt: skip
    multiband = ge_multiband(ds)
    timing = epi_slice_times(ctx, block)
    if timing is not None:
        times, multiband = timing
        car.set("SliceTiming", times, "protocol block SLICEORDER + TR, dcm2niix's estimate")
    if multiband > 1:
        car.set("MultibandAccelerationFactor", multiband, "(0043,10B6) or protocol MBACCEL")


def _asset_factors(ds: Dataset) -> tuple[float, float] | None:
    """(0043,1083) 'ASSET R Factors': the reciprocals of the in-plane and out-of-plane
    acceleration (0.5\\1 is 2× in-plane); 0 where a value is missing or not positive."""
    raw = private(ds, 0x0043, "GEMS_PARM_01", 0x83)
    if raw is None:
        return None
    values = raw if isinstance(raw, list | tuple) or type(raw).__name__ == "MultiValue" else [raw]
    out = []
    for index in (0, 1):
        value = number(values[index]) if index < len(values) else None
        # dcm2niix keeps these in single precision (1/0.6667 is written 1.49993).
        out.append(float(np.float32(1.0) / np.float32(value)) if value and value > 0 else 0.0)
    return out[0], out[1]


def _partial_fourier(ds: Dataset) -> bool:
    """Partial Fourier: 'PFF' in (0018,0022) 'Scan Options' (GE), or (0018,9081) YES."""
    options = ds.get("ScanOptions")
    values = [options] if isinstance(options, str) else list(options or [])
    flagged = any("PFF" in str(v) for v in values)
    return (
        flagged
        or str(ds.get((0x0018, 0x9081)).value if (0x0018, 0x9081) in ds else "")[:1].upper() == "Y"
    )


def _internal_epi_name(ds: Dataset) -> str | None:
    """(0019,109E) as dcm2niix reports it: only its EPI flavours, "EPI" (gradient echo,
    not for the pepolar research sequence) and "EPI2" (spin echo)."""
    name = str(private(ds, 0x0019, "GEMS_ACQU_01", 0x9E) or "").strip()
    if name == "EPI2" or (name == "EPI" and _epi_version(ds) != 3):
        return name
    return None


def _zip_factor(ds: Dataset) -> int | None:
    """GE ZIP (through-plane interpolation) factor, SliceThickness over SpacingBetweenSlices,
    when (0020,1002) 'Images in Acquisition' and GE's (0021,104F) 'Locations in
    Acquisition' disagree (interpolated slices are not acquired); None when not above 1."""
    images = number(ds.get("ImagesInAcquisition"))
    locations = number(private(ds, 0x0021, "GEMS_RELA_01", 0x4F))
    thickness, spacing = number(ds.get("SliceThickness")), number(ds.get("SpacingBetweenSlices"))
    if not images or not locations or images == locations or not thickness or not spacing:
        return None
    factor = round(float(thickness) / float(spacing))
    return factor if factor > 1 else None


def _acceleration_and_readout(ctx: OutputContext, car: Sidecar) -> None:
    """ASSET factors, EffectiveEchoSpacing and TotalReadoutTime from GE's private elements.

    GE records the echo spacing (0043,102C, µs) of the accelerated readout. dcm2niix's
    readout time rounds the lines actually acquired up to a multiple of 2 (4 with partial
    Fourier): ``(ceil(lines / R / k) × k − 1) × spacing`` over the (0018,1310) acquisition
    matrix's phase lines, spread over ``lines − 1`` gaps for the effective spacing, which
    ``ReconMatrixPE − 1`` gaps turn into TotalReadoutTime. Without ASSET factors the
    acceleration, and so the readout, is unknown.
    """
    ds = ctx.ds
    factors = _asset_factors(ds)
    if factors is None:
        return
    in_plane, out_of_plane = factors
    if in_plane >= 1:
        car.set("ParallelReductionFactorInPlane", g6(in_plane), "1 / (0043,1083) first value")
    if out_of_plane > 0:
        car.set("ParallelReductionFactorOutOfPlane", g6(out_of_plane),
                "1 / (0043,1083) second value")  # fmt: skip
    spacing_us = number(private(ds, 0x0043, "GEMS_PARM_01", 0x2C))
    recon_pe = recon_matrix_pe(ctx)
    lines = acquisition_matrix_pe(ds) or 0
    if not spacing_us or spacing_us <= 0 or not recon_pe or in_plane <= 0 or lines == 1:
        return
    rounding = np.float32(4.0 if _partial_fourier(ds) else 2.0)
    acquired = math.ceil(np.float32(1.0) / rounding * np.float32(lines) / np.float32(in_plane))
    readout = float(np.float32((acquired * float(rounding) - 1.0) * float(spacing_us) * 1e-6))
    ees = readout / (lines - 1)
    car.set("EffectiveEchoSpacing", g6(ees), "(0043,102C) over the accelerated phase lines")
    car.set("TotalReadoutTime", g6(ees * (recon_pe - 1)),
            "EffectiveEchoSpacing × (ReconMatrixPE − 1)")  # fmt: skip


def _first_int(value: Any) -> int:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
    parsed = number(value)
    return int(parsed) if parsed is not None else 0


def ge_multiband(ds: Dataset) -> int:
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


def _cycling_mode(ds: Dataset) -> str | None:
    """GE diffusion gradient cycling of an "epi2" series on the systems that cycle (Premier,
    UHP, 7.0T): "SPOFF" (special OFF, (0019,10B6) 'User Data 15' 0.72 on a Premier, 0.5-1
    elsewhere), "2TR"/"3TR" ((0019,10B3) 'User Data 12'), else "ALLTR"; None elsewhere.

    Cycling slices follow no fixed order within the TR, so only SPOFF gets slice times.
    """
    if (
        _epi_version(ds) != 2
        and str(private(ds, 0x0019, "GEMS_ACQU_01", 0x9E) or "").strip() != "EPI2"
    ):
        return None
    model = str(ds.get("ManufacturerModelName", "") or "")
    premier = "Premier" in model
    if not (premier or "UHP" in model or "7.0T" in model):
        return None
    user15 = number(private(ds, 0x0019, "GEMS_ACQU_01", 0xB6))
    if user15 is not None:
        if premier and math.isclose(float(user15), 0.72, abs_tol=1e-4):
            return "SPOFF"
        if not premier and 0.5 <= float(user15) <= 1.0:
            return "SPOFF"
    user12 = number(private(ds, 0x0019, "GEMS_ACQU_01", 0xB3))
    return {2: "2TR", 3: "3TR"}.get(round(user12) if user12 is not None else 0, "ALLTR")


def epi_slice_times(ctx: OutputContext, block: dict[str, str]) -> tuple[list[Any], int] | None:
    """GE EPI slice times estimated as dcm2niix estimates them, and the multiband factor.

    GE stores no per-slice time; dcm2niix assumes a continuous acquisition: the TR shared
    evenly by the excitations, slices repeating every ``ceil(n / multiband)`` excitations.
    Three families of 2D time series with a protocol block get times:

    * fMRI (epiRT, the pepolar sequence, or 'FMRI' in the block's IOPT): in the block's
      SLICEORDER (0 sequential, otherwise interleaved: every other slice first);
    * multi-phase "epi" (or 'MPh' in IOPT, but not 'MPhVar', whose delays vary) and
      diffusion "epi2"/"EPI2" (HyperBand DWI included): always interleaved.

    With HyperBand, releases before 27.0 R03 (and diffusion whatever the release) padded
    an even number of excitations to an odd one; later fMRI and multi-phase sequences keep
    it even and swap the last and third-to-last shots. Before release 26 the HyperBand
    order is unknown (no times), and so is a cycling diffusion acquisition's.
    """
    ds = ctx.ds
    if ctx.n_volumes < 2 or ctx.n_slices < 2 or not block or ds.get("MRAcquisitionType") == "3D":
        return None
    version = _epi_version(ds)
    options = block.get("IOPT", "")
    internal = str(private(ds, 0x0019, "GEMS_ACQU_01", 0x9E) or "").strip()
    timed = version in (1, 3) or "FMRI" in options  # epiRT (or the pepolar sequence)
    multi_phase = version == 0 or "MPh" in options
    diffusion = version == 2 or internal == "EPI2"
    if "MPhVar" in options or not (timed or multi_phase or diffusion):
        return None  # variable multi-phase delays, non-EPI sequences
    if not (timed or multi_phase) and _cycling_mode(ds) not in (None, "SPOFF"):
        return None
    tr = number(ds.get("RepetitionTime"))
    # Only fMRI follows SLICEORDER (an unreadable one counts as interleaved).
    order = block.get("SLICEORDER", "") if timed else "1"
    if not tr:
        return None
    multiband = max(ge_multiband(ds), _first_int(block.get("MBACCEL")), 1)
    n = ctx.n_slices
    excitations = math.ceil(n / multiband)
    release, r3 = _release(ds)
    r3 = r3 and (timed or multi_phase)  # diffusion keeps the older HyperBand order
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

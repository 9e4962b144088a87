"""Siemens sidecar fields: CSA image/series headers and the ASCCONV protocol.

Siemens keeps most acquisition parameters outside standard DICOM: per image in the CSA
image header (bandwidth per pixel in the phase direction, dwell time, slice times), per
series in the "Phoenix" protocol text (shims, coil combination, parallel imaging...).
The formulas are dcm2niix's (and BIDS's):

* EffectiveEchoSpacing = 1 / (BandwidthPerPixelPhaseEncode × ReconMatrixPE);
* TotalReadoutTime = EffectiveEchoSpacing × (ReconMatrixPE − 1);
* DerivedVendorReportedEchoSpacing = EffectiveEchoSpacing × in-plane acceleration.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._diffusion import bvals_bvecs
from medbridge.convert._ge import private
from medbridge.convert._general import is_3d
from medbridge.convert._mr import mr_attribute
from medbridge.convert._naming import is_xa
from medbridge.convert._sidecar import (
    Sidecar,
    acquisition_matrix_pe,
    g6,
    number,
    pat_factors,
    phase_direction,
    recon_matrix_pe,
)
from medbridge.convert._slicetime import acquisition_slice_times, shared_first_time
from medbridge.volume._csa import csa_header, csa_value
from medbridge.volume._frames import frame_dataset

__all__ = ["fields", "slice_timing"]

#: ASCCONV ucCoilCombineMode as dcm2niix names it.
_COIL_COMBINE = {1: "Sum of Squares", 2: "Adaptive Combine"}
#: ASCCONV sPat.ucPATMode as dcm2niix names it.
_PAT_MODE = {1: "SENSE", 2: "GRAPPA"}
#: ASCCONV sDiffusion.dsScheme as dcm2niix names it (written for diffusion series only).
_DIFFUSION_SCHEME = {1: "Bipolar", 2: "Monopolar"}
#: ASCCONV sKSpace.ucPhasePartialFourier → sampled fraction (16 means full sampling).
_PARTIAL_FOURIER = {1: 0.5, 2: 0.625, 4: 0.75, 8: 0.875}


def _proto(ctx: OutputContext, key: str) -> Any:
    return ctx.ascconv.get(key)


def _protocol_times_ms(ctx: OutputContext, n: int) -> list[float] | None:
    """Slice times (ms, protocol slice order) from ASCCONV when no times were stored.

    The acquisition time TR − lDelayTimeInTR is shared evenly by the slices, taken in the
    protocol's order: sSliceArray.ucMode 1 ascending, 2 descending, 4 interleaved
    (Siemens starts an interleaved series at the second slice when the count is even).
    """
    mode = _proto(ctx, "sSliceArray.ucMode")
    tr_us = _proto(ctx, "alTR[0]")
    delay_us = _proto(ctx, "lDelayTimeInTR") or 0
    if mode not in (1, 2, 4) or not isinstance(tr_us, int | float) or n < 2:
        return None
    # dcm2niix works in seconds, single precision: shot × acquisition time / slices.
    acquisition_s = np.float32((float(tr_us) - float(delay_us)) / 1e6)
    if acquisition_s <= 0:
        return None
    if mode == 1:
        order = list(range(n))
    elif mode == 2:
        order = list(range(n - 1, -1, -1))
    else:
        evens, odds = list(range(0, n, 2)), list(range(1, n, 2))
        order = evens + odds if n % 2 else odds + evens
    times = [0.0] * n
    for shot, index in enumerate(order):
        seconds = np.float32(np.float32(shot) * acquisition_s) / np.float32(n)
        times[index] = float(np.float32(seconds)) * 1000.0
    return times


def _mosaic_times(header: Dataset) -> list[Any] | None:
    """CSA 'MosaicRefAcqTimes' of one mosaic, else the (0019,1029) private copy."""
    times = csa_header(header, "image").get("MosaicRefAcqTimes")
    if times:
        return list(times)
    private = header.get((0x0019, 0x1029))
    if private is None:
        return None
    value = private.value
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return list(value)
    return None


def _volume_times(ctx: OutputContext, n: int) -> list[list[float]]:
    """Each volume's stored slice times (ms, tile order), one list per mosaic file."""
    out: list[list[float]] = []
    seen: set[int] = set()
    for volume in ctx.plan.frames:
        header = frame_dataset(volume[0].info)
        if header is None or id(header) in seen:
            continue
        seen.add(id(header))
        times = _mosaic_times(header)
        if not times or len(times) < n:
            continue
        try:
            out.append([float(t) for t in times])
        except (TypeError, ValueError):
            continue
    return out


def _span32(times: list[float]) -> tuple[float, float]:
    """(earliest, latest) in single precision, as dcm2niix compares them."""
    return float(np.float32(min(times))), float(np.float32(max(times)))


def _stored_mosaic_times(ctx: OutputContext, n: int) -> list[float] | None:
    """The stored slice times dcm2niix reports for a mosaic series.

    The scanner rounds each volume's times to its 2.5 ms raster, and the first volume's
    can differ from the rest; dcm2niix then takes the second volume's. So: the second
    volume's when its earliest or latest time differs from the first's, else the
    first's, and in either case only times that fit inside one TR (0 ≤ t < TR): some
    sequences store nonsense (times wrapped past midnight, ~86,400,000 ms, or a
    multiband first volume spanning two TRs), and the next plausible volume's are used.
    """
    tr_ms = number(ctx.ds.get("RepetitionTime"))
    volumes = _volume_times(ctx, n)

    def plausible(values: list[float]) -> bool:
        return not tr_ms or all(0 <= t < float(tr_ms) for t in values)

    if len(volumes) > 1 and _span32(volumes[0]) != _span32(volumes[1]) and plausible(volumes[1]):
        return volumes[1]
    return next((v for v in volumes if plausible(v)), None)


def slice_timing(ctx: OutputContext) -> list[float] | None:
    """Acquisition time of each stored slice, seconds from the first excitation.

    A mosaic carries every slice's time in the CSA 'MosaicRefAcqTimes' (ms, tile order);
    single-slice images carry their own. Times follow the slices as stored, so a mosaic
    stored head-to-foot (reversed on output) gets its times reversed too.
    """
    frames = ctx.plan.frames[0]
    if ctx.group.mosaic:
        times = _stored_mosaic_times(ctx, len(frames))
        if not times or len(times) < len(frames):
            times = _protocol_times_ms(ctx, len(frames))
        if not times or len(times) < len(frames):
            return None
        return [g6(float(times[f.info["mosaic_slice"]]) / 1000.0) for f in frames]
    if ctx.group.enhanced:
        return _enhanced_slice_times(ctx)
    first = frame_dataset(frames[0].info)
    timed = first is not None and _classic_time_after_start(first) is not None
    if ctx.n_volumes > 1 and is_xa(ctx.ds):
        return _classic_xa_slice_times(ctx)
    return None if timed else acquisition_slice_times(frames)


def _ms32(seconds: Any) -> float | None:
    """A (0021,1104) 'TimeAfterStart' (s) in milliseconds as dcm2niix holds it.

    dcm2niix keeps the seconds, then the milliseconds, in single precision: hundreds of
    seconds into a run, 300.3333 s and 300 s come out 0.333313 s apart, not 0.3333.
    """
    value = number(seconds)
    if value is None:
        return None
    return float(np.float32(np.float32(value) * np.float32(1000.0)))


def _apart(later: float, earlier: float) -> float:
    """``later − earlier`` (ms) in single precision, as dcm2niix subtracts."""
    return float(np.float32(np.float32(later) - np.float32(earlier)))


def _classic_time_after_start(ds: Dataset) -> float | None:
    """(0021,1104) 'TimeAfterStart' (ms) of a classic image (Siemens XA interoperability)."""
    return _ms32(private(ds, 0x0021, "SIEMENS MR SDI 02", 0x04))


def _classic_xa_slice_times(ctx: OutputContext) -> list[float] | None:
    """Slice times of an XA time series saved as classic images, as dcm2niix reads them:
    the first volume's (0021,1104) TimeAfterStart less their minimum, none without them
    (it ignores the acquisition times of XA classic images, which de-identification can
    rewrite). Elsewhere a (0021,1104) defeats dcm2niix's slice-time check: none either."""
    values = []
    for frame in ctx.plan.frames[0]:
        source = frame_dataset(frame.info)
        value = _classic_time_after_start(source) if source is not None else None
        if value is None:
            return None
        values.append(value)
    low = min(values)
    if len(set(values)) < 2:
        return None
    return [g6(_apart(v, low) / 1000.0) for v in values]


def _time_after_start(frame: Any) -> float | None:
    """A frame's (0021,1104) 'TimeAfterStart' (ms) from its XA private item (0021,11FE)."""
    source, index = frame.info.get("instance"), frame.info.get("frame_index")
    if not isinstance(source, Dataset) or index is None:
        return None
    per_frame = source.get("PerFrameFunctionalGroupsSequence") or []
    if int(index) >= len(per_frame):
        return None
    holder = per_frame[int(index)].get((0x0021, 0x11FE))
    if holder is None or holder.VR != "SQ" or not holder.value:
        return None
    return _ms32(private(holder.value[0], 0x0021, "SIEMENS MR SDI 02", 0x04))


def _enhanced_slice_times(ctx: OutputContext) -> list[float] | None:
    """Slice times of an enhanced 2D time series from each frame's (0021,1104), as
    dcm2niix reads them: for XA saved one file per volume, the second volume's (its
    first can be wrong), less their minimum; otherwise the first volume's, or the
    second's when the first's span is empty or longer than the TR. De-identified
    exports that strip the private items have none (the Frame Acquisition DateTime
    is no substitute: XA de-identification scrambles it, so dcm2niix ignores it)."""
    if ctx.n_volumes < 2 or ctx.n_slices < 2 or is_3d(ctx.ds):
        return None
    xa = is_xa(ctx.ds)
    per_volume = len({id(v[0].info.get("instance")) for v in ctx.plan.frames}) > 1
    first = [_time_after_start(f) for f in ctx.plan.frames[0]]
    second = [_time_after_start(f) for f in ctx.plan.frames[1]] if per_volume else first
    if xa:
        source = second if per_volume else first
        if any(t is None for t in source):
            return None
        low = min(t for t in source if t is not None)
        times = [_apart(t, max(low, 0.0)) for t in source if t is not None]
    else:
        if any(t is None for t in first):
            return None
        times = [t for t in first if t is not None]
        times = _second_if_first_bogus(
            times, second, number(mr_attribute(ctx.ds, "RepetitionTime"))
        )
    if len(set(times)) < 2:
        return None
    return [g6(t / 1000.0) for t in times]


def _second_if_first_bogus(
    first: list[float], second: list[float | None], tr_ms: float | None
) -> list[float]:
    """dcm2niix's check of slice times: the first volume's when they span some time
    within the TR, else the second volume's (from zero) when those do."""
    tr = float(tr_ms or 0.0)
    if min(first) != max(first) and max(first) <= tr:
        return first
    if any(t is None for t in second):
        return first
    later = [t for t in second if t is not None]
    low, high = min(later), max(later)
    if low > 0 and high - low <= tr:
        later, low, high = [_apart(t, low) for t in later], 0.0, high - low
    if low < 0 or low == high or high >= tr:
        return first
    return later


#: Siemens XA enhanced: classic acquisition attributes kept in the shared functional
#: groups' private item (0021,10FE), block "SIEMENS MR SDS 01" (element → sidecar key).
_XA_SHARED = (
    (0x5A, "ScanningSequence"),
    (0x5B, "SequenceVariant"),
    (0x5C, "ScanOptions"),
    (0x10, "ConsistencyInfo"),
)


def _xa_shared_item(ctx: OutputContext) -> Dataset | None:
    """The first item of (0021,10FE) in the source instance's shared functional groups."""
    source = frame_dataset(ctx.plan.frames[0][0].info)
    shared = source.get("SharedFunctionalGroupsSequence") if source is not None else None
    if not shared:
        return None
    item = shared[0].get((0x0021, 0x10FE))
    return item.value[0] if item is not None and item.VR == "SQ" and item.value else None


def _xa_table_position(ctx: OutputContext, car: Sidecar) -> None:
    """XA's (0021,1005) table position, block "SIEMENS MR SDS 01" (the shared item of an
    enhanced file, the top level of a classic one), z negated as for the CSA's."""
    if "TablePosition" in car.values:
        return
    item = _xa_shared_item(ctx) or frame_dataset(ctx.plan.frames[0][0].info)
    value: Any = private(item, 0x0021, "SIEMENS MR SDS 01", 0x05) if item is not None else None
    try:
        x, y, z = (float(v) for v in value)
    except (TypeError, ValueError):
        return
    car.set("TablePosition", [g6(x), g6(y), g6(-z)], "(0021,1005) SIEMENS MR SDS 01 (z negated)")


def _xa_fields(ctx: OutputContext, car: Sidecar) -> None:
    """Classic attributes Siemens XA moved into its private shared item."""
    item = _xa_shared_item(ctx)
    if item is None:
        return
    for element, key in _XA_SHARED:
        if key in car.values:
            continue
        value = private(item, 0x0021, "SIEMENS MR SDS 01", element)
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            value = "\\".join(str(v) for v in value)
        text = str(value).strip() if value is not None else ""
        car.set(key, text or None, f"(0021,10FE) SIEMENS MR SDS 01 (0021,xx{element:02X})")


#: Siemens XA enhanced: per-frame private item (0021,11FE), block "SIEMENS MR SDI 02",
#: holding what the CSA image header held (element → CSA name).
_XA_FRAME_AS_CSA = (
    (0x53, "BandwidthPerPixelPhaseEncode"),
    (0x1C, "PhaseEncodingDirectionPositive"),
    (0x42, "RealDwellTime"),
)


def _xa_frame_item(ctx: OutputContext) -> Dataset | None:
    """The (0021,11FE) item of the output's first frame in its source instance."""
    first = ctx.plan.frames[0][0]
    index = first.info.get("frame_index")
    source = frame_dataset(first.info) if index is not None else None
    if source is None or index is None:
        return None
    per_frame = source.get("PerFrameFunctionalGroupsSequence")
    if not per_frame or int(index) >= len(per_frame):
        return None
    item = per_frame[int(index)].get((0x0021, 0x11FE))
    return item.value[0] if item is not None and item.VR == "SQ" and item.value else None


def _xa_classic_item(ctx: OutputContext) -> Dataset | None:
    """An XA image saved as classic DICOM ("interoperability" export): its own dataset,
    which holds the per-frame private block "SIEMENS MR SDI 02" at the top level."""
    if ctx.group.enhanced or ctx.group.mosaic:
        return None
    source = frame_dataset(ctx.plan.frames[0][0].info)
    if source is None:
        return None
    creators = (source.get((0x0021, block)) for block in range(0x10, 0x100))
    held = {str(c.value).strip() for c in creators if c is not None}
    return source if "SIEMENS MR SDI 02" in held else None


def _xa_frame_fields(ctx: OutputContext, car: Sidecar) -> dict[str, list[Any]]:
    """XA per-frame values (an enhanced frame's (0021,11FE) item, or a classic image's own
    group 0021): sidecar fields set here, CSA-equivalents returned."""
    item = _xa_frame_item(ctx) or _xa_classic_item(ctx)
    if item is None:
        return {}
    creator = "SIEMENS MR SDI 02"
    elements = private(item, 0x0021, creator, 0x4F)
    car.set("ReceiveCoilActiveElements", str(elements).strip() if elements else None, "(0021,114F)")
    image_type = private(item, 0x0021, creator, 0x75)
    if image_type:
        values = [str(v) for v in (image_type if not isinstance(image_type, str) else [image_type])]
        car.set("ImageTypeText", values, "(0021,1175) XA image type")
        if "ND" in values:
            car.set("NonlinearGradientCorrection", False, "(0021,1175) 'ND'")
        elif "DIS2D" in values or "DIS3D" in values:
            car.set("NonlinearGradientCorrection", True, "(0021,1175) 'DIS2D/DIS3D'")
    csa: dict[str, list[Any]] = {}
    for element, name in _XA_FRAME_AS_CSA:
        value = private(item, 0x0021, creator, element)
        if value is not None and value != "":
            csa[name] = [value]
    return csa


#: (0019,xx) "SIEMENS MR HEADER" elements that repeat CSA image values (element → CSA
#: name), kept by exports that strip the CSA header itself (group 0029).
_HEADER_AS_CSA = (
    (0x28, "BandwidthPerPixelPhaseEncode"),
    (0x18, "RealDwellTime"),
    (0x14, "ImaRelTablePosition"),
)


def _header_as_csa(ds: Dataset) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for element, name in _HEADER_AS_CSA:
        value = private(ds, 0x0019, "SIEMENS MR HEADER", element)
        if value is None or value == "":
            continue
        many = isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
        out[name] = list(value) if many else [value]
    return out


def _with_header_values(
    csa: dict[str, list[Any]], header: dict[str, list[Any]]
) -> dict[str, list[Any]]:
    """CSA image values as dcm2niix takes them beside the (0019,xx) copies.

    dcm2niix reads the bandwidth per pixel in the phase direction from (0019,1028) when
    present, and the dwell time only from (0019,1018): the CSA 'RealDwellTime' alone
    (12-bit mosaics and other exports without group 0019) gives no DwellTime.
    """
    out = {k: v for k, v in csa.items() if k != "RealDwellTime"}
    for name in ("BandwidthPerPixelPhaseEncode", "RealDwellTime"):
        if name in header:
            out[name] = header[name]
    return out


def _without_protocol(ctx: OutputContext, car: Sidecar) -> None:
    """Siemens images without the protocol (XA classic, CSA removed): acceleration from
    the (0051,1011) PAT text ("p2s3"), partial Fourier estimated from the echo train."""
    ds = ctx.ds
    factor, _ = pat_factors(ds)
    if factor > 1:
        car.set("ParallelReductionFactorInPlane", g6(factor), "(0051,1011) PAT text")
    lines = acquisition_matrix_pe(ds) or 0
    train = int(number(ds.get("EchoTrainLength")) or 0)
    if is_3d(ds) or not (lines > train > 1):
        return
    fraction = train / (lines / factor if factor > 1 else lines)
    if fraction < 1:
        car.set("PartialFourier", g6(fraction), "echo train / phase lines, dcm2niix's estimate")


def _multiband(ctx: OutputContext, car: Sidecar, timing: list[float] | None) -> None:
    """MultibandAccelerationFactor as dcm2niix reports it (PulseSequenceType follows).

    dcm2niix does not read the protocol's sSliceAcceleration.lMultiBandFactor (nor the
    CMRR WIP block) for it: the factor is the (0051,1011) PAT text's ("p2s3"), else the
    number of slices sharing the first slice time (CMRR sequences on XA leave
    lMultiBandFactor at 1). With slice times that share nothing there is none, whatever
    the protocol says. Classic images without slice times are judged by their
    (0008,0032) acquisition times.
    """
    factor = pat_factors(ctx.ds)[1]
    source = "(0051,1011) PAT text"
    mr = ctx.ds.get("Modality") == "MR"  # CT rows of one rotation share times too
    classic = mr and not (ctx.group.mosaic or ctx.group.enhanced)
    if factor < 2 and mr and timing and len(timing) > 1:
        shared = timing.count(min(timing))
        factor, source = (shared if shared < len(timing) else 0), "slices sharing a time"
    elif factor < 2 and classic:
        factor = shared_first_time(ctx.plan.frames[0])  # MR slices excited together
        source = "slices sharing an acquisition time"
    if factor > 1:
        car.set("MultibandAccelerationFactor", factor, source)


def _coils(ctx: OutputContext, car: Sidecar) -> None:
    """Active coil elements and the coil string, as dcm2niix pairs them.

    The elements come from the protocol's sCoilStringForConversion (or, without a
    protocol, XA's (0021,114F)); the coil string (0051,100F) is reported beside them only
    when it says something else.
    """
    elements = car.values.get("ReceiveCoilActiveElements")
    if ctx.ascconv:
        text = _proto(ctx, "sCoilSelectMeas.sCoilStringForConversion")
        elements = str(text).strip() if text else None
        car.set("ReceiveCoilActiveElements", elements, "ASCCONV sCoilStringForConversion")
    name = ctx.ds.get((0x0051, 0x100F))
    coil = str(name.value).strip() if name is not None and name.value else ""
    coil = coil or str(ctx.ds.get("ReceiveCoilName", "") or "").strip()
    if coil and coil != (elements or ""):
        car.set("CoilString", coil, "(0051,100F) coil string")


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the Siemens-only fields."""
    ds = ctx.ds
    csa = ctx.csa_image or _xa_frame_fields(ctx, car) or _header_as_csa(ds)
    if ctx.csa_image:
        csa = _with_header_values(csa, _header_as_csa(ds))
    _xa_fields(ctx, car)
    if not ctx.ascconv:
        _without_protocol(ctx, car)
    table = csa.get("ImaRelTablePosition")
    if table and len(table) == 3:
        car.set(
            "TablePosition",
            [g6(float(table[0])), g6(float(table[1])), g6(-float(table[2]))],
            "CSA ImaRelTablePosition (z sign flipped)",
        )
    _xa_table_position(ctx, car)
    base = _proto(ctx, "sKSpace.lBaseResolution")
    car.set("BaseResolution", base, "ASCCONV sKSpace.lBaseResolution")
    shims = [
        _proto(ctx, f"sGRADSPEC.asGPAData[0].lOffset{a}")
        if _proto(ctx, f"sGRADSPEC.asGPAData[0].lOffset{a}") is not None
        else _proto(ctx, f"sGRADSPEC.lOffset{a}")
        for a in "XYZ"
    ]
    shims += [_proto(ctx, f"sGRADSPEC.alShimCurrent[{i}]") for i in range(5)]
    if any(v is not None for v in shims):
        car.set(
            "ShimSetting",
            [v if v is not None else 0 for v in shims],
            "ASCCONV sGRADSPEC.asGPAData[0].lOffsetX/Y/Z, alShimCurrent[0..4]",
        )
    scheme = _DIFFUSION_SCHEME.get(_proto(ctx, "sDiffusion.dsScheme"))
    if scheme is not None and bvals_bvecs(ctx.plan) is not None:
        car.set("DiffusionScheme", scheme, "ASCCONV sDiffusion.dsScheme (diffusion series)")
    delay = _proto(ctx, "lDelayTimeInTR")
    if delay is not None:
        car.set("DelayTime", g6(float(delay) / 1e6), "ASCCONV lDelayTimeInTR (µs → s)")
    ref_amp = _proto(ctx, "sTXSPEC.asNucleusInfo[0].flReferenceAmplitude")
    car.set(
        "TxRefAmp", None if ref_amp is None else g6(float(ref_amp)), "ASCCONV flReferenceAmplitude"
    )
    phase_res = _proto(ctx, "sKSpace.dPhaseResolution")
    car.set(
        "PhaseResolution",
        None if phase_res is None else g6(float(phase_res)),
        "ASCCONV dPhaseResolution",
    )
    coil_id = _proto(ctx, "sCoilSelectMeas.aRxCoilSelectData[0].asList[0].sCoilElementID.tCoilID")
    if coil_id is None:
        coil_id = _proto(ctx, "asCoilSelectMeas[0].asList[0].sCoilElementID.tCoilID")
    car.set("ReceiveCoilName", coil_id, "ASCCONV sCoilElementID.tCoilID")
    _coils(ctx, car)
    car.set("PulseSequenceDetails", _proto(ctx, "tSequenceFileName"), "ASCCONV tSequenceFileName")
    car.set("RefLinesPE", _proto(ctx, "sPat.lRefLinesPE"), "ASCCONV sPat.lRefLinesPE")
    # Only the VE/XA spelling: dcm2niix does not report the VB-era sWiPMemBlock text.
    wip = _proto(ctx, "sWipMemBlock.tFree")
    car.set("WipMemBlock", wip, "ASCCONV sWipMemBlock.tFree")
    combine = _proto(ctx, "ucCoilCombineMode")
    car.set(
        "CoilCombinationMethod",
        _COIL_COMBINE.get(combine) if combine else None,
        "ASCCONV ucCoilCombineMode",
    )
    car.set(
        "ConsistencyInfo",
        _proto(ctx, "sProtConsistencyInfo.tMeasuredBaselineString")
        or _proto(ctx, "sProtConsistencyInfo.tBaselineString"),
        "ASCCONV sProtConsistencyInfo.tMeasuredBaselineString",
    )
    if ctx.ascconv:  # dcm2niix: "None" for any other mode, or none given
        pat = _proto(ctx, "sPat.ucPATMode")
        car.set("MatrixCoilMode", _PAT_MODE.get(pat, "None"), "ASCCONV sPat.ucPATMode")
    pf = _PARTIAL_FOURIER.get(_proto(ctx, "sKSpace.ucPhasePartialFourier") or 0)
    car.set("PartialFourier", pf, "ASCCONV sKSpace.ucPhasePartialFourier")
    oversampling = _proto(ctx, "sKSpace.dPhaseOversamplingForDialog")
    if oversampling:
        car.set("PhaseOversampling", g6(float(oversampling)), "ASCCONV dPhaseOversamplingForDialog")
    echo_spacing = _proto(ctx, "sFastImaging.lEchoSpacing")
    if echo_spacing:
        car.set(
            "VendorReportedEchoSpacing",
            g6(float(echo_spacing) * 1e-6),
            "ASCCONV sFastImaging.lEchoSpacing (µs → s)",
        )
    bwpppe = number(csa_value(csa, "BandwidthPerPixelPhaseEncode"))
    car.set(
        "BandwidthPerPixelPhaseEncode",
        None if bwpppe is None else g6(bwpppe),
        "CSA BandwidthPerPixelPhaseEncode",
    )
    accel_pe = _proto(ctx, "sPat.lAccelFactPE")
    accel_3d = _proto(ctx, "sPat.lAccelFact3D")
    car.set("ParallelReductionFactorInPlane", accel_pe, "ASCCONV sPat.lAccelFactPE")
    car.set("ParallelReductionFactorOutOfPlane", accel_3d, "ASCCONV sPat.lAccelFact3D")
    recon_pe = recon_matrix_pe(ctx)
    if bwpppe and recon_pe:
        ees = 1.0 / (float(bwpppe) * recon_pe)
        car.set(
            "EffectiveEchoSpacing", g6(ees), "1 / (BandwidthPerPixelPhaseEncode × ReconMatrixPE)"
        )
        car.set(
            "DerivedVendorReportedEchoSpacing",
            g6(ees * float(accel_pe or pat_factors(ds)[0] or 1) / (1.0 + float(oversampling or 0))),
            "EffectiveEchoSpacing × ParallelReductionFactorInPlane / (1 + PhaseOversampling)",
        )
        car.set(
            "TotalReadoutTime",
            g6(ees * (recon_pe - 1)),
            "EffectiveEchoSpacing × (ReconMatrixPE − 1)",
        )
    dwell = number(csa_value(csa, "RealDwellTime"))
    car.set(
        "DwellTime", None if not dwell else g6(float(dwell) * 1e-9), "CSA RealDwellTime (ns → s)"
    )
    positive = number(csa_value(csa, "PhaseEncodingDirectionPositive"))
    direction = phase_direction(ds)
    if positive is not None and direction in ("ROW", "COL"):
        # Rows are stored reversed (j runs up), so a positive column direction is j-.
        if direction == "COL":
            pe = "j-" if positive == 1 else "j"
        else:
            pe = "i" if positive == 1 else "i-"
        car.set("PhaseEncodingDirection", pe, "(0018,1312) + CSA PhaseEncodingDirectionPositive")
    timing = slice_timing(ctx)
    car.set(
        "SliceTiming",
        timing,
        "CSA MosaicRefAcqTimes (ms → s), else each slice's (0008,0032) 'Acquisition Time'",
    )
    _multiband(ctx, car, timing)
    orientation_text = ds.get((0x0051, 0x100E))
    if orientation_text is not None and orientation_text.value:
        car.set("ImageOrientationText", str(orientation_text.value).strip(), "(0051,100E)")

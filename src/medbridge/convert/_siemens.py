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
    multiband_factor,
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
#: ASCCONV sDiffusion.dsScheme → DiffusionScheme of a diffusion series (dcm2niix reads a
#: missing value as 0, which it reports as monopolar; other values are not reported).
_DIFFUSION_SCHEME = {0: "Monopolar", 1: "Bipolar", 2: "Monopolar"}
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
    step_ms = (float(tr_us) - float(delay_us)) / 1000.0 / n
    if step_ms <= 0:
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
        times[index] = shot * step_ms
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


def _stored_mosaic_times(ctx: OutputContext, n: int) -> list[Any] | None:
    """The first volume's stored slice times that are plausible (0 ≤ t < TR).

    Some sequences store nonsense in the first volume (times wrapped past midnight,
    ~86,400,000 ms); writing those would mislead slice-timing correction, so the next
    volume whose times fit inside one TR is used instead.
    """
    tr_ms = number(ctx.ds.get("RepetitionTime"))
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
            values = [float(t) for t in times]
        except (TypeError, ValueError):
            continue
        if not tr_ms or all(0 <= t < float(tr_ms) for t in values):
            return values
    return None


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


def _classic_time_after_start(ds: Dataset) -> float | None:
    """(0021,1104) 'TimeAfterStart' (ms) of a classic image (Siemens XA interoperability)."""
    seconds = number(private(ds, 0x0021, "SIEMENS MR SDI 02", 0x04))
    return None if seconds is None else float(seconds) * 1000.0


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
    return [g6((v - low) / 1000.0) for v in values]


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
    value = private(holder.value[0], 0x0021, "SIEMENS MR SDI 02", 0x04)
    seconds = number(value)
    return None if seconds is None else float(seconds) * 1000.0


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
        times = [t - max(low, 0.0) for t in source if t is not None]
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
        later, low, high = [t - low for t in later], 0.0, high - low
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


def _xa_table_position(ctx: OutputContext) -> list[Any] | None:
    """XA enhanced: the table position (the CSA's ImaRelTablePosition) as the shared
    item's (0021,1005) holds it; dcm2niix reads it there, not the per-frame (0021,1145)."""
    item = _xa_shared_item(ctx)
    value = private(item, 0x0021, "SIEMENS MR SDS 01", 0x05) if item is not None else None
    many = isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"
    return list(value) if many and value is not None else None


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


def _xa_frame_fields(ctx: OutputContext, car: Sidecar) -> dict[str, list[Any]]:
    """XA per-frame values: sidecar fields set here, CSA-equivalents returned."""
    item = _xa_frame_item(ctx)
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


def _without_protocol(ctx: OutputContext, car: Sidecar) -> None:
    """Siemens images without the protocol (XA classic, CSA removed): acceleration from
    the (0051,1011) PAT text ("p2s3"), partial Fourier estimated from the echo train."""
    ds = ctx.ds
    factor, slices = pat_factors(ds)
    if factor > 1:
        car.set("ParallelReductionFactorInPlane", g6(factor), "(0051,1011) PAT text")
    if slices > 1 and "MultibandAccelerationFactor" not in car.values:
        car.set("MultibandAccelerationFactor", slices, "(0051,1011) PAT text")
    lines = acquisition_matrix_pe(ds) or 0
    train = int(number(ds.get("EchoTrainLength")) or 0)
    if is_3d(ds) or not (lines > train > 1):
        return
    fraction = train / (lines / factor if factor > 1 else lines)
    if fraction < 1:
        car.set("PartialFourier", g6(fraction), "echo train / phase lines, dcm2niix's estimate")


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


def _matrix_coil_mode(ctx: OutputContext, car: Sidecar) -> None:
    """MatrixCoilMode from ASCCONV sPat.ucPATMode: 1 "SENSE", 2 "GRAPPA", and (as dcm2niix
    writes it whenever the protocol is there) "None" for any other or missing mode, such
    as the 32 of XA product sequences."""
    if not ctx.ascconv:
        return
    pat = _proto(ctx, "sPat.ucPATMode")
    mode = _PAT_MODE.get(pat) if isinstance(pat, int) else None
    car.set("MatrixCoilMode", mode or "None", "ASCCONV sPat.ucPATMode")


def _multiband_from_slice_times(ctx: OutputContext, car: Sidecar) -> None:
    """A multiband factor no header states, from an MR series' slice times: the number
    of slices excited with the first (dcm2niix's rule). It matters for Siemens XA
    enhanced data, whose (0018,9155) reports 1 and whose CMRR protocol keeps
    lMultiBandFactor at 1."""
    times = car.values.get("SliceTiming")
    if "MultibandAccelerationFactor" in car.values or not times or len(times) < 3:
        return
    if ctx.ds.get("Modality") != "MR":
        return
    together = sum(1 for t in times if t == min(times))
    if 1 < together < len(times):
        car.set("MultibandAccelerationFactor", together, "slices sharing the first slice time")


def _diffusion_scheme(ctx: OutputContext, car: Sidecar) -> None:
    """DiffusionScheme of a diffusion series (it has a b-value table) from ASCCONV
    sDiffusion.dsScheme; dcm2niix leaves it out of other series, which carry the same
    protocol default."""
    if not ctx.ascconv or bvals_bvecs(ctx.plan) is None:
        return
    scheme = _proto(ctx, "sDiffusion.dsScheme")
    if scheme is None or isinstance(scheme, int):
        car.set(
            "DiffusionScheme", _DIFFUSION_SCHEME.get(scheme or 0), "ASCCONV sDiffusion.dsScheme"
        )


def fields(ctx: OutputContext, car: Sidecar) -> None:
    """Add the Siemens-only fields."""
    ds = ctx.ds
    csa = ctx.csa_image or _xa_frame_fields(ctx, car) or _header_as_csa(ds)
    _xa_fields(ctx, car)
    if not ctx.ascconv:
        _without_protocol(ctx, car)
    table = csa.get("ImaRelTablePosition") or _xa_table_position(ctx)
    if table and len(table) == 3:
        car.set(
            "TablePosition",
            [g6(float(table[0])), g6(float(table[1])), g6(-float(table[2]))],
            "CSA ImaRelTablePosition (z sign flipped)",
        )
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
    _matrix_coil_mode(ctx, car)
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
    multiband = multiband_factor(ctx.ascconv)
    inferred = ctx.ds.get("Modality") == "MR" and not (ctx.group.mosaic or ctx.group.enhanced)
    if not multiband and inferred:
        multiband = shared_first_time(ctx.plan.frames[0])  # MR slices excited together
    if multiband and multiband > 1:
        car.set(
            "MultibandAccelerationFactor",
            multiband,
            "ASCCONV sSliceAcceleration.lMultiBandFactor (CMRR VB: sWiPMemBlock.alFree[13])",
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
    car.set(
        "SliceTiming",
        slice_timing(ctx),
        "CSA MosaicRefAcqTimes (ms → s), else each slice's (0008,0032) 'Acquisition Time'",
    )
    _multiband_from_slice_times(ctx, car)
    _diffusion_scheme(ctx, car)
    orientation_text = ds.get((0x0051, 0x100E))
    if orientation_text is not None and orientation_text.value:
        car.set("ImageOrientationText", str(orientation_text.value).strip(), "(0051,100E)")

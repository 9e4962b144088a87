"""Grouping instances into outputs, the way dcm2niix groups them.

One output (one NIfTI) holds frames that share everything that makes a single image:
series (UID and number), matrix size, bits, orientation, echo, and the kind of value
(magnitude, phase, real, imaginary, field map). Frames that differ in any of these become
separate outputs of the same series, each named with a suffix (``_e2``, ``_ph``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from medbridge.convert._inputs import Instance
from medbridge.convert._naming import (
    VENDORS,
    instance_number,
    is_xa,
    protocol_name,
    series_number,
    study_date_time,
    vendor,
)
from medbridge.errors import ConversionError, GeometryError
from medbridge.volume._frames import (
    PixelSource,
    classic_frame,
    enhanced_frames,
    is_enhanced,
    is_mosaic,
    mosaic_frames,
)
from medbridge.volume._geometry import slice_normal_lps
from medbridge.volume._native import Header
from medbridge.volume._stack import Frame, _group_by_position
from medbridge.volume._uih import is_uih_grid, uih_grid_frames

__all__ = ["OutputGroup", "ge_image_kind", "group_instances"]


@dataclass
class OutputGroup:
    """Frames that become one output image, with the instances they came from."""

    key: tuple[Any, ...]
    instances: list[Instance] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    kind: str = ""
    echo_number: int | None = None
    echo_time: float | None = None
    mosaic: bool = False
    enhanced: bool = False
    multi_echo: bool = False
    suffixes: list[str] = field(default_factory=list)
    adc_copy: bool = False
    """dcm2niix's ``_ADC`` copy of a Philips DWI series: every volume, the derived trace
    (isotropic) ones last; an image only (no sidecar, bval or bvec)."""
    echo_suffix: str = ""

    @property
    def ds(self) -> Dataset:
        """Header of the first instance: the source of series-level values."""
        return self.instances[0].ds

    def suffix(self, template: str) -> str:
        """The name suffixes, without the echo's when the template reports it (``%e``),
        as dcm2niix leaves it out then."""
        reported = "%e" in template.lower()
        return "".join(s for s in self.suffixes if not (reported and s == self.echo_suffix))


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _image_type(ds: Header) -> list[str]:
    return [str(v).upper() for v in ds.get("ImageType", [])]


def value_kind(image_type: Sequence[str], complex_component: str = "") -> str:
    """'mag', 'phase', 'real', 'imag' or 'fieldmap' from (0008,0008) and (0008,9208).

    dcm2niix's reading: the values joined with "_" must contain "_P_" or "PHASE" (Siemens
    and GE "P", Philips "P_..."), "_R_"/"_REAL_", "_I_"/"_IMAGINARY_"; enhanced images
    name the component in 'Complex Image Component'.
    """
    joined = "_".join(v.upper() for v in image_type)
    values = set(joined.split("_"))
    component = complex_component.upper()
    if "FIELD_MAP" in joined or "B0_MAP" in joined or "FIELDMAP" in values:
        return "fieldmap"
    if component == "PHASE" or "_P_" in joined or "PHASE" in joined:
        return "phase"
    if component == "REAL" or "_R_" in joined or "_REAL_" in joined:
        return "real"
    if component == "IMAGINARY" or "_I_" in joined or "_IMAGINARY_" in joined:
        return "imag"
    return "mag"


def ge_image_kind(ds: Header) -> str | None:
    """GE (0043,102F) 'Private Image Type': 0 magnitude, 1 phase, 2 real, 3 imaginary."""
    creator = ds.get((0x0043, 0x0010))
    if creator is None or str(creator.value).strip() != "GEMS_PARM_01":
        return None
    elem = ds.get((0x0043, 0x102F))
    if elem is None:
        return None
    try:
        code = int(elem.value)
    except (TypeError, ValueError):
        return None
    return {0: "mag", 1: "phase", 2: "real", 3: "imag"}.get(code)


def _ge_private(ds: Header, group: int, creator: str, element: int) -> Any:
    """A GE private value found through its creator block, or None."""
    for block in range(0x10, 0x100):
        owner = ds.get((group, block))
        if owner is None:
            continue
        if str(owner.value).strip() == creator:
            elem = ds.get((group, (block << 8) | element))
            return None if elem is None else elem.value
    return None


def ge_field_map_kind(ds: Header) -> str | None:
    """'fieldmap' or 'mag' for an image of GE's "3D B0 map" series, else None.

    The B0 map sequence ((0019,109C) containing "b0map", or (0019,109E) "B0map") stores
    two volumes in one series: first the field map in Hz, then the magnitude. (0020,1002)
    'Images in Acquisition' counts both while GE's (0021,104F) 'Locations in Acquisition'
    counts one volume's slices (times the ZIP factor, SliceThickness over
    SpacingBetweenSlices, with through-plane interpolation): when they differ, images
    numbered up to the locations are the field map, as dcm2niix splits them.
    """
    name = str(_ge_private(ds, 0x0019, "GEMS_ACQU_01", 0x9C) or "")
    internal = str(_ge_private(ds, 0x0019, "GEMS_ACQU_01", 0x9E) or "").strip()
    if "b0map" not in name and internal != "B0map":
        return None
    images = _int(ds.get("ImagesInAcquisition"))
    locations = _int(_ge_private(ds, 0x0021, "GEMS_RELA_01", 0x4F))
    if images <= 0 or locations <= 0 or images == locations:
        return None
    thickness, spacing = _float(ds.get("SliceThickness")), _float(ds.get("SpacingBetweenSlices"))
    if thickness and spacing and spacing > 0 and round(thickness / spacing) > 1:
        locations *= round(thickness / spacing)
    return "fieldmap" if _int(ds.get("InstanceNumber")) <= locations else "mag"


#: SOP classes dcm2niix counts as derived: Segmentation, Grayscale Softcopy Presentation State.
_DERIVED_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.11.1")


def is_derived(ds: Header) -> bool:
    """A derived image as dcm2niix tells: "DERIVED" in (0008,0008) 'Image Type', or a
    computed map (ADC, trace, FA), or a segmentation or presentation state.

    dcm2niix never stacks derived with original images, and ``-i y`` leaves them out.
    """
    joined = "_".join(_image_type(ds))
    if "DERIVED" in joined or any(f"_{m}_" in joined for m in ("ADC", "TRACEW", "TRACE", "FA")):
        return True
    return str(ds.get("SOPClassUID", "")) in _DERIVED_SOP_CLASSES


#: Siemens localizer sequences dcm2niix's ``-i y`` leaves out, by (0018,0024).
_LOCALIZER_SEQUENCES = frozenset({"*tfl2d1", "*fl3d1_ns", "*fl2d1"})


def is_localizer(ds: Header) -> bool:
    """A localizer as dcm2niix tells: a Siemens localizer sequence, or GE's three-plane
    series ((0019,1017) 'Series Plane' 256); other scouts are single 2D images, which
    ``-i y`` leaves out anyway."""
    if str(ds.get("SequenceName", "") or "").strip() in _LOCALIZER_SEQUENCES:
        return True
    plane = ds.get((0x0019, 0x1017))
    creator = ds.get((0x0019, 0x0010))
    if plane is None or creator is None or "GEMS" not in str(creator.value).upper():
        return False
    try:
        return int(plane.value) == 256
    except (TypeError, ValueError):
        return False


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _seconds(value: Any) -> float:
    """(0008,0032)-style HHMMSS.FFFFFF as seconds of the day (0 when absent): orders
    volumes of exports that lost their instance numbers by acquisition."""
    text = str(value or "").strip()
    try:
        return int(text[0:2]) * 3600 + int(text[2:4]) * 60 + float(text[4:] or 0)
    except ValueError:
        return 0.0


def xa_classic(ds: Header) -> bool:
    """A Siemens XA single-frame (classic, "interoperability") image with a series time.

    Such exports may give every volume its own series UID, study UID or series number
    (16001, 16002...): dcm2niix then takes the series time as the series identity, lets
    the number vary, and orders images by series number, then instance number.
    """
    return (
        vendor(ds) == "Siemens"
        and is_xa(ds)
        and len(str(ds.get("SeriesTime", "") or "").strip()) > 1
        and _int(ds.get("NumberOfFrames"), 1) <= 1
    )


def _series_key(ds: Header) -> tuple[Any, ...]:
    """What every frame of one series shares (dcm2niix's ``isSameSet``): series UID and
    number, vendor, modality, matrix, bits, study date and time, derived or original."""
    identity: tuple[Any, ...] = (
        str(ds.get("SeriesInstanceUID", "")),
        series_number(ds),
        round(float(study_date_time(ds)), 4),
    )
    if xa_classic(ds):
        identity = ("XA series time " + str(ds.get("SeriesTime")).strip(), None, None)
    uid, number, study = identity
    return (
        uid,
        number,
        vendor(ds),
        str(ds.get("Modality", "")),
        _int(ds.get("Rows")),
        _int(ds.get("Columns")),
        _int(ds.get("BitsAllocated")),
        study,
        is_derived(ds),
    )


def trigger_time(ds: Header) -> float | None:
    """(0018,1060) 'Trigger Time' (ms) of GE and Philips images, the only ones dcm2niix reads.

    Philips fMRI repeats each volume's start ((2005,10A0), s) there; that is no cardiac
    trigger, so it counts as none.
    """
    maker = vendor(ds)
    value = _float(ds.get("TriggerTime"))
    if maker not in ("GE", "Philips") or value is None:
        return None
    start = _float(ds[0x2005, 0x10A0].value) if (0x2005, 0x10A0) in ds else None
    if maker == "Philips" and start is not None and abs(start * 1000.0 - value) < 1e-3:
        return 0.0
    return value


def _stack_key(ds: Header) -> tuple[Any, ...]:
    """Classic-image attributes dcm2niix also refuses to stack across: the protocol name
    and, for Philips, the trigger time (cardiac phases become separate outputs)."""
    trigger = trigger_time(ds) if vendor(ds) == "Philips" else None
    return (protocol_name(ds), trigger)


def _orientation_key(ds: Header) -> tuple[float, ...]:
    iop = ds.get("ImageOrientationPatient")
    if iop is None:
        return ()
    try:
        return tuple(round(float(v), 3) for v in iop)
    except (TypeError, ValueError):
        return ()


def _philips_isotropic(ds: Header) -> bool:
    """A Philips trace (isotropic) DWI image: b > 0 with (2001,1004) direction 'I'.

    dcm2niix drops these from the 4D series: they are computed from the others and have
    no gradient direction, so a bvec cannot describe them.
    """
    direction = ds.get((0x2001, 0x1004))
    bvalue = ds.get((0x2001, 0x1003))
    if direction is None or bvalue is None:
        return False
    try:
        b = float(bvalue.value)
    except (TypeError, ValueError):
        return False
    return str(direction.value).strip().upper() == "I" and b > 0


#: Vendors whose (0020,9157) 'Dimension Index Values' dcm2niix reads (raw names too).
_INDEXED_VENDORS = ("Philips", "Canon", "Bruker")


def _stands_alone(ds: Dataset) -> bool:
    """A multi-frame instance dcm2niix converts on its own, never stacked with others.

    dcm2niix writes an enhanced file at once when it has sorted its frames: by their
    Dimension Index (Philips, Canon, Bruker, unknown vendors) or, failing that, by
    position along the slice normal, which it can only do when the orientation comes
    before the first frame's position (shared, not per-frame as Siemens XA stores it).
    Other multi-frame files (XA's one file per volume) stack like classic images.
    """
    frames = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(frames) < 2:
        return False
    maker = vendor(ds)
    if maker in _INDEXED_VENDORS or maker not in {name for _, name in VENDORS}:
        contents = [item.get("FrameContentSequence") or [None] for item in frames]
        if all(c[0] is not None and c[0].get("DimensionIndexValues") for c in contents):
            return True
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    return "ImageOrientationPatient" in ds or "PlaneOrientationSequence" in shared


def group_instances(
    instances: Sequence[Instance], *, ignore_derived: bool = False
) -> tuple[list[OutputGroup], dict[str, str]]:
    """Split instances into output groups; return them and the skipped paths with reasons.

    Parameters
    ----------
    instances:
        Headers of every file found.
    ignore_derived:
        dcm2niix's ``-i y``: leave out derived images and localizers (2D images are left
        out later, once the stack is known).
    """
    groups: dict[tuple[Any, ...], OutputGroup] = {}
    traces: dict[tuple[Any, ...], list[tuple[Instance, list[Frame]]]] = {}
    skipped: dict[str, str] = {}
    seen_sop: set[tuple[str, str]] = set()
    ordered = sorted(
        instances,
        key=lambda i: (series_number(i.header), instance_number(i.header), i.path),
    )
    for inst in ordered:
        ds = inst.header
        # The fast scan's headers are classic images (no functional groups, no mosaic:
        # see medbridge.convert._values); only parsed ones can hold those layouts.
        parsed = ds if isinstance(ds, Dataset) else None
        if ignore_derived and (is_derived(ds) or is_localizer(ds)):
            skipped[inst.path] = "derived image or localizer (-i y)"
            continue
        sop = (str(ds.get("SOPInstanceUID", "")), str(ds.get("SeriesNumber", "")))
        if sop[0] and sop in seen_sop:
            skipped[inst.path] = "duplicate of an instance already read (same SOP Instance UID)"
            continue
        seen_sop.add(sop)
        trace = _philips_isotropic(ds)
        if trace and ignore_derived:
            skipped[inst.path] = "Philips trace (isotropic) diffusion image (-i y)"
            continue
        base = _series_key(ds)
        number = _int(ds.get("InstanceNumber"))
        if xa_classic(ds):
            number += series_number(ds) * 1000
        order = (number, _seconds(ds.get("AcquisitionTime")), inst.path)
        try:
            if parsed is not None and is_enhanced(parsed):
                frames = enhanced_frames(parsed, PixelSource(inst.path), order)
                alone = _stands_alone(parsed)
                for frame in frames:
                    info = frame.info
                    kind = value_kind(info.get("frame_type", ()), info.get("complex_component", ""))
                    echo = info.get("echo_number")
                    key = (*base, kind, echo, tuple(round(v, 3) for v in frame.orientation_lps))
                    if alone:
                        key = (*key, inst.path)
                    group = groups.setdefault(
                        key, OutputGroup(key, kind=kind, echo_number=echo, enhanced=True)
                    )
                    if not group.instances or group.instances[-1] is not inst:
                        group.instances.append(inst)
                    group.frames.append(frame)
                    if echo is not None and info.get("echo_time"):
                        group.echo_time = info["echo_time"]
                continue
            grid = parsed is not None and is_uih_grid(parsed)
            mosaic = parsed is not None and (grid or is_mosaic(parsed))
            if parsed is not None and grid:
                frames = uih_grid_frames(parsed, PixelSource(inst.path), order)
            elif parsed is not None and mosaic:
                frames = mosaic_frames(parsed, PixelSource(inst.path), order)
            else:
                source = PixelSource(
                    inst.path, header=ds, syntax=inst.transfer_syntax, offset=inst.pixel_offset
                )
                frames = [classic_frame(ds, source, order)]
        except ConversionError as exc:
            skipped[inst.path] = str(exc)
            continue
        kind = value_kind(_image_type(ds))
        kind = ge_image_kind(ds) or kind if kind == "mag" else kind
        if kind == "mag" and vendor(ds) == "GE":
            kind = ge_field_map_kind(ds) or kind
        echo = _int(ds.get("EchoNumbers"), 0) or None
        echo_time = _float(ds.get("EchoTime"))
        plane = _orientation_key(ds)
        key = (*base, kind, echo, plane, mosaic, echo_time, _stack_key(ds))
        if trace:
            traces.setdefault(key, []).append((inst, frames))
            continue
        group = groups.setdefault(
            key,
            OutputGroup(key, kind=kind, echo_number=echo, echo_time=echo_time, mosaic=mosaic),
        )
        group.instances.append(inst)
        group.frames.extend(frames)
    out = []
    for group in groups.values():
        reason = _volume_order_unknown(group)
        if reason is not None:
            skipped.update(dict.fromkeys((i.path for i in group.instances), reason))
            continue
        _first_in_space_when_unnumbered(group)
        out.append(group)
    _name_suffixes(out)
    out += _adc_copies(out, traces, skipped)
    return out, skipped


#: Sorts after any instance number: the trace volumes go last in the ``_ADC`` copy.
_AFTER_ALL = 1 << 62


def _adc_copies(
    groups: list[OutputGroup],
    traces: dict[tuple[Any, ...], list[tuple[Instance, list[Frame]]]],
    skipped: dict[str, str],
) -> list[OutputGroup]:
    """dcm2niix's ``_ADC`` outputs: each DWI series with its Philips trace images.

    dcm2niix removes the derived trace (isotropic, "ADC") volumes from a Philips DWI
    series, whose bvec cannot describe them, and writes the series a second time with
    them, as ``<name>_ADC`` (``nii_dicom_batch.cpp``: "ADC maps can disrupt analysis:
    save a copy with the ADC map, and another without"); ``-i y`` writes no copy. Trace
    images with no series to join are reported, never dropped silently.
    """
    copies = []
    for group in groups:
        extra = traces.pop(group.key, None)
        if not extra:
            continue
        frames = [replace(f, order=(_AFTER_ALL, *f.order)) for _, fs in extra for f in fs]
        copies.append(
            OutputGroup(
                (*group.key, "ADC"),
                instances=[*group.instances, *(inst for inst, _ in extra)],
                frames=[*group.frames, *frames],
                kind=group.kind,
                echo_number=group.echo_number,
                echo_time=group.echo_time,
                mosaic=group.mosaic,
                multi_echo=group.multi_echo,
                suffixes=[*group.suffixes, "_ADC"],
                adc_copy=True,
            )
        )
    for extra in traces.values():
        for inst, _ in extra:
            skipped[inst.path] = "Philips trace (isotropic) image with no diffusion series to join"
    return copies


def _volume_order_unknown(group: OutputGroup) -> str | None:
    """Why the volumes of a classic series cannot be told apart, or None.

    Frames at one position are successive volumes, ordered by instance number, then
    acquisition time. When a de-identified export dropped both, nothing says which of
    them belongs to which volume: dcm2niix stacks them in an arbitrary order (mixing
    slices of different volumes, diffusion directions included); medbridge refuses.
    """
    if group.enhanced or len(group.frames) < 2:
        return None
    first = group.frames[0]
    try:
        normal = slice_normal_lps(first.orientation_lps)
    except GeometryError:  # refused later, with that reason
        return None
    if first.stack_direction is not None:
        normal = np.asarray(first.stack_direction, dtype=np.float64)
    for _, members in _group_by_position(group.frames, normal):
        keys = [f.order[:2] for f in members]
        if len(set(keys)) < len(keys):
            return (
                f"volume order unknown: {len(members)} images at one position share their "
                "instance number (0020,0013) and acquisition time (0008,0032)"
            )
    return None


def _first_in_space_when_unnumbered(group: OutputGroup) -> None:
    """Without (0020,0013), the series' first instance is its lowest slice along the normal.

    dcm2niix sorts such exports by position, so names (``%r``) come from that slice.
    """
    if group.enhanced or all("InstanceNumber" in i.header for i in group.instances):
        return
    normal = np.cross(*np.asarray(group.frames[0].orientation_lps).reshape(2, 3))
    by_path = {f.info.get("path"): float(np.dot(f.position_lps, normal)) for f in group.frames}
    group.instances.sort(key=lambda i: by_path.get(i.path, 0.0))


def _name_suffixes(groups: list[OutputGroup]) -> None:
    """Suffixes that tell apart outputs of one series (dcm2niix's ``_e2``, ``_ph``...)."""
    by_series: dict[tuple[Any, ...], list[OutputGroup]] = {}
    for g in groups:
        by_series.setdefault(g.key[:2], []).append(g)
    for members in by_series.values():
        by_instance: dict[str, list[OutputGroup]] = {}
        for g in members:
            if g.enhanced:
                by_instance.setdefault(g.instances[0].path, []).append(g)
        for enhanced in by_instance.values():
            if len(enhanced) > 1 and len({g.echo_number for g in enhanced}) == 1:
                # One multi-frame instance holding several images under one echo number
                # (Philips: magnitude plus a B0 map): dcm2niix numbers them as echoes.
                for number, g in enumerate(enhanced, start=1):
                    g.echo_number = number
        # Classic images without echo numbers are told apart by echo time (dcm2niix: "_e30").
        echoes = {(g.echo_number, None if g.enhanced else g.echo_time) for g in members}
        planes = {_plane(g) for g in members if not g.enhanced}
        coils = {_coil(i.header) for g in members for i in g.instances}
        for g in members:
            if len(coils) > 1:  # stacked anyway, but named after the first image's coil
                g.suffixes.append(f"_c{_coil(g.ds)}")
            g.multi_echo = len(echoes) > 1
            # A later echo is named as one even alone in its series: a Siemens
            # phase-difference field map is echo 2 ("_e2_ph"), a GE/Philips second-echo
            # magnitude "_e2" (dcm2niix, every vendor).
            if g.echo_number is not None and (g.multi_echo or g.echo_number > 1):
                g.echo_suffix = f"_e{g.echo_number}"
            elif g.multi_echo and g.echo_time is not None:
                g.echo_suffix = f"_e{g.echo_time:g}"
            if g.echo_suffix:
                g.suffixes.append(g.echo_suffix)
            if len(planes) > 1 and not g.enhanced:
                # Slices in several orientations (localizers): dcm2niix names each stack
                # by its first instance number.
                g.suffixes.append(f"_i{instance_number(g.ds):05d}")
            if g.kind == "phase":
                g.suffixes.append("_ph")
            elif g.kind == "real":
                g.suffixes.append("_real")
            elif g.kind == "imag":
                g.suffixes.append("_imaginary")
            elif g.kind == "fieldmap":
                g.suffixes.append("_fieldmaphz")
            trigger = trigger_time(g.ds) if vendor(g.ds) == "Philips" else None
            if trigger is not None and trigger >= 1:  # Philips cardiac phases
                g.suffixes.append(f"_t{round(trigger)}")


def _plane(group: OutputGroup) -> tuple[float, ...]:
    return tuple(round(v, 3) for v in group.frames[0].orientation_lps)


def _coil(ds: Header) -> str:
    """(0018,1250) 'Receive Coil Name', else Siemens' (0051,100F) coil string."""
    name = str(ds.get("ReceiveCoilName", "") or "").strip()
    if not name and (0x0051, 0x100F) in ds:
        name = str(ds[0x0051, 0x100F].value or "").strip()
    return name

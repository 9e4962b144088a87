"""Grouping instances into outputs, the way dcm2niix groups them.

One output (one NIfTI) holds frames that share everything that makes a single image:
series (UID and number), matrix size, bits, orientation, echo, and the kind of value
(magnitude, phase, real, imaginary, field map). Frames that differ in any of these become
separate outputs of the same series, each named with a suffix (``_e2``, ``_ph``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from medbridge.convert._inputs import Instance
from medbridge.errors import ConversionError
from medbridge.volume._frames import (
    PixelSource,
    classic_frame,
    enhanced_frames,
    is_enhanced,
    is_mosaic,
    mosaic_frames,
)
from medbridge.volume._native import Header
from medbridge.volume._stack import Frame

__all__ = ["OutputGroup", "group_instances"]


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

    @property
    def ds(self) -> Dataset:
        """Header of the first instance: the source of series-level values."""
        return self.instances[0].ds


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _image_type(ds: Header) -> list[str]:
    return [str(v).upper() for v in ds.get("ImageType", [])]


def value_kind(image_type: Sequence[str], complex_component: str = "") -> str:
    """'mag', 'phase', 'real', 'imag' or 'fieldmap' from (0008,0008) and (0008,9208).

    Siemens and GE put 'P'/'PHASE', Philips 'P_...'/'PHASE' in the image type; enhanced
    images name the component in 'Complex Image Component'.
    """
    values = {v.upper() for v in image_type}
    component = complex_component.upper()
    if "FIELD_MAP" in values or "B0_MAP" in values or "FIELDMAP" in values:
        return "fieldmap"
    if component == "PHASE" or values & {"P", "PHASE"} or any(v.startswith("P_") for v in values):
        return "phase"
    if component == "REAL" or values & {"R", "REAL"} or any(v.startswith("R_") for v in values):
        return "real"
    if (
        component == "IMAGINARY"
        or values & {"I", "IMAGINARY"}
        or any(v.startswith("I_") for v in values)
    ):
        return "imag"
    return "mag"


def is_derived(ds: Header) -> bool:
    """'DERIVED' as the first value of (0008,0008) 'Image Type'."""
    image_type = _image_type(ds)
    return bool(image_type) and image_type[0] == "DERIVED"


def is_localizer(ds: Header) -> bool:
    """A scout/localizer: named so in (0008,0008), or a Siemens localizer sequence."""
    image_type = _image_type(ds)
    if "LOCALIZER" in image_type or "SCOUT" in image_type:
        return True
    description = str(ds.get("SeriesDescription", "")).lower()
    return "localizer" in description or "scout" in description


def _orientation_key(ds: Header) -> tuple[float, ...]:
    iop = ds.get("ImageOrientationPatient")
    if iop is None:
        return ()
    try:
        return tuple(round(float(v), 3) for v in iop)
    except (TypeError, ValueError):
        return ()


def _element_value(ds: Header, tag: tuple[int, int]) -> tuple[bool, Any]:
    """(present, value) of an element read by tag, from a Dataset or the scanned values."""
    if isinstance(ds, Dataset):
        elem = ds.get(tag)
        return (False, None) if elem is None else (True, elem.value)
    return (tag in ds, ds.get(tag))


def _philips_isotropic(ds: Header) -> bool:
    """A Philips trace (isotropic) DWI image: b > 0 with (2001,1004) direction 'I'.

    dcm2niix drops these from the 4D series: they are computed from the others and have
    no gradient direction, so a bvec cannot describe them.
    """
    has_direction, direction = _element_value(ds, (0x2001, 0x1004))
    has_bvalue, bvalue = _element_value(ds, (0x2001, 0x1003))
    if not has_direction or not has_bvalue:
        return False
    try:
        b = float(bvalue)
    except (TypeError, ValueError):
        return False
    return str(direction).strip().upper() == "I" and b > 0


def group_instances(
    instances: Sequence[Instance], *, ignore_derived: bool = False
) -> tuple[list[OutputGroup], dict[str, str]]:
    """Split instances into output groups; return them and the skipped paths with reasons.

    Parameters
    ----------
    instances:
        Headers of every file found. Those read by the fast scan are classic images
        (no functional groups, not mosaics: see :mod:`medbridge.convert._values`), so
        only parsed headers are checked for those layouts.
    ignore_derived:
        dcm2niix's ``-i y``: leave out derived images and localizers (2D images are left
        out later, once the stack is known).
    """
    groups: dict[tuple[Any, ...], OutputGroup] = {}
    skipped: dict[str, str] = {}
    seen_sop: set[tuple[str, str]] = set()
    ordered = sorted(
        instances,
        key=lambda i: (
            _int(i.header.get("SeriesNumber")),
            _int(i.header.get("InstanceNumber")),
            i.path,
        ),
    )
    for inst in ordered:
        ds = inst.header
        parsed = ds if isinstance(ds, Dataset) else None
        if ignore_derived and (is_derived(ds) or is_localizer(ds)):
            skipped[inst.path] = "derived image or localizer (-i y)"
            continue
        sop = (str(ds.get("SOPInstanceUID", "")), str(ds.get("SeriesNumber", "")))
        if sop[0] and sop in seen_sop:
            skipped[inst.path] = "duplicate of an instance already read (same SOP Instance UID)"
            continue
        seen_sop.add(sop)
        if _philips_isotropic(ds):
            skipped[inst.path] = "Philips isotropic (trace) diffusion image"
            continue
        base = (
            str(ds.get("SeriesInstanceUID", "")),
            _int(ds.get("SeriesNumber")),
            str(ds.get("Modality", "")),
            _int(ds.get("Rows")),
            _int(ds.get("Columns")),
            _int(ds.get("BitsAllocated")),
        )
        order = (_int(ds.get("InstanceNumber")), inst.path)
        try:
            if parsed is not None and is_enhanced(parsed):
                frames = enhanced_frames(parsed, PixelSource(inst.path), order)
                for frame in frames:
                    info = frame.info
                    kind = value_kind(info.get("frame_type", ()), info.get("complex_component", ""))
                    echo = info.get("echo_number")
                    key = (*base, kind, echo, tuple(round(v, 3) for v in frame.orientation_lps))
                    group = groups.setdefault(
                        key, OutputGroup(key, kind=kind, echo_number=echo, enhanced=True)
                    )
                    if not group.instances or group.instances[-1] is not inst:
                        group.instances.append(inst)
                    group.frames.append(frame)
                    if echo is not None and info.get("echo_time"):
                        group.echo_time = info["echo_time"]
                continue
            mosaic = parsed is not None and is_mosaic(parsed)
            if parsed is not None and mosaic:
                frames = mosaic_frames(parsed, PixelSource(inst.path), order)
            else:
                source = PixelSource(
                    inst.path, header=ds, syntax=inst.transfer_syntax, offset=inst.pixel_offset
                )
                frames = [classic_frame(ds, source, order, instance=inst)]
        except ConversionError as exc:
            skipped[inst.path] = str(exc)
            continue
        kind = value_kind(_image_type(ds))
        echo = _int(ds.get("EchoNumbers"), 0) or None
        key = (*base, kind, echo, _orientation_key(ds), mosaic)  # type: ignore[assignment]
        group = groups.setdefault(key, OutputGroup(key, kind=kind, echo_number=echo, mosaic=mosaic))
        group.instances.append(inst)
        group.frames.extend(frames)
    out = list(groups.values())
    _name_suffixes(out)
    return out, skipped


def _name_suffixes(groups: list[OutputGroup]) -> None:
    """Suffixes that tell apart outputs of one series (dcm2niix's ``_e2``, ``_ph``...)."""
    by_series: dict[tuple[Any, ...], list[OutputGroup]] = {}
    for g in groups:
        by_series.setdefault(g.key[:2], []).append(g)
    for members in by_series.values():
        enhanced = [g for g in members if g.enhanced]
        if len(enhanced) > 1 and len({g.echo_number for g in enhanced}) == 1:
            # One multi-frame instance holding several images under one echo number
            # (Philips: magnitude plus a B0 map): dcm2niix numbers them as successive echoes.
            for number, g in enumerate(enhanced, start=1):
                g.echo_number = number
        echoes = {g.echo_number for g in members}
        for g in members:
            g.multi_echo = len(echoes) > 1
            if len(echoes) > 1 and g.echo_number is not None:
                g.suffixes.append(f"_e{g.echo_number}")
            if g.kind == "phase":
                g.suffixes.append("_ph")
            elif g.kind == "real":
                g.suffixes.append("_real")
            elif g.kind == "imag":
                g.suffixes.append("_imaginary")
            elif g.kind == "fieldmap":
                g.suffixes.append("_fieldmaphz")

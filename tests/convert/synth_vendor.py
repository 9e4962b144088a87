"""Vendor conventions for synthetic series: where each scanner puts what dcm2niix reads.

Each function returns a ``SeriesSpec.tweak`` (called per file with the slice and volume
index) that adds the vendor's elements as its scanners write them: GE's private groups
0019/0025/0043 (diffusion, protocol block, EPI flavour), the standard diffusion
attributes Canon/Toshiba use in classic images, Philips' private diffusion and scaling
elements, Siemens' 0019 diffusion elements, UIH's group 0065.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Sequence

from pydicom.dataset import Dataset

Tweak = Callable[[Dataset, int, int], None]

#: b-values and unit gradient directions (LPS, or the vendor's frame) of a small DWI run.
BVALS = (0, 1000, 1000, 1000, 2000)
BVECS = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.6, 0.8), (0.0, -0.8, 0.6), (0.48, 0.6, 0.64))


def chain(*tweaks: Tweak | None) -> Tweak:
    """Apply several tweaks in order."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        for tweak in tweaks:
            if tweak is not None:
                tweak(ds, k, t)

    return apply


def phase_encoding(direction: str) -> Tweak:
    """(0018,1312) 'In-plane Phase Encoding Direction' ("ROW" or "COL")."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.InPlanePhaseEncodingDirection = direction

    return apply


def ge_protocol_block(lines: dict[str, str]) -> bytes:
    """GE's protocol data block (0025,101B): a little-endian length, then gzip'd text."""
    entries = {"ENTRY": "1"} | lines  # the block never starts with the keys dcm2niix reads
    text = "\n".join(f'{key} "{value}"' for key, value in entries.items()) + "\n"
    packed = gzip.compress(text.encode("latin-1"))
    return struct.pack("<I", len(packed)) + packed


def ge_epi(
    *, sequence: str = "epiRT", slice_order: str = "1", multiband: int = 0, options: str = ""
) -> Tweak:
    """A GE EPI time series: sequence names (0019,109C/109E) and the protocol block."""
    block = ge_protocol_block(
        {"SLICEORDER": slice_order, "IOPT": options or "EPI, FMRI", "VIEWORDER": "1"}
        | ({"MBACCEL": str(multiband)} if multiband else {})
    )

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.SoftwareVersions = ["27", "LX", "MR Software release:RX27.0_R03_1831.a"]
        acq = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        acq.add_new(0x9C, "LO", sequence)
        acq.add_new(0x9E, "LO", "EPI")
        ds.private_block(0x0025, "GEMS_SERS_01", create=True).add_new(0x1B, "OB", block)

    return apply


def ge_diffusion(
    bvals: Sequence[float] = BVALS,
    bvecs: Sequence[Sequence[float]] = BVECS,
    *,
    release: str = "",
) -> Tweak:
    """GE DWI: b-value in (0043,1039) (with GE's 10⁹ bias), direction in (0019,10BB-BD).

    With a ``release`` such as "MR29.1_EA_2039.g" (RX27 and later), also the standard
    (0018,9087) b-value as those releases write it: only in diffusion-weighted images,
    and still without a (0018,9089) direction.
    """

    def apply(ds: Dataset, k: int, t: int) -> None:
        if release:
            ds.SoftwareVersions = [release[2:4], "LX", release]
            if bvals[t] > 0:
                ds.add_new(0x00189087, "FD", float(bvals[t]))
        parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        parm.add_new(0x39, "IS", [str(1_000_000_000 + int(bvals[t])), "8", "0", "0"])
        acq = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        for element, value in zip((0xBB, 0xBC, 0xBD), bvecs[t], strict=True):
            acq.add_new(element, "DS", f"{value:.6g}")
        acq.add_new(0xE0, "DS", str(len(bvals) - 1))
        acq.add_new(0x9C, "LO", "epi2")
        acq.add_new(0x9E, "LO", "EPI2")
        ds.ScanningSequence = ["EP", "SE"]

    return apply


def standard_diffusion(
    bvals: Sequence[float] = BVALS,
    bvecs: Sequence[Sequence[float]] = BVECS,
    *,
    b0_without_value: bool = False,
) -> Tweak:
    """(0018,9087)/(0018,9089) at the top level of classic images (Canon/Toshiba, Hitachi);
    Toshiba leaves (0018,9087) out of b=0 images when ``b0_without_value``."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.ScanningSequence = ["SE", "EP"]
        if bvals[t] == 0 and b0_without_value:
            return
        ds.add_new(0x00189087, "FD", float(bvals[t]))
        if bvals[t] > 0:
            ds.add_new(0x00189089, "FD", [float(v) for v in bvecs[t]])

    return apply


def philips_diffusion(
    bvals: Sequence[float] = BVALS, bvecs: Sequence[Sequence[float]] = BVECS
) -> Tweak:
    """Philips classic DWI: (2001,1003) b-value, (2005,10B0-B2) direction (RL, AP, FH)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.ScanningSequence = "SE"
        imaging = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
        imaging.add_new(0x03, "FL", float(bvals[t]))
        imaging.add_new(0x04, "CS", "O" if bvals[t] > 0 else "N")
        mr = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
        for element, value in zip((0xB0, 0xB1, 0xB2), bvecs[t], strict=True):
            mr.add_new(element, "FL", float(value))

    return apply


def siemens_diffusion(
    bvals: Sequence[float] = BVALS, bvecs: Sequence[Sequence[float]] = BVECS
) -> Tweak:
    """Siemens classic DWI without a CSA header: (0019,100C) b-value, (0019,100E) direction."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.ScanningSequence = "EP"
        header = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        header.add_new(0x0C, "IS", str(int(bvals[t])))
        if bvals[t] > 0:
            header.add_new(0x0E, "FD", [float(v) for v in bvecs[t]])

    return apply


def uih_diffusion(
    bvals: Sequence[float] = BVALS, bvecs: Sequence[Sequence[float]] = BVECS
) -> Tweak:
    """UIH DWI: (0065,1009) b-value, (0065,1037) direction, creator 'Image Private Header'."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.ScanningSequence = "EP"
        block = ds.private_block(0x0065, "Image Private Header", create=True)
        block.add_new(0x09, "FD", float(bvals[t]))
        block.add_new(0x37, "FD", [float(v) for v in bvecs[t]])

    return apply


def canon_comment_diffusion(
    bvals: Sequence[float] = BVALS, bvecs: Sequence[Sequence[float]] = BVECS
) -> Tweak:
    """Canon's recent classic DWI: (0018,9087) and the direction only as text in
    (0020,4000) 'Image Comments', ``b=1000(0.480,0.600,0.640)``."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.ScanningSequence = ["SE", "EP"]
        ds.add_new(0x00189087, "FD", float(bvals[t]))
        x, y, z = bvecs[t]
        ds.ImageComments = f"b={int(bvals[t])}({x:.3f},{y:.3f},{z:.3f})"

    return apply


def ge_phase_reordering(value: str) -> Tweak:
    """GE RX27+: (0018,9034) 'Rectilinear Phase Encode Reordering' (LINEAR = flipped)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.add_new(0x00189034, "CS", value)

    return apply


def siemens_header(*, pat: str = "p2") -> Tweak:
    """Siemens classic elements kept when the CSA header (0029) is stripped: (0019,1028)
    bandwidth per pixel in the phase direction, (0019,1018) dwell time, (0019,1014) table
    position, (0051,100F) coil string and (0051,1011) PAT text."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        header = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        header.add_new(0x28, "FD", 48.077)
        header.add_new(0x18, "IS", "4400")
        header.add_new(0x14, "DS", ["0", "0", "-12.5"])
        mr = ds.private_block(0x0051, "SIEMENS MR HEADER", create=True)
        mr.add_new(0x0F, "LO", "HEA;HEP")
        mr.add_new(0x11, "LO", pat)
        ds.AcquisitionMatrix = [64, 0, 0, 64]
        ds.EchoTrainLength = "31"
        ds.InPlanePhaseEncodingDirection = "COL"
        ds.ScanningSequence = "EP"

    return apply


def ge_acquisition(
    *,
    multiband: int = 0,
    group_delay: float = 0.0,
    asset: Sequence[str] = (),
    echo_spacing_us: int = 0,
    phase_lines: int = 0,
    options: Sequence[str] = (),
    block: dict[str, str] | None = None,
) -> Tweak:
    """GE acquisition elements: HyperBand factor (0043,10B6), epiRT group delay
    (0043,107C, s), ASSET R factors (0043,1083: reciprocals, in-plane then out-of-plane),
    echo spacing (0043,102C, µs), (0018,1310) phase lines, (0018,0022) scan options, and
    the protocol data block (0025,101B)."""
    packed = ge_protocol_block(block) if block is not None else None

    def apply(ds: Dataset, k: int, t: int) -> None:
        parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        if multiband:
            parm.add_new(0xB6, "LO", [str(multiband), "4", "19"])
        if group_delay:
            parm.add_new(0x7C, "FL", group_delay)
        if asset:
            parm.add_new(0x83, "DS", list(asset))
        if echo_spacing_us:
            parm.add_new(0x2C, "SS", echo_spacing_us)
        if phase_lines:
            ds.AcquisitionMatrix = [0, 48, phase_lines, 0]
        if options:
            ds.ScanOptions = list(options)
        if packed is not None:
            ds.private_block(0x0025, "GEMS_SERS_01", create=True).add_new(0x1B, "OB", packed)

    return apply


def ge_b0_map(
    slices: int,
    *,
    sequence: str = "3db0map",
    internal: str = "",
    zip_factor: int = 1,
) -> Tweak:
    """GE's "3D B0 map": one series of two volumes, the field map (Hz, signed) first, then
    the magnitude; (0020,1002) counts both, GE's (0021,104F) one volume's acquired slices
    (fewer with ZIP interpolation, SliceThickness = zip × SpacingBetweenSlices)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        acq = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        acq.add_new(0x9C, "LO", sequence)
        if internal:
            acq.add_new(0x9E, "LO", internal)
        ds.add_new(0x00201002, "IS", str(2 * slices))
        rela = ds.private_block(0x0021, "GEMS_RELA_01", create=True)
        rela.add_new(0x4F, "SS", slices // zip_factor)
        ds.MRAcquisitionType = "3D"
        if zip_factor > 1:
            spacing = float(ds.SliceThickness)
            ds.SpacingBetweenSlices = f"{spacing:g}"
            ds.SliceThickness = f"{spacing * zip_factor:g}"

    return apply

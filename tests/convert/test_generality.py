"""The converter beyond the reference sets: synthetic series against live dcm2niix.

Each case is a small series (or several in one folder) written with pydicom (``synth.py``)
in a layout the dcm_qa sets do not cover: sagittal/coronal/oblique planes in every slice
order, CT gantry tilt, 12-bit and rescaled data, time series, multi-echo, magnitude and
phase, derived images, localizers, de-identified exports missing optional tags, and GE,
Canon/Toshiba, Philips, UIH and Hitachi conventions. The pinned dcm2niix converts the
same files in the same run, and the outputs are judged exactly as the dcm_qa sets are
(``dcm_qa.compare_set``): the same file names; per image shape, datatype, voxels,
scaling, sform/qform; bval/bvec; and every sidecar key, except the differences listed
for the set "synthetic" in ``known_differences.tsv`` with their reason. Single series
are also checked against the DICOM geometry itself: each slice's first voxel must land
on its (0020,0032) position.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

from conftest import require
from convert.dcm_qa import compare_set, found_differences, known_differences, write_manifest
from convert.synth import AXIAL, CORONAL, SAGITTAL, SeriesSpec, oblique, write
from convert.synth_enhanced import write_enhanced
from convert.synth_mosaic import diffusion_csa, write_mosaic
from convert.synth_uih import write_uih_mosaic
from convert.synth_vendor import (
    BVALS,
    BVECS,
    Tweak,
    canon_comment_diffusion,
    chain,
    ge_acquisition,
    ge_b0_map,
    ge_diffusion,
    ge_epi,
    ge_phase_reordering,
    phase_encoding,
    philips_diffusion,
    siemens_diffusion,
    siemens_header,
    standard_diffusion,
    uih_diffusion,
)
from medbridge.convert import ConvertOptions, convert, convert_files
from medbridge.convert.cli import convert_command
from medbridge.errors import IncompleteVolumeError

DEIDENTIFIED = (
    "InstanceNumber",
    "SliceLocation",
    "AcquisitionTime",
    "SeriesDescription",
    "ProtocolName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "SliceThickness",
    "StudyTime",
    "SeriesTime",
    "AcquisitionNumber",
)

SINGLE_SERIES = [
    SeriesSpec("axial_ct_toshiba", modality="CT", manufacturer="TOSHIBA", signed=True,
               intercept=-1024),
    SeriesSpec("axial_ct_canon", modality="CT", manufacturer="Canon Medical Systems",
               signed=True, intercept=-1024, pixel_spacing=(0.7, 0.7)),
    SeriesSpec("axial_descending", descending=True),
    SeriesSpec("sagittal_ge", orientation=SAGITTAL, manufacturer="GE MEDICAL SYSTEMS"),
    SeriesSpec("sagittal_descending", orientation=SAGITTAL, descending=True),
    SeriesSpec("coronal_philips", orientation=CORONAL, manufacturer="Philips Medical Systems"),
    SeriesSpec("oblique_siemens", orientation=oblique(20, 15)),
    SeriesSpec("oblique_canon_mr", manufacturer="Canon Medical Systems",
               orientation=oblique(-10, 30)),
    SeriesSpec("mr_12bit_ge", bits_stored=12, manufacturer="GE MEDICAL SYSTEMS"),
    SeriesSpec("mr_rescaled", slope=0.5, intercept=3),
    SeriesSpec("ct_rescaled_ge", modality="CT", manufacturer="GE MEDICAL SYSTEMS", signed=True,
               slope=2, intercept=-1000),
    SeriesSpec("deidentified", drop=DEIDENTIFIED),
    SeriesSpec("ct_rle", modality="CT", manufacturer="GE MEDICAL SYSTEMS", signed=True,
               intercept=-1024, slices=12, transfer_syntax=RLELossless),
    SeriesSpec("mr_jpegls", slices=12, transfer_syntax=JPEGLSLossless),
    SeriesSpec("mr_j2k_12bit", slices=12, rows=64, columns=48, bits_stored=12,
               transfer_syntax=JPEG2000Lossless),
    SeriesSpec("deidentified_ct", modality="CT", manufacturer="GE MEDICAL SYSTEMS", signed=True,
               intercept=-1024, drop=DEIDENTIFIED, descending=True),
]  # fmt: skip


def _echo(ds: Dataset, k: int, t: int) -> None:
    ds.EchoNumbers, ds.EchoTime = t + 1, str(10 * (t + 1))


def _echo_time_only(ds: Dataset, k: int, t: int) -> None:
    ds.EchoTime = ("12.5", "30")[t]


def _magnitude_phase(ds: Dataset, k: int, t: int) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY", "P" if t else "M", "ND"]


def _column_phase(ds: Dataset, k: int, t: int) -> None:
    ds.InPlanePhaseEncodingDirection = "COL"


def _row_phase(ds: Dataset, k: int, t: int) -> None:
    ds.InPlanePhaseEncodingDirection = "ROW"


def _three_d(ds: Dataset, k: int, t: int) -> None:
    ds.MRAcquisitionType = "3D"


def _trigger(ds: Dataset, k: int, t: int) -> None:
    ds.TriggerTime = str(k * 333)


def _punctuation(ds: Dataset, k: int, t: int) -> None:
    ds.SeriesDescription = "T1 (MPR) [x2], a&b#c%d@e!f~g+h=i^j$k`l"
    ds.ProtocolName = ".hidden/x\\y"
    ds.StudyTime = "101559.7"


GE = "GE MEDICAL SYSTEMS"
PHILIPS = "Philips Medical Systems"
_XA = "syngo MR XA30"
_XA60 = "syngo MR XA60"
#: ASCCONV lines as XA60 product and CMRR sequences write them (tab-separated): product
#: SMS has PAT mode 32, CMRR keeps lMultiBandFactor at 1 (its factor is in the WIP block).
_PRODUCT_PROTOCOL = (
    "sPat.lAccelFactPE\t = \t2\nsPat.ucPATMode\t = \t32\nsDiffusion.dsScheme\t = \t1\n"
    "sSliceAcceleration.lMultiBandFactor\t = \t1"
)
_CMRR_PROTOCOL = (
    "sPat.lAccelFactPE\t = \t2\nsPat.ucPATMode\t = \t2\nsDiffusion.dsScheme\t = \t1\n"
    "sSliceAcceleration.lMultiBandFactor\t = \t1\nsWipMemBlock.alFree[13]\t = \t2"
)
_DWI = (list(BVALS), list(BVECS))  # b-values and LPS directions, one per volume


def _rounded_times(first: list[float], later: list[float]) -> Any:
    """CSA 'MosaicRefAcqTimes' (ms) of the first volume, then of every later one: the
    scanner rounds each volume's to its 2.5 ms raster, so they can differ."""

    def items(t: int) -> dict[str, tuple[str, list[float]]]:
        return {"MosaicRefAcqTimes": ("FD", first if t == 0 else later)}

    return items


def _field_map(kind: str, echo: int | None = None) -> Tweak:
    """A dual-echo field map's series: magnitude images of both echoes (volume t is echo
    t + 1), or the phase difference, stored as the second echo (Siemens gre_field_mapping)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        number = echo or t + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", kind, "ND"]
        ds.EchoNumbers, ds.EchoTime = number, ("4.92", "7.38")[number - 1]

    return apply


def _field_map_case(name: str, maker: str, template: str = "%s") -> Case:
    """Magnitude (series 5, echoes 1 and 2), phase difference (6, echo 2), a lone second
    echo (7) and a lone first-echo phase image (8), as separate series of one study."""
    return Case(name, (
        SeriesSpec(f"{name}_magnitude", manufacturer=maker, volumes=2, series_number=5,
                   tweak=_field_map("M")),
        SeriesSpec(f"{name}_phasediff", manufacturer=maker, series_number=6,
                   tweak=_field_map("P", 2)),
        SeriesSpec(f"{name}_second_echo", manufacturer=maker, series_number=7,
                   tweak=_field_map("M", 2)),
        SeriesSpec(f"{name}_phase_first_echo", manufacturer=maker, series_number=8,
                   tweak=_field_map("P", 1)),
    ), template=template, geometry=False)  # fmt: skip


def _uih_displayed_phase(ds: Dataset, k: int, t: int) -> None:
    """UIH's (0065,1005): the phase direction as the console shows it."""
    ds.private_block(0x0065, "Image Private Header", create=True).add_new(0x05, "SH", "A->P")
    ds.InPlanePhaseEncodingDirection = "COL"


def _blank_name(ds: Dataset, k: int, t: int) -> None:
    ds.PatientName = ""


def _identity(ds: Dataset, k: int, t: int) -> None:
    ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = "ACC1", "S7", "Ref^Doc"
    ds.PatientWeight, ds.PatientAge = "70", "054Y"


def _epi_3d(ds: Dataset, k: int, t: int) -> None:
    ds.MRAcquisitionType, ds.ScanningSequence, ds.EchoTrainLength = "3D", "EP", "40"
    ds.InPlanePhaseEncodingDirection = "COL"


def _ge_private_kind(ds: Dataset, k: int, t: int) -> None:
    ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x2F, "SS", t)


def _second_table_position(ds: Dataset, k: int, t: int) -> None:
    """A second CT acquisition of the series, continuing the first one's stack."""
    ds.AcquisitionNumber = str(t + 1)
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [f"{x:g}", f"{y:g}", f"{z + 15.0 * t:g}"]


def _detector_rows(ds: Dataset, k: int, t: int) -> None:
    """Multi-row CT: slices reconstructed from one rotation share an acquisition time."""
    ds.AcquisitionTime = f"1017{k // 2:02d}.000000"


def _acquisition_matrix(ds: Dataset, k: int, t: int) -> None:
    ds.AcquisitionMatrix = [0, 10, 7, 0]  # phase rows only; no (0018,1312)


def _not_distortion_corrected(ds: Dataset, k: int, t: int) -> None:
    ds.MRAcquisitionType, ds.ImageType = "3D", ["ORIGINAL", "PRIMARY", "M", "ND"]


def _xa_classic(time_after_start: bool) -> Tweak:
    """Siemens XA saved as classic images; with (0021,1104) 'TimeAfterStart' unless
    de-identification stripped it (times unlike the acquisition times, to tell them apart)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.SoftwareVersions = _XA
        if time_after_start:
            ds.add_new(0x00210011, "LO", "SIEMENS MR SDI 02")
            ds.add_new(0x00211104, "DS", f"{0.05 * ((k * 7) % 6) + 2.0 * t:.4f}")

    return apply


def _xa_classic_epi(phase: str, positive: int, version: str = _XA, start: float = 7.0) -> Tweak:
    """A Siemens XA EPI saved as classic images: no CSA header, the values it held in the
    top-level private block "SIEMENS MR SDI 02": (0021,1153) bandwidth per pixel phase
    encode, (0021,111C) phase direction positive, (0021,1142) dwell time, (0021,114F)
    coil elements, (0021,1175) image type; in block "SIEMENS MR SDS 01" (0021,1005)
    table position; TimeAfterStart from a series start ``start`` s
    back (hundreds of seconds into a run, dcm2niix's single precision shows)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        _xa_classic(True)(ds, k, t)
        ds.SoftwareVersions, ds.ScanningSequence = version, "EP"
        ds.InPlanePhaseEncodingDirection = phase
        ds.AcquisitionMatrix = [0, 10, 12, 0] if phase == "COL" else [12, 0, 0, 10]
        ds[0x00211104].value = f"{start + 2.0 * t + (k * 7) % 6 / 3.0:.4f}"
        ds.add_new(0x00211153, "FD", 22.5)
        ds.add_new(0x0021111C, "IS", str(positive))
        ds.add_new(0x00211142, "DS", "2600")
        ds.add_new(0x0021114F, "LO", "HC1-7")
        ds.add_new(0x00211175, "CS", ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"])
        ds.add_new(0x00210010, "LO", "SIEMENS MR SDS 01")
        ds.add_new(0x00211005, "IS", ["0", "12", "-1146"])  # table position

    return apply


_XA_SERIES = [generate_uid() for _ in range(3)]


def _xa_split_volumes(ds: Dataset, k: int, t: int) -> None:
    """XA classic fMRI exported one series per volume: own series UID and number (16001,
    16002...), one series time."""
    _xa_classic(True)(ds, k, t)
    ds.SeriesTime, ds.SeriesInstanceUID = "101600.123000", _XA_SERIES[t]
    ds.SeriesNumber, ds.InstanceNumber = 16001 + t, k + 1


def _ge_system(model: str, user15: str | None) -> Tweak:
    """A GE system model and its (0019,10B6) 'User Data 15' (the diffusion cycling mode)."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.ManufacturerModelName = model
        if user15 is not None:
            ds.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0xB6, "DS", user15)

    return apply


def _feet_first(ds: Dataset, k: int, t: int) -> None:
    ds.PatientPosition = "FFS"


def _fixed_sop_uid(ds: Dataset, k: int, t: int) -> None:
    """Fixed SOP UIDs: dcm2niix orders unnumbered images by their checksums."""
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.9.7.{t}.{k}"


def _ct_scout(ds: Dataset, k: int, t: int) -> None:
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]


def _philips_scale_slope(ds: Dataset, k: int, t: int) -> None:
    ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x0E, "FL", 0.0025)


def _cardiac_phase(ds: Dataset, k: int, t: int) -> None:
    ds.TriggerTime = str(100 * (t + 1))


def _coil_per_volume(ds: Dataset, k: int, t: int) -> None:
    ds.ReceiveCoilName = ("HEAD", "BODY")[t]


def _rich(phase: str) -> Tweak:
    """The standard MR attributes real scanners fill in, with a phase direction."""

    def apply(ds: Dataset, k: int, t: int) -> None:
        ds.PixelBandwidth, ds.EchoTrainLength, ds.NumberOfAverages = "1953.12", "37", "2"
        ds.AcquisitionMatrix = [0, 64, 64, 0] if phase == "COL" else [64, 0, 0, 64]
        ds.ReceiveCoilName, ds.SAR, ds.PercentPhaseFieldOfView = "8HRBRAIN", "0.53", "100"
        ds.PercentSampling, ds.EchoNumbers, ds.NumberOfPhaseEncodingSteps = "100", "1", "48"
        ds.StationName, ds.DeviceSerialNumber, ds.InstitutionName = "MR1", "0000", "Hosp"
        ds.InstitutionAddress, ds.BodyPartExamined, ds.ImagingFrequency = "St 1", "BRAIN", "127.7"
        ds.SoftwareVersions, ds.ScanOptions, ds.SequenceName = "V1", ["FC", "SAT_GEMS"], "epi"
        ds.InPlanePhaseEncodingDirection, ds.SpacingBetweenSlices = phase, "3.0"
        ds.ImageComments, ds.StudyDescription = "hello", "brain study"
        ds.InstitutionalDepartmentName, ds.PerformedProcedureStepDescription = "Radiology", "HEAD"

    return apply


def _slope_per_slice(ds: Dataset, k: int, t: int) -> None:
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = str(1 + 0.25 * k), str(-k), "US"


def _intercept_per_slice(ds: Dataset, k: int, t: int) -> None:
    ds.RescaleIntercept = str(-1024 + k)


def _high_bits_set(ds: Dataset, k: int, t: int) -> None:
    values = np.frombuffer(ds.PixelData, dtype=np.uint16).copy()
    values[::7] |= 0xF000  # garbage above the 12 stored bits
    ds.PixelData = values.tobytes()


def _ct_exposure(ds: Dataset, k: int, t: int) -> None:
    ds.Exposure, ds.ExposureTime, ds.XRayTubeCurrent = str(100 + k), "500", "220"
    ds.ConvolutionKernel = "FC13"


@dataclass
class Case:
    """Series written into one folder and converted with the same options by both tools."""

    name: str
    specs: tuple[SeriesSpec, ...]
    template: str = "%s"
    flags: tuple[str, ...] = ()
    one_series: bool = False  # specs share study/series UIDs (echoes, magnitude/phase)
    geometry: bool = True  # also check each slice against its (0020,0032)
    enhanced: dict[str, Any] | None = None  # multi-frame files: write_enhanced options
    mosaic: dict[str, Any] | None = None  # Siemens mosaics: write_mosaic options
    uih_grid: dict[str, Any] | None = None  # UIH VFRAME grids: write_uih_mosaic options
    note: str = field(default="", compare=False)


def _single(spec: SeriesSpec, **kwargs: object) -> Case:
    return Case(spec.name, (spec,), **kwargs)  # type: ignore[arg-type]


CASES = [_single(spec) for spec in SINGLE_SERIES] + [
    _single(SeriesSpec("axial_interleaved", acquisition="interleaved")),
    _single(SeriesSpec("fmri_siemens", volumes=3)),
    _single(SeriesSpec("fmri_interleaved_descending", volumes=3, acquisition="interleaved",
                       descending=True)),
    _single(SeriesSpec("fmri_sagittal", volumes=3, orientation=SAGITTAL)),
    _single(SeriesSpec("fmri_coronal_descending", volumes=3, orientation=CORONAL,
                       descending=True)),
    _single(SeriesSpec("fmri_ge", volumes=3, manufacturer="GE MEDICAL SYSTEMS")),
    _single(SeriesSpec("fmri_philips", volumes=3, manufacturer="Philips Medical Systems")),
    _single(SeriesSpec("fmri_canon", volumes=3, manufacturer="Canon Medical Systems")),
    _single(SeriesSpec("fmri_uih", volumes=3, manufacturer="UIH")),
    _single(SeriesSpec("no_instance_number", drop=("InstanceNumber",))),
    _single(SeriesSpec("no_series_number", drop=("SeriesNumber",))),
    _single(SeriesSpec("no_acquisition_time", drop=("AcquisitionTime",))),
    _single(SeriesSpec("no_protocol_name", drop=("ProtocolName",)), template="%p_%s"),
    _single(SeriesSpec("no_study_time", drop=("StudyTime",)), template="%t_%s"),
    _single(SeriesSpec("blank_patient_name", tweak=_blank_name), template="%n_%s"),
    _single(SeriesSpec("punctuation", tweak=_punctuation), template="%t_%s_%d_%p"),
    _single(SeriesSpec("no_numbers", drop=("InstanceNumber", "AcquisitionNumber", "StudyDate")),
            template="%u_%e_%t_%s"),
    _single(SeriesSpec("multi_echo", volumes=2, tweak=_echo), geometry=False),
    _single(SeriesSpec("multi_echo_ge", volumes=2, tweak=_echo, manufacturer="GE MEDICAL SYSTEMS"),
            geometry=False),
    _single(SeriesSpec("echo_time_only", volumes=2, tweak=_echo_time_only), geometry=False),
    _single(SeriesSpec("magnitude_phase", volumes=2, tweak=_magnitude_phase), geometry=False),
    _single(SeriesSpec("derived", image_type=("DERIVED", "SECONDARY"))),
    _single(SeriesSpec("derived_ignored", image_type=("DERIVED", "SECONDARY")), flags=("-i", "y")),
    _single(SeriesSpec("single_slice", slices=1), geometry=False),
    _single(SeriesSpec("phase_column_ge", tweak=_column_phase, manufacturer="GE MEDICAL SYSTEMS",
                       volumes=2)),
    _single(SeriesSpec("phase_row_canon", tweak=_row_phase, manufacturer="Canon Medical Systems")),
    _single(SeriesSpec("phase_column_siemens", tweak=_column_phase)),
    _single(SeriesSpec("phase_column_hitachi", tweak=_column_phase, manufacturer="Hitachi"),
            template="%v_%m_%s"),
    _single(SeriesSpec("trigger_time_ge", tweak=_trigger, manufacturer="GE MEDICAL SYSTEMS",
                       volumes=3)),
    _single(SeriesSpec("sagittal_3d", tweak=_three_d, orientation=SAGITTAL), geometry=False),
    _single(SeriesSpec("coronal_3d_descending", tweak=_three_d, orientation=CORONAL,
                       descending=True), geometry=False),
    _single(SeriesSpec("oblique_3d", tweak=_three_d, orientation=oblique(25, 10)),
            geometry=False),
    _single(SeriesSpec("ct_exposure", modality="CT", manufacturer="TOSHIBA", signed=True,
                       intercept=-1024, tweak=_ct_exposure)),
    _single(SeriesSpec("not_anonymized", tweak=_identity), flags=("-ba", "n")),
    *(_single(SeriesSpec(f"rich_{name}_{phase.lower()}", manufacturer=maker, volumes=2,
                         tweak=_rich(phase)))
      for name, maker in (("ge", GE), ("canon", "Canon Medical Systems"), ("hitachi", "Hitachi"),
                          ("siemens", "SIEMENS"), ("philips", PHILIPS), ("uih", "UIH"),
                          ("toshiba", "TOSHIBA"))
      for phase in ("COL", "ROW")),
    *(_single(SeriesSpec(f"siemens_without_csa_{name}", volumes=2, rows=64, columns=64,
                         tweak=siemens_header(pat=pat)))
      for name, pat in (("grappa", "p2"), ("multiband", "p2s3"), ("no_pat", ""))),
    _single(SeriesSpec("slope_per_slice", tweak=_slope_per_slice)),
    _single(SeriesSpec("slope_per_slice_time_series", tweak=_slope_per_slice, volumes=2)),
    _single(SeriesSpec("ct_intercept_per_slice", modality="CT", signed=True, intercept=-1024,
                       tweak=_intercept_per_slice)),
    _single(SeriesSpec("mr_signed", signed=True)),
    _single(SeriesSpec("mr_12bit_high_bits_set", bits_stored=12, tweak=_high_bits_set)),
    *(_single(SeriesSpec(f"vendor_{name}", manufacturer=maker), template="%v_%m_%s")
      for name, maker in (("mediso", "Mediso"), ("mr_solutions", "MRSolutions"),
                          ("hyperfine", "Hyperfine"), ("cps", "CPS"), ("bruker", "Bruker BioSpin"),
                          ("unknown", "ACME Imaging"), ("united_imaging", "United Imaging"))),
    _single(SeriesSpec("no_manufacturer", drop=("Manufacturer",)), template="%v_%m_%s"),
    _single(SeriesSpec("not_anonymized_partial", drop=("PatientBirthDate", "PatientSex",
                       "AcquisitionDate")), flags=("-ba", "n")),
    _single(SeriesSpec("epi_3d", tweak=_epi_3d, orientation=SAGITTAL)),
    _single(SeriesSpec("ge_magnitude_phase_real_imaginary", volumes=4, manufacturer=GE,
                       tweak=_ge_private_kind), geometry=False),
    _single(SeriesSpec("philips_scale_slope", manufacturer=PHILIPS, slope=1.5,
                       tweak=_philips_scale_slope)),
    _single(SeriesSpec("philips_cardiac_phases", manufacturer=PHILIPS, volumes=3,
                       tweak=_cardiac_phase), geometry=False),
    _single(SeriesSpec("coil_varies", volumes=2, tweak=_coil_per_volume)),
    _single(SeriesSpec("coronal_descending_interleaved", orientation=CORONAL, descending=True,
                       acquisition="interleaved", volumes=2)),
    _single(SeriesSpec("sagittal_interleaved", orientation=SAGITTAL, acquisition="interleaved",
                       volumes=2)),
    _single(SeriesSpec("oblique_sagittal", orientation=oblique(0, 90), volumes=2)),
    Case("ct_scout_and_body", (SeriesSpec("scout", modality="CT", manufacturer="TOSHIBA",
         signed=True, intercept=-1024, slices=1, tweak=_ct_scout, series_number=2),
         SeriesSpec("body", modality="CT", manufacturer="TOSHIBA", signed=True,
         intercept=-1024)), geometry=False),
    Case("ct_scout_ignored", (SeriesSpec("scout", modality="CT", manufacturer="TOSHIBA",
         signed=True, intercept=-1024, slices=1, tweak=_ct_scout, series_number=2),
         SeriesSpec("body", modality="CT", manufacturer="TOSHIBA", signed=True,
         intercept=-1024)), flags=("-i", "y"), geometry=False),
    # Diffusion, as each vendor stores it, in several planes and phase directions.
    _single(SeriesSpec("dwi_ge_axial", manufacturer=GE, volumes=5,
                       tweak=chain(ge_diffusion(), phase_encoding("COL")))),
    _single(SeriesSpec("dwi_ge_axial_row", manufacturer=GE, volumes=5,
                       tweak=chain(ge_diffusion(), phase_encoding("ROW")))),
    _single(SeriesSpec("dwi_ge_sagittal", manufacturer=GE, volumes=5, orientation=SAGITTAL,
                       tweak=chain(ge_diffusion(), phase_encoding("COL")))),
    _single(SeriesSpec("dwi_ge_coronal_descending", manufacturer=GE, volumes=5,
                       orientation=CORONAL, descending=True,
                       tweak=chain(ge_diffusion(), phase_encoding("COL")))),
    _single(SeriesSpec("dwi_ge_oblique", manufacturer=GE, volumes=5, orientation=oblique(15, 10),
                       tweak=chain(ge_diffusion(), phase_encoding("COL")))),
    _single(SeriesSpec("dwi_ge_scaled_and_trace", manufacturer=GE, volumes=5,
                       tweak=chain(ge_diffusion((0, 1000, 1000, 1000, 1000),
                                                ((0, 0, 0), (1, 0, 0), (0, 0.5, 0),
                                                 (0.3, 0.4, 0), (0, 0, 0))),
                                   phase_encoding("COL")))),
    _single(SeriesSpec("dwi_ge_no_phase_direction", manufacturer=GE, volumes=5,
                       tweak=ge_diffusion())),
    _single(SeriesSpec("dwi_ge_coronal_row", manufacturer=GE, volumes=5, orientation=CORONAL,
                       tweak=chain(ge_diffusion(), phase_encoding("ROW")))),
    _single(SeriesSpec("dwi_ge_feet_first", manufacturer=GE, volumes=5, orientation=SAGITTAL,
                       tweak=chain(ge_diffusion(), phase_encoding("COL"), _feet_first))),
    # RX27 and later (MR29 "DV29"): a standard (0018,9087) b-value, the direction private.
    _single(SeriesSpec("dwi_ge_mr29", manufacturer=GE, volumes=5,
                       tweak=chain(ge_diffusion(release="MR29.1_EA_2039.g"),
                                   phase_encoding("COL")))),
    _single(SeriesSpec("dwi_ge_mr29_sagittal_row", manufacturer=GE, volumes=5,
                       orientation=SAGITTAL,
                       tweak=chain(ge_diffusion(release="MR29.1_EA_2039.g"),
                                   phase_encoding("ROW")))),
    _single(SeriesSpec("dwi_unknown_vendor", manufacturer="ACME Imaging", volumes=5,
                       orientation=oblique(12, -20), tweak=standard_diffusion())),
    _single(SeriesSpec("dwi_canon_comments_coronal_row", manufacturer="CANON_MEC", volumes=5,
                       orientation=CORONAL,
                       tweak=chain(canon_comment_diffusion(), phase_encoding("ROW")))),
    _single(SeriesSpec("dwi_canon_world", manufacturer="Canon Medical Systems", volumes=5,
                       tweak=standard_diffusion())),
    _single(SeriesSpec("dwi_canon_image_frame", manufacturer="Canon Medical Systems",
                       volumes=5, tweak=chain(standard_diffusion(), phase_encoding("COL")))),
    _single(SeriesSpec("dwi_canon_comments", manufacturer="CANON_MEC", volumes=5,
                       orientation=SAGITTAL,
                       tweak=chain(canon_comment_diffusion(), phase_encoding("COL")))),
    _single(SeriesSpec("dwi_canon_comments_row", manufacturer="CANON_MEC", volumes=5,
                       tweak=chain(canon_comment_diffusion(), phase_encoding("ROW")))),
    _single(SeriesSpec("dwi_toshiba_b0_without_value", manufacturer="TOSHIBA", volumes=5,
                       tweak=standard_diffusion(b0_without_value=True))),
    _single(SeriesSpec("dwi_toshiba_sagittal", manufacturer="TOSHIBA", volumes=5,
                       orientation=SAGITTAL, tweak=standard_diffusion())),
    _single(SeriesSpec("dwi_philips", manufacturer="Philips Medical Systems", volumes=5,
                       tweak=philips_diffusion())),
    _single(SeriesSpec("dwi_philips_oblique_descending", manufacturer="Philips Medical Systems",
                       volumes=5, orientation=oblique(-20, 12), descending=True,
                       tweak=philips_diffusion())),
    _single(SeriesSpec("dwi_siemens_classic", volumes=5, tweak=siemens_diffusion())),
    _single(SeriesSpec("dwi_siemens_coronal", volumes=5, orientation=CORONAL,
                       tweak=siemens_diffusion())),
    _single(SeriesSpec("dwi_uih", manufacturer="UIH", volumes=5, tweak=uih_diffusion())),
    _single(SeriesSpec("dwi_hitachi_sagittal", manufacturer="Hitachi", volumes=5,
                       orientation=SAGITTAL, tweak=standard_diffusion())),
    # GE EPI time series: slice times from the protocol block, phase polarity.
    _single(SeriesSpec("fmri_ge_epirt", manufacturer=GE, volumes=3, tweak=ge_epi())),
    _single(SeriesSpec("fmri_ge_sequential", manufacturer=GE, volumes=3,
                       tweak=ge_epi(slice_order="0"))),
    _single(SeriesSpec("fmri_ge_multiband", manufacturer=GE, volumes=3, slices=8,
                       tweak=ge_epi(multiband=2))),
    _single(SeriesSpec("fmri_ge_descending", manufacturer=GE, volumes=3, descending=True,
                       tweak=ge_epi())),
    _single(SeriesSpec("fmri_ge_flipped", manufacturer=GE, volumes=3,
                       tweak=chain(ge_epi(), ge_phase_reordering("LINEAR"),
                                   phase_encoding("COL")))),
    _single(SeriesSpec("ge_3d_flipped", manufacturer=GE, tweak=chain(
        _three_d, ge_phase_reordering("LINEAR"), phase_encoding("COL"))), geometry=False),
    _single(SeriesSpec("fmri_ge_unflipped_row", manufacturer=GE, volumes=3,
                       tweak=chain(ge_epi(), ge_phase_reordering("REVERSE_LINEAR"),
                                   phase_encoding("ROW")))),
    # GE HyperBand and ASSET: slice times, TR with the epiRT group delay, readout times.
    _single(SeriesSpec("fmri_ge_hyperband_group_delay", manufacturer=GE, volumes=3, slices=9,
                       rows=64, columns=64,
                       tweak=chain(ge_epi(multiband=3), phase_encoding("COL"),
                                   ge_acquisition(multiband=3, group_delay=0.055,
                                                  asset=("0.5", "1"), echo_spacing_us=560,
                                                  phase_lines=64)))),
    _single(SeriesSpec("dwi_ge_hyperband", manufacturer=GE, volumes=5, slices=8, rows=64,
                       columns=64,
                       tweak=chain(ge_diffusion(release="MR29.1_EA_2039.g"),
                                   phase_encoding("COL"),
                                   ge_acquisition(multiband=2, asset=("0.5", "1"),
                                                  echo_spacing_us=560, phase_lines=64,
                                                  block={"SLICEORDER": "0"})))),
    _single(SeriesSpec("dwi_ge_sequential_block", manufacturer=GE, volumes=5, slices=7,
                       tweak=chain(ge_diffusion(release="RX27.0_R03_1831.a"),
                                   phase_encoding("ROW"),
                                   ge_acquisition(block={"SLICEORDER": "0"})))),
    *(_single(SeriesSpec(f"dwi_ge_premier_{name}", manufacturer=GE, volumes=3, slices=6,
                         tweak=chain(ge_diffusion(release="MR29.1_EA_2039.g"),
                                     ge_acquisition(block={"SLICEORDER": "1"}),
                                     _ge_system("SIGNA Premier", user15))))
      for name, user15 in (("cycling", None), ("special_off", "0.72"))),
    _single(SeriesSpec("fmri_ge_multiphase_sequential", manufacturer=GE, volumes=3, slices=8,
                       tweak=chain(ge_epi(sequence="epi", slice_order="0", multiband=2,
                                          options="EPI, MPh"))), geometry=False),
    _single(SeriesSpec("ge_3d_asset_out_of_plane", manufacturer=GE, rows=64, columns=56,
                       tweak=chain(_three_d, phase_encoding("COL"),
                                   ge_acquisition(asset=("0.5", "0.5"), echo_spacing_us=600,
                                                  phase_lines=42))), geometry=False),
    _single(SeriesSpec("ge_partial_fourier_row", manufacturer=GE, volumes=2, rows=56,
                       columns=64,
                       tweak=chain(phase_encoding("ROW"),
                                   ge_acquisition(asset=("0.6667", "1"), echo_spacing_us=500,
                                                  phase_lines=42, options=("EPI_GEMS", "PFF"))))),
    _single(SeriesSpec("ge_accelerated_without_matrix", manufacturer=GE, volumes=2,
                       tweak=chain(phase_encoding("COL"),
                                   ge_acquisition(asset=("0.5", "1"), echo_spacing_us=500)))),
    # GE "3D B0 map": the field map (Hz) and the magnitude, one series, two outputs.
    _single(SeriesSpec("ge_b0_map", manufacturer=GE, volumes=2, signed=True,
                       tweak=ge_b0_map(6)), geometry=False),
    _single(SeriesSpec("ge_b0_map_zip2", manufacturer=GE, volumes=2, signed=True,
                       orientation=SAGITTAL, tweak=ge_b0_map(6, zip_factor=2)),
            geometry=False),
    _single(SeriesSpec("ge_b0_map_internal_name", manufacturer=GE, volumes=2, signed=True,
                       descending=True, tweak=ge_b0_map(6, sequence="fgre", internal="B0map")),
            geometry=False),
    # Enhanced multi-frame MR and CT, written with their functional groups.
    Case("enhanced_philips", (SeriesSpec("enhanced_philips", manufacturer=PHILIPS),),
         enhanced={}),
    Case("enhanced_siemens_sagittal", (SeriesSpec("enhanced_siemens_sagittal",
         orientation=SAGITTAL),), enhanced={}),
    Case("enhanced_canon_descending", (SeriesSpec("enhanced_canon_descending",
         manufacturer="Canon Medical Systems", descending=True),), enhanced={}),
    Case("enhanced_philips_rescaled", (SeriesSpec("enhanced_philips_rescaled", slope=0.5,
         intercept=3, manufacturer=PHILIPS),), enhanced={}),
    Case("enhanced_time_series", (SeriesSpec("enhanced_time_series", volumes=3,
         manufacturer=PHILIPS),), enhanced={}),
    Case("enhanced_time_series_volume_fastest", (SeriesSpec(
         "enhanced_time_series_volume_fastest", volumes=3, manufacturer=PHILIPS),),
         enhanced={"volume_fastest": True}),
    Case("enhanced_time_series_no_dimensions", (SeriesSpec(
         "enhanced_time_series_no_dimensions", volumes=3, manufacturer=PHILIPS),),
         enhanced={"dims": False}),
    Case("enhanced_time_series_ge", (SeriesSpec("enhanced_time_series_ge", volumes=3,
         manufacturer=GE),), enhanced={}),
    Case("enhanced_ct_canon", (SeriesSpec("enhanced_ct_canon", modality="CT",
         manufacturer="Canon Medical Systems", signed=True, intercept=-1024),), enhanced={}),
    Case("enhanced_ct_oblique", (SeriesSpec("enhanced_ct_oblique", modality="CT", signed=True,
         intercept=-1024, orientation=oblique(10, 5)),), enhanced={}),
    # Enhanced DWI: b-value and direction in each frame's MR Diffusion item.
    Case("enhanced_dwi_philips", (SeriesSpec("enhanced_dwi_philips", volumes=5,
         manufacturer=PHILIPS),), enhanced={"diffusion": _DWI}),
    Case("enhanced_dwi_canon_oblique", (SeriesSpec("enhanced_dwi_canon_oblique", volumes=5,
         manufacturer="Canon Medical Systems", orientation=oblique(12, 20)),),
         enhanced={"diffusion": _DWI}),
    Case("enhanced_dwi_philips_descending", (SeriesSpec("enhanced_dwi_philips_descending",
         volumes=5, manufacturer=PHILIPS, descending=True),), enhanced={"diffusion": _DWI}),
    # Siemens XA: one enhanced file per volume, stacked like classic images; slice times
    # from each frame's private TimeAfterStart (the second volume's, for XA).
    Case("xa_dwi_sagittal", (SeriesSpec("xa_dwi_sagittal", volumes=5, orientation=SAGITTAL),),
         enhanced={"diffusion": _DWI, "software": _XA, "per_volume": True}),
    Case("xa_fmri_interleaved", (SeriesSpec("xa_fmri_interleaved", volumes=3,
         acquisition="interleaved"),), enhanced={"software": _XA, "per_volume": True}),
    Case("xa_fmri_descending_oblique", (SeriesSpec("xa_fmri_descending_oblique", volumes=3,
         descending=True, orientation=oblique(15, 10)),),
         enhanced={"software": _XA, "per_volume": True}),
    Case("xa_fmri_coronal_descending", (SeriesSpec("xa_fmri_coronal_descending", volumes=3,
         orientation=CORONAL, descending=True),), enhanced={"software": _XA, "per_volume": True}),
    Case("xa_fmri_deidentified", (SeriesSpec("xa_fmri_deidentified", volumes=3),),
         enhanced={"software": _XA, "per_volume": True, "private": False}),
    # Siemens XA60/XA61 (dcm2niix knows XA5x-XA7x as XA): a multiband factor inferred from
    # the slice times (XA's headers say 1), the protocol in the shared private item.
    Case("xa60_fmri_multiband", (SeriesSpec("xa60_fmri_multiband", volumes=3, slices=6,
         acquisition="interleaved", multiband=2),),
         enhanced={"software": _XA60, "per_volume": True, "protocol": _CMRR_PROTOCOL}),
    Case("xa60_fmri_multiband3_descending", (SeriesSpec("xa60_fmri_multiband3_descending",
         volumes=2, slices=6, descending=True, multiband=3),),
         enhanced={"software": "syngo MR XA61", "per_volume": True}),
    Case("xa60_dwi_product", (SeriesSpec("xa60_dwi_product", volumes=5),),
         enhanced={"diffusion": _DWI, "software": _XA60, "per_volume": True,
                   "protocol": _PRODUCT_PROTOCOL, "table": (3, -2, 1146)}),
    Case("xa60_dwi_monopolar", (SeriesSpec("xa60_dwi_monopolar", volumes=5),),
         enhanced={"diffusion": _DWI, "software": _XA60, "per_volume": True,
                   "protocol": _PRODUCT_PROTOCOL.replace("dsScheme\t = \t1", "dsScheme\t = \t2")}),
    Case("xa60_fmri_product", (SeriesSpec("xa60_fmri_product", volumes=3),),
         enhanced={"software": _XA60, "per_volume": True, "protocol": _PRODUCT_PROTOCOL}),
    Case("siemens_enhanced_per_volume", (SeriesSpec("siemens_enhanced_per_volume", volumes=3,
         acquisition="interleaved"),), enhanced={"per_volume": True}),
    Case("ge_enhanced_per_volume", (SeriesSpec("ge_enhanced_per_volume", volumes=3,
         manufacturer=GE),), enhanced={"per_volume": True}),
    # De-identified: no instance numbers. 3D stacks are named after their lowest slice
    # (%r); a time series is ordered by acquisition time (dcm2niix: by UID checksums).
    Case("unnumbered_coronal_interleaved", (SeriesSpec("unnumbered_coronal_interleaved",
         orientation=CORONAL, acquisition="interleaved", drop=("InstanceNumber",)),),
         template="%s_%r"),
    Case("unnumbered_oblique_descending", (SeriesSpec("unnumbered_oblique_descending",
         orientation=oblique(-30, 8), descending=True, manufacturer=GE,
         drop=("InstanceNumber",)),), template="%s_%r"),
    _single(SeriesSpec("unnumbered_fmri", volumes=3, drop=("InstanceNumber",),
                       tweak=_fixed_sop_uid)),
    _single(SeriesSpec("unnumbered_ct_siemens", modality="CT", signed=True, intercept=-1024,
                       drop=("InstanceNumber",), tweak=_fixed_sop_uid)),
    _single(SeriesSpec("ct_two_acquisitions", modality="CT", signed=True, intercept=-1024,
                       volumes=2, tweak=_second_table_position), geometry=False),
    _single(SeriesSpec("ct_slices_sharing_times", modality="CT", signed=True,
                       intercept=-1024, tweak=_detector_rows)),
    # Siemens XA classic (interoperability) exports: slice times from TimeAfterStart only.
    _single(SeriesSpec("xa_classic_fmri", volumes=3, acquisition="interleaved",
                       tweak=_xa_classic(True))),
    _single(SeriesSpec("xa_classic_fmri_stripped", volumes=3, acquisition="interleaved",
                       tweak=_xa_classic(False))),
    _single(SeriesSpec("xa_classic_single_volume", acquisition="interleaved",
                       tweak=_xa_classic(True))),
    _single(SeriesSpec("xa_classic_series_per_volume", volumes=3, tweak=_xa_split_volumes)),
    # XA classic EPI: phase direction, echo spacing and dwell time from group 0021; every
    # XA release dcm2niix knows (XA5x-XA7x included) times slices from TimeAfterStart.
    *(_single(SeriesSpec(f"xa_classic_epi_{name}", volumes=3, orientation=orientation,
                         acquisition="interleaved", tweak=_xa_classic_epi(*how)))
      for name, orientation, how in (
          ("sagittal_col", SAGITTAL, ("COL", 1)),
          ("sagittal_row_negative", SAGITTAL, ("ROW", 0)),
          ("axial_row", AXIAL, ("ROW", 1)),
          ("coronal_col_negative_xa60", CORONAL, ("COL", 0, "syngo MR XA60")),
          ("sagittal_xa51", SAGITTAL, ("COL", 1, "syngo MR XA51")),
          ("sagittal_xa33", SAGITTAL, ("COL", 1, "syngo MR XA33")),
          ("late_in_run", AXIAL, ("COL", 1, _XA, 300.0)),
      )),

    # Sampling fields without a phase direction, any vendor.
    _single(SeriesSpec("square_matrix_canon", rows=8, columns=8,
                       manufacturer="Canon Medical Systems")),
    _single(SeriesSpec("acquisition_matrix_only", manufacturer="UIH", tweak=_acquisition_matrix)),
    _single(SeriesSpec("not_distortion_corrected_hitachi", manufacturer="Hitachi Medical",
                       orientation=oblique(20, 30), tweak=_not_distortion_corrected),
            geometry=False),
    # Siemens mosaic DWI: one file per volume, the gradient in the CSA image header (LPS);
    # sagittal planes (and any stored against row x column) keep their tile order.
    *(Case(name, (SeriesSpec(name, rows=8, columns=8, slices=5, volumes=5,
                             orientation=orientation),),
           mosaic={"csa": diffusion_csa(BVALS, BVECS), "phase": phase, **options},
           geometry=False)  # slice positions: write_mosaic's, checked by dcm2niix's affine
      for name, orientation, phase, options in (
          ("mosaic_dwi_sagittal_ap", SAGITTAL, "ROW", {"reversed_normal": True}),
          ("mosaic_dwi_sagittal_hf", SAGITTAL, "COL", {"reversed_normal": True}),
          ("mosaic_dwi_sagittal_along_normal", SAGITTAL, "ROW", {}),
          ("mosaic_dwi_axial", AXIAL, "COL", {}),
          ("mosaic_dwi_axial_head_to_foot", AXIAL, "COL", {"head_to_foot": True}),
          ("mosaic_dwi_coronal", CORONAL, "ROW", {}),
          ("mosaic_dwi_coronal_reversed", CORONAL, "COL", {"reversed_normal": True}),
          ("mosaic_dwi_oblique", oblique(15, 10), "COL", {}),
          ("mosaic_dwi_oblique_sagittal_reversed", oblique(8, 80), "ROW",
           {"reversed_normal": True, "phase_positive": 0}),
          ("mosaic_dwi_sagittal_head_to_foot", SAGITTAL, "COL",
           {"reversed_normal": True, "head_to_foot": True}),
          ("mosaic_dwi_oblique_head_to_foot_reversed", oblique(-12, 20), "ROW",
           {"reversed_normal": True, "head_to_foot": True}),
          ("mosaic_dwi_coronal_head_to_foot", CORONAL, "COL", {"head_to_foot": True}),
      )),
    # Mosaic fMRI: dcm2niix reports the second volume's slice times when their span
    # differs from the first's, the first's otherwise (even if inner times differ).
    *(Case(name, (SeriesSpec(name, rows=8, columns=8, slices=5, volumes=3),),
           mosaic={"csa": _rounded_times(first, later)}, geometry=False)
      for name, first, later in (
          ("mosaic_fmri_first_span_differs", [0.0, 800.0, 1597.5, 400.0, 1200.0],
           [0.0, 800.0, 1600.0, 402.5, 1200.0]),
          ("mosaic_fmri_first_inner_differs", [0.0, 800.0, 1600.0, 397.5, 1200.0],
           [0.0, 802.5, 1600.0, 400.0, 1197.5]),
          ("mosaic_fmri_first_wrapped", [0.0, 86399800.0, 1600.0, 400.0, 1200.0],
           [0.0, 800.0, 1600.0, 400.0, 1200.0]),
      )),
    # With a protocol, dcm2niix always names the coil mode: SENSE (1), GRAPPA (2), "None".
    *(Case(name, (SeriesSpec(name, rows=8, columns=8, slices=4, volumes=2),),
           mosaic={"protocol": protocol}, geometry=False)
      for name, protocol in (
          ("mosaic_pat_grappa", {"sPat.ucPATMode": "0x2", "sPat.lAccelFactPE": 2}),
          ("mosaic_pat_slice_acceleration", {"sPat.ucPATMode": "0x20"}),
          ("mosaic_pat_not_given", {"sKSpace.lBaseResolution": 8}),
      )),
    # Multiband as dcm2niix reports it: slices sharing the first slice time (the protocol's
    # lMultiBandFactor is not read); DiffusionScheme for diffusion series only.
    *(Case(name, (SeriesSpec(name, rows=8, columns=8, slices=6, volumes=5),),
           mosaic={"protocol": protocol, "csa": csa}, geometry=False)
      for name, protocol, csa in (
          ("mosaic_multiband_from_times", {"sSliceAcceleration.lMultiBandFactor": 3},
           _rounded_times([0.0, 600.0, 1200.0, 0.0, 600.0, 1200.0],
                          [0.0, 600.0, 1200.0, 0.0, 600.0, 1200.0])),
          ("mosaic_multiband_protocol_only", {"sSliceAcceleration.lMultiBandFactor": 3}, None),
          ("mosaic_dwi_bipolar", {"sDiffusion.dsScheme": 1}, diffusion_csa(BVALS, BVECS)),
          ("mosaic_dwi_monopolar", {"sDiffusion.dsScheme": 2}, diffusion_csa(BVALS, BVECS)),
          ("mosaic_fmri_scheme_not_reported", {"sDiffusion.dsScheme": 1}, None),
      )),
    Case("mosaic_dwi_sagittal_feet_first", (SeriesSpec("mosaic_dwi_sagittal_feet_first", rows=8,
         columns=8, slices=5, volumes=5, orientation=SAGITTAL, tweak=_feet_first),),
         mosaic={"csa": diffusion_csa(BVALS, BVECS), "reversed_normal": True}, geometry=False),
    # Siemens classic DWI in sagittal planes: stacked along row x column, no mosaic rule.
    _single(SeriesSpec("dwi_siemens_sagittal", volumes=5, orientation=SAGITTAL,
                       tweak=siemens_diffusion())),
    _single(SeriesSpec("dwi_siemens_sagittal_descending", volumes=5, orientation=SAGITTAL,
                       descending=True, tweak=siemens_diffusion())),
    # UIH grids (VFRAME): slices tiled in one image per volume, each placed by its own
    # (0065,1051) item; DTI with (0065,1009)/(0065,1037), fMRI without.
    *(Case(name, (SeriesSpec(name, rows=8, columns=8, slices=slices, volumes=volumes,
                             orientation=orientation, acquisition="interleaved"),),
           uih_grid=options, geometry=False)
      for name, orientation, slices, volumes, options in (
          ("uih_grid_dti_axial", AXIAL, 5, 5, {"bvals": BVALS, "bvecs": BVECS}),
          ("uih_grid_dti_sagittal_top_down", SAGITTAL, 5, 5,
           {"bvals": BVALS, "bvecs": BVECS, "top_down": True}),
          ("uih_grid_dti_oblique_row", oblique(15, 10), 9, 5,
           {"bvals": BVALS, "bvecs": BVECS, "phase": "ROW"}),
          ("uih_grid_fmri_coronal", CORONAL, 7, 3, {}),
          ("uih_grid_fmri_timed_items", AXIAL, 6, 3,
           {"item_times": True, "displayed_phase": "P->A"}),
      )),
    _single(SeriesSpec("fmri_uih_displayed_phase", manufacturer="UIH", volumes=2,
                       tweak=_uih_displayed_phase)),
    # Field maps: a later echo is named as one ("_e2", "_e2_ph") unless %e reports it.
    _field_map_case("fieldmap_siemens", "SIEMENS"),
    _field_map_case("fieldmap_ge", GE),
    _field_map_case("fieldmap_philips", PHILIPS),
    _field_map_case("fieldmap_echo_in_template", "SIEMENS", template="%s_%e"),
    Case("two_series", (SeriesSpec("first"), SeriesSpec("second", series_number=4,
         orientation=SAGITTAL)), template="%p_%s"),
    Case("localizer", (SeriesSpec("scout", slices=1), SeriesSpec("scout", slices=1,
         orientation=SAGITTAL, series_number=3), SeriesSpec("scout", slices=1,
         orientation=CORONAL)), one_series=True, geometry=False),
]  # fmt: skip


@pytest.fixture(scope="module")
def dcm2niix() -> str:
    """The pinned PyPI dcm2niix beside this interpreter (a test dependency only)."""
    path = Path(sys.executable).with_name("dcm2niix")
    require(path.exists(), "the pinned dcm2niix (pip install 'medbridge[test]')")
    return str(path)


def run_dcm2niix(dcm2niix: str, folder: Path, out: Path, *args: str, check: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [dcm2niix, "-b", "y", "-z", "n", "-f", "%s", *args, "-o", str(out), str(folder)],
        check=check,
        capture_output=True,
    )


def write_case(case: Case, folder: Path) -> None:
    """Every spec of the case into ``folder`` (one study; one series if ``one_series``)."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for spec in case.specs:
        if case.enhanced is not None:
            write_enhanced(spec, folder, **case.enhanced)
            continue
        if case.mosaic is not None:
            write_mosaic(spec, folder, **case.mosaic)
            continue
        if case.uih_grid is not None:
            write_uih_mosaic(spec, folder, **case.uih_grid)
            continue
        uids = (study, series if case.one_series else generate_uid(), frame)
        write(spec, folder, uids=uids)


def check_against_dicom(spec: SeriesSpec, img: nib.Nifti1Image) -> None:
    """Each slice's first transmitted voxel lands on its (0020,0032) (LPS → RAS)."""
    affine = img.affine
    rows = spec.rows
    normal = spec.normal()
    positions = sorted(
        (spec.position(k) for k in range(spec.slices)), key=lambda p: float(p @ normal)
    )
    for k, lps in enumerate(positions):
        # DICOM row 0 is stored as j = rows - 1 (rows reversed, as dcm2niix stores them).
        ras = affine @ np.array([0, rows - 1, k, 1.0])
        np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-3)


#: NIfTI header fields dcm2niix fills beyond geometry and scaling (compared byte for byte).
HEADER_FIELDS = ("descrip", "aux_file", "slice_code", "regular", "dim_info", "xyzt_units")


def header_differences(case: str, ref_dir: Path, out_dir: Path) -> dict[Any, str]:
    """Header fields of each image that differ from dcm2niix's, keyed as the TSV keys
    them: ("synthetic", case/series, "nifti_header", field)."""
    found: dict[Any, str] = {}
    for ref in sorted(ref_dir.glob("*.nii")):
        ours = out_dir / ref.name
        if not ours.exists():
            continue
        theirs, mine = nib.load(ref).header, nib.load(ours).header
        for name in HEADER_FIELDS:
            if not np.array_equal(np.asarray(theirs[name]), np.asarray(mine[name])):
                key = ("synthetic", f"{case}/{ref.stem}", "nifti_header", name)
                found[key] = f"{mine[name]!r} != {theirs[name]!r}"
    return found


def _image_kind(what: str) -> str:
    """'voxels', 'shape', 'sform'... from a compare_set image problem."""
    return "voxels" if "voxel" in what else what.split()[0]


class TestAgainstDcm2niix:
    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_same_outputs_as_dcm2niix(self, case: Case, dcm2niix: str, tmp_path: Path) -> None:
        """Names, images, geometry, scaling, bval/bvec and sidecars as dcm2niix writes them."""
        write_case(case, tmp_path / "in")
        args = ["-f", case.template, *case.flags]
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref", *args)
        manifest = write_manifest(tmp_path / "ref")
        (tmp_path / "ours").mkdir()
        try:
            convert_command.main(
                [*args, "-b", "y", "-z", "n", "-q", "-o", str(tmp_path / "ours"),
                 str(tmp_path / "in")],
                standalone_mode=False,
            )  # fmt: skip
        except SystemExit as exc:  # nothing converted (-i y): judged by the outputs below
            assert exc.code == 1, exc.code
        result = compare_set("synthetic", tmp_path / "ref", tmp_path / "ours")
        found = {
            ("synthetic", f"{case.name}/{d[1]}", d[2], d[3]): what
            for d, what in found_differences(result).items()
        }
        # Image differences where medbridge is right on purpose are listed as key "image".
        found |= {
            ("synthetic", f"{case.name}/{series}", "image", _image_kind(what)): what
            for series, what in result.image
        }
        found |= header_differences(case.name, tmp_path / "ref", tmp_path / "ours")
        assert result.images_ok + len({d[1] for d in found if d[2] == "image"}) == len(manifest)
        listed = {d: r for d, r in known_differences().items() if d[1].startswith(case.name + "/")}
        assert set(found) == set(listed), found
        if case.geometry and len(case.specs) == 1 and manifest:
            ours = nib.load(next((tmp_path / "ours").glob("*.nii")))
            check_against_dicom(case.specs[0], ours)

    @pytest.mark.parametrize(
        "spec",
        [
            SeriesSpec("gantry_tilt", modality="CT", manufacturer=GE, signed=True,
                       intercept=-1024, tilt_degrees=15),
            SeriesSpec("gantry_tilt_negative", modality="CT", manufacturer="SIEMENS",
                       signed=True, intercept=-1024, tilt_degrees=-12),
        ],
        ids=["positive", "negative"],
    )  # fmt: skip
    def test_gantry_tilt_keeps_every_voxel_where_the_scanner_put_it(
        self, spec: SeriesSpec, dcm2niix: str, tmp_path: Path
    ) -> None:
        """A tilted CT stack gets a sheared affine through the true slice positions.

        dcm2niix writes the stack with an untilted affine plus a resampled ``_Tilt_1``
        copy; medbridge keeps the stored voxels and shears the affine instead (a listed
        difference), so both are compared with the DICOM positions, and the voxels with
        dcm2niix's.
        """
        assert ("synthetic", f"{spec.name}/3", "image", "sform") in known_differences()
        write(spec, tmp_path / "in")
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        ours = nib.load(tmp_path / "ours" / "3.nii")
        ref = nib.load(tmp_path / "ref" / "3.nii")
        assert np.array_equal(np.asanyarray(ours.dataobj), np.asanyarray(ref.dataobj))
        check_against_dicom(spec, ours)
        assert json.loads((tmp_path / "ours" / "3.json").read_text())["Modality"] == "CT"

    @pytest.mark.parametrize(
        "spec",
        [
            SeriesSpec("header_col", volumes=2, tweak=_column_phase),
            SeriesSpec("header_row_3d", manufacturer=GE, tweak=chain(_row_phase, _three_d)),
            SeriesSpec("header_ct", modality="CT", signed=True, intercept=-1024),
        ],
        ids=["col_4d", "row_3d", "ct"],
    )
    def test_header_axes_and_time_step_as_dcm2niix(
        self, spec: SeriesSpec, dcm2niix: str, tmp_path: Path
    ) -> None:
        """dim_info (frequency, phase, slice axes from (0018,1312)) and pixdim[4] (the TR
        in seconds, 3D images included, 0 without a TR) as dcm2niix writes them."""
        write(spec, tmp_path / "in")
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        ref = nib.load(tmp_path / "ref" / "3.nii").header
        ours = nib.load(tmp_path / "ours" / "3.nii").header
        assert int(ours["dim_info"]) == int(ref["dim_info"])
        assert float(ours["pixdim"][4]) == pytest.approx(float(ref["pixdim"][4]))

    @pytest.mark.parametrize("software", [_XA, "syngo MR E11"], ids=["xa", "ve11"])
    def test_multiband_from_enhanced_slice_times(
        self, software: str, dcm2niix: str, tmp_path: Path
    ) -> None:
        """Enhanced files whose (0021,1104) TimeAfterStart put slices in pairs: dcm2niix
        reports MultibandAccelerationFactor 2 from them (no protocol needed), and so does
        medbridge."""
        spec = SeriesSpec("pairs", volumes=3)
        write_enhanced(spec, tmp_path / "in", software=software, per_volume=True)
        for t, path in enumerate(sorted((tmp_path / "in").iterdir())):
            ds = pydicom.dcmread(path)
            for k, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
                item = frame[0x002111FE].value[0]
                item[0x00211104].value = f"{5 + 2.0 * t + (k % 3) * 0.6:.4f}"
            ds.save_as(path)
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        theirs = json.loads((tmp_path / "ref" / "3.json").read_text())
        ours = json.loads((tmp_path / "ours" / "3.json").read_text())
        assert theirs["MultibandAccelerationFactor"] == 2
        for key in ("MultibandAccelerationFactor", "SliceTiming"):
            assert ours[key] == theirs[key], key

    @pytest.mark.parametrize("software", [_XA, "syngo MR E11"], ids=["xa", "ve11"])
    def test_time_after_start_late_in_a_run_in_single_precision(
        self, software: str, dcm2niix: str, tmp_path: Path
    ) -> None:
        """Enhanced files whose (0021,1104) TimeAfterStart count 300 s from the run's
        start: dcm2niix's single-precision arithmetic shows in the slice times (0.333313
        for 0.3333), and medbridge's times are the same."""
        spec = SeriesSpec("late", volumes=3, acquisition="interleaved")
        write_enhanced(spec, tmp_path / "in", software=software, per_volume=True)
        for path in (tmp_path / "in").iterdir():
            ds = pydicom.dcmread(path)
            for frame in ds.PerFrameFunctionalGroupsSequence:
                item = frame[0x002111FE].value[0]
                item[0x00211104].value = f"{300 + float(item[0x00211104].value):.4f}"
            ds.save_as(path)
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        theirs = json.loads((tmp_path / "ref" / "3.json").read_text())["SliceTiming"]
        ours = json.loads((tmp_path / "ours" / "3.json").read_text())["SliceTiming"]
        assert ours == theirs
        assert any(len(f"{t:g}") > 6 for t in theirs), theirs  # the precision shows

    def test_indexed_multi_frame_files_are_never_stacked(
        self, dcm2niix: str, tmp_path: Path
    ) -> None:
        """Philips volumes, one enhanced file each: dcm2niix sorts each file by its
        Dimension Index and writes it alone, so one series gives one 3D image per file
        (named apart: dcm2niix appends a, b..., medbridge _2, _3...)."""
        spec = SeriesSpec("philips_per_volume", volumes=3, manufacturer=PHILIPS)
        write_enhanced(spec, tmp_path / "in", per_volume=True)
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        ref = [nib.load(p) for p in sorted((tmp_path / "ref").glob("*.nii"))]
        ours = [nib.load(p) for p in sorted((tmp_path / "ours").glob("*.nii"))]
        assert [i.shape for i in ours] == [i.shape for i in ref] == [(10, 12, 6)] * 3
        for mine, theirs in zip(ours, ref, strict=True):
            assert np.array_equal(np.asanyarray(mine.dataobj), np.asanyarray(theirs.dataobj))
            np.testing.assert_allclose(mine.affine, theirs.affine, atol=1e-4)


class TestRefusals:
    @pytest.mark.parametrize(
        ("spec", "reason"),
        [
            (SeriesSpec("missing", skip_slices=(3,)), "1 slice\\(s\\) missing"),
            (SeriesSpec("duplicate", duplicate_slices=(2,)), "duplicate slices"),
            (SeriesSpec("uneven", gaps={4: 0.7}), "not uniform"),
        ],
        ids=["missing_slice", "duplicate_slice", "uneven_spacing"],
    )
    def test_incomplete_volume_is_refused_with_its_reason(
        self, spec: SeriesSpec, reason: str, tmp_path: Path
    ) -> None:
        """Missing, duplicate or unevenly spaced slices: nothing written, 'incomplete'."""
        write(spec, tmp_path / "in")
        report = convert_files([tmp_path / "in"], tmp_path / "out", ConvertOptions())
        assert not report.outputs
        assert [s.incomplete for s in report.skipped] == [True]
        assert report.errors == []
        assert re.search(reason, report.skipped[0].reason), report.skipped[0].reason
        assert not list((tmp_path / "out").glob("*.nii*"))

    @pytest.mark.parametrize(
        "spec",
        [
            SeriesSpec("ct_variable_spacing", modality="CT", manufacturer=GE, signed=True,
                       intercept=-1024, gaps={3: 1.2}),
            SeriesSpec("mr_variable_spacing", gaps={3: 1.2}),
        ],
        ids=["ct", "mr"],
    )  # fmt: skip
    def test_what_dcm2niix_writes_with_one_spacing_is_refused(
        self, spec: SeriesSpec, dcm2niix: str, tmp_path: Path
    ) -> None:
        """Unevenly spaced slices: dcm2niix writes them with one spacing (a listed
        difference), medbridge refuses the series as an incomplete volume."""
        assert ("synthetic", f"{spec.name}/3", "image", "refused") in known_differences()
        write(spec, tmp_path / "in")
        # dcm2niix exits 1 for the MR stack, after writing it.
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref", check=False)
        report = convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        assert (tmp_path / "ref" / "3.nii").exists()
        assert not list((tmp_path / "ours").glob("*.nii"))
        assert [s.incomplete for s in report.skipped] == [True]

    @pytest.mark.parametrize(
        "missing", ["PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient"]
    )
    def test_image_without_its_geometry_is_refused(
        self, missing: str, dcm2niix: str, tmp_path: Path
    ) -> None:
        """Without pixel spacing, orientation or position the place of the voxels is
        unknown: dcm2niix writes the series with a guessed (unit, identity or bogus)
        geometry, a listed difference; medbridge refuses it and says what is missing."""
        name = f"no_{missing}"
        assert ("synthetic", f"{name}/3", "image", "refused") in known_differences()
        write(SeriesSpec(name, drop=(missing,)), tmp_path / "in")
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref", check=False)
        assert (tmp_path / "ref" / "3.nii").exists()
        report = convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions())
        assert not report.outputs
        assert f"no {missing}" in report.skipped[0].reason

    def test_mosaic_without_csa_header_is_refused(
        self, dcm_qa: Path, dcm2niix: str, tmp_path: Path
    ) -> None:
        """A Siemens mosaic stripped of group 0029 (a de-identified export) is refused.

        Without the CSA 'SliceNormalVector' a head-first stack cannot be told from a
        foot-first one: dcm2niix assumes the latter and writes this head-first series
        upside down against the reference conversion (a listed difference).
        """
        assert ("synthetic", "mosaic_without_csa/10", "image", "refused") in known_differences()
        source = dcm_qa / "dcm_qa_mosaic" / "In" / "ep2d_Asc_HF_10"
        (tmp_path / "in").mkdir()
        for path in sorted(source.iterdir())[:2]:
            ds = pydicom.dcmread(path)
            for tag in [e.tag for e in ds if e.tag.group == 0x0029]:
                del ds[tag]
            ds.save_as(tmp_path / "in" / path.name)
        report = convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        assert not report.outputs
        assert "CSA image header" in report.skipped[0].reason
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "stripped")
        run_dcm2niix(dcm2niix, source, tmp_path / "intact")
        stripped = nib.load(tmp_path / "stripped" / "10.nii")
        intact = nib.load(tmp_path / "intact" / "10.nii")
        assert not np.allclose(stripped.affine, intact.affine, atol=1e-3)

    @pytest.mark.parametrize(
        ("damage", "reason"),
        [("items", "without its \\(0065,1051\\)"), ("count", "5 slices has 4 items"),
         ("position", "slice 2 has no \\(0020,0032\\)")],
        ids=["no_items", "item_missing", "no_position"],
    )  # fmt: skip
    def test_uih_grid_without_slice_positions_is_refused(
        self, damage: str, reason: str, tmp_path: Path
    ) -> None:
        """A UIH grid whose (0065,1051) items are gone, short or without positions has
        slices with no known place: refused with the reason, nothing written."""
        spec = SeriesSpec("grid", rows=8, columns=8, slices=5, volumes=2, manufacturer="UIH")
        for path in write_uih_mosaic(spec, tmp_path / "in"):
            ds = pydicom.dcmread(path)
            items = ds[0x00651051]
            if damage == "items":
                del ds[0x00651051]
            elif damage == "count":
                items.value = items.value[:4]
            else:
                del items.value[1].ImagePositionPatient
            ds.save_as(path)
        report = convert_files([tmp_path / "in"], tmp_path / "out", ConvertOptions())
        assert not report.outputs
        assert report.skipped and re.search(reason, report.skipped[0].reason)

    @pytest.mark.parametrize("tweak", [None, siemens_diffusion()], ids=["fmri", "dwi"])
    def test_volumes_without_instance_numbers_or_times_are_refused(
        self, tweak: Tweak | None, dcm2niix: str, tmp_path: Path
    ) -> None:
        """A 4D export stripped of (0020,0013) and (0008,0032): nothing tells which image
        at a position belongs to which volume. dcm2niix stacks them in the order of its
        stand-in numbers (CRCs of the UIDs), mixing volumes and leaving a degenerate
        affine; medbridge refuses the series, with the reason."""
        spec = SeriesSpec("unordered", volumes=3 if tweak is None else 5, tweak=tweak,
                          drop=("InstanceNumber", "AcquisitionTime"))  # fmt: skip
        write(spec, tmp_path / "in")
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref", check=False)
        theirs = nib.load(next((tmp_path / "ref").glob("*.nii")))
        assert np.linalg.matrix_rank(theirs.affine[:3, :3]) < 3
        report = convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions())
        assert not report.outputs
        assert "volume order unknown" in report.skipped[0].reason
        assert not list((tmp_path / "ours").glob("*.nii*"))

    def test_plan_raises_incomplete_volume_error(self, tmp_path: Path) -> None:
        """The volume layer raises IncompleteVolumeError (a GeometryError) for a gap."""
        from medbridge.convert._group import group_instances
        from medbridge.convert._inputs import expand_inputs, read_instances
        from medbridge.volume._stack import plan_stack

        write(SeriesSpec("gap", skip_slices=(2,)), tmp_path)
        groups, _ = group_instances(read_instances(expand_inputs([tmp_path])))
        with pytest.raises(IncompleteVolumeError, match="missing"):
            plan_stack(groups[0].frames)


class TestPythonApi:
    def test_convert_returns_volumes_without_writing(self, tmp_path: Path) -> None:
        """``convert()`` gives array + RAS affine + metadata and writes nothing."""
        spec = SeriesSpec("api", orientation=SAGITTAL)
        write(spec, tmp_path / "in")
        before = set((tmp_path / "in").iterdir())
        (volume,) = convert([tmp_path / "in"])
        assert set((tmp_path / "in").iterdir()) == before
        assert volume.shape == (spec.columns, spec.rows, spec.slices)
        assert volume.metadata["Modality"] == "MR"
        assert volume.metadata["name"]
        img = nib.Nifti1Image(volume.array, volume.affine_ras)
        check_against_dicom(spec, img)
        assert np.array_equal(volume.array[:, ::-1, 0].T, spec.pixels(0))

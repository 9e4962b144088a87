"""The converter beyond the reference sets: synthetic series against live dcm2niix.

Each case is a small series written with pydicom (``synth.py``) in a layout the dcm_qa sets
do not cover: sagittal/coronal/oblique planes, descending instance order, CT gantry tilt,
12-bit and rescaled data, de-identified exports missing optional tags, and GE,
Canon/Toshiba and Philips manufacturer strings. The pinned dcm2niix converts the same
files in the same run; voxels, datatype, scaling, sform/qform and the core sidecar keys
must agree. Every case is also checked against the DICOM geometry itself: the affine must
put each slice's first voxel at its (0020,0032) position.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from conftest import require
from convert.synth import CORONAL, SAGITTAL, SeriesSpec, oblique, write
from medbridge.convert import ConvertOptions, convert, convert_files
from medbridge.errors import IncompleteVolumeError

CORE_KEYS = (
    "Modality",
    "Manufacturer",
    "ManufacturersModelName",
    "MagneticFieldStrength",
    "SeriesDescription",
    "ProtocolName",
    "SeriesNumber",
    "AcquisitionTime",
    "AcquisitionNumber",
    "SliceThickness",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
    "ScanningSequence",
    "SequenceVariant",
    "PulseSequenceType",
    "SpoilingState",
    "ImageType",
    "SliceTiming",
    "ImageOrientationPatientDICOM",
)
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

CASES = [
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


@pytest.fixture(scope="module")
def dcm2niix() -> str:
    """The pinned PyPI dcm2niix beside this interpreter (a test dependency only)."""
    path = Path(sys.executable).with_name("dcm2niix")
    require(path.exists(), "the pinned dcm2niix (pip install 'medbridge[test]')")
    return str(path)


def run_dcm2niix(dcm2niix: str, folder: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [dcm2niix, "-b", "y", "-z", "n", "-f", "%s", "-o", str(out), str(folder)],
        check=True,
        capture_output=True,
    )


def _scaling(img: nib.Nifti1Image) -> tuple[float, float]:
    slope, inter = img.dataobj.slope, img.dataobj.inter
    return (1.0 if slope is None else float(slope), 0.0 if inter is None else float(inter))


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


class TestAgainstDcm2niix:
    @pytest.mark.parametrize("spec", CASES, ids=[c.name for c in CASES])
    def test_same_image_geometry_and_core_keys(
        self, spec: SeriesSpec, dcm2niix: str, tmp_path: Path
    ) -> None:
        """Voxels, datatype, scaling, sform/qform and core sidecar keys equal dcm2niix's."""
        write(spec, tmp_path / "in")
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        report = convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        assert not report.skipped, report.skipped
        ref_path = tmp_path / "ref" / f"{spec.series_number}.nii"
        ours_path = tmp_path / "ours" / f"{spec.series_number}.nii"
        ref, ours = nib.load(ref_path), nib.load(ours_path)
        a = np.asanyarray(ref.dataobj.get_unscaled())
        b = np.asanyarray(ours.dataobj.get_unscaled())
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
        assert np.array_equal(a, b)
        assert _scaling(ref) == pytest.approx(_scaling(ours))
        np.testing.assert_allclose(ours.get_sform(), ref.get_sform(), atol=1e-4)
        np.testing.assert_allclose(ours.get_qform(), ref.get_qform(), atol=1e-4)
        check_against_dicom(spec, ours)
        ref_car = json.loads(ref_path.with_suffix(".json").read_text())
        our_car = json.loads(ours_path.with_suffix(".json").read_text())
        for key in CORE_KEYS:
            assert our_car.get(key) == ref_car.get(key), key

    def test_gantry_tilt_keeps_every_voxel_where_the_scanner_put_it(
        self, dcm2niix: str, tmp_path: Path
    ) -> None:
        """A tilted CT stack gets a sheared affine through the true slice positions.

        dcm2niix writes the stack with an untilted affine plus a resampled ``_Tilt_1``
        copy; medbridge keeps the stored voxels and shears the affine instead, so both
        are compared with the DICOM positions, and the voxels with dcm2niix's.
        """
        spec = SeriesSpec("tilt", modality="CT", manufacturer="GE MEDICAL SYSTEMS",
                          signed=True, intercept=-1024, tilt_degrees=15)  # fmt: skip
        write(spec, tmp_path / "in")
        run_dcm2niix(dcm2niix, tmp_path / "in", tmp_path / "ref")
        convert_files([tmp_path / "in"], tmp_path / "ours", ConvertOptions(template="%s"))
        ours = nib.load(tmp_path / "ours" / "3.nii")
        ref = nib.load(tmp_path / "ref" / "3.nii")
        assert np.array_equal(np.asanyarray(ours.dataobj), np.asanyarray(ref.dataobj))
        check_against_dicom(spec, ours)
        assert json.loads((tmp_path / "ours" / "3.json").read_text())["Modality"] == "CT"


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

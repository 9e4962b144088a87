"""A volume written back as a DICOM series converts back to itself, and is valid DICOM.

Judges: medbridge's own DICOM converter, dcm2niix (the reference), DCMTK's dcmdump and
dicom3tools' dciodvfy. A DICOM series is a set of positioned slices, and dcm2niix
orders them by its own rules (e.g. sagittal slices may come back in the other order),
so voxels and affines are compared after bringing both volumes to the closest RAS+
voxel order, which only permutes and flips axes, so voxels are still compared exactly.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from conftest import REPO, dcm_qa_root, require, require_tool
from formats.cases import CASES, Case, real_values
from medbridge import formats
from medbridge.convert import convert
from medbridge.errors import FormatError, GeometryError
from medbridge.formats.to_dicom import SOP_CLASSES, write_series
from medbridge.volume import Volume
from medbridge.volume._geometry import affine_ras_row_flipped, slice_geometry

#: Tolerance of the dcm_qa judge for affines that passed through DICOM's decimal strings.
AFFINE_TOLERANCE = 1e-4
SCALAR_CASES = [pytest.param(case, id=case.name) for case in CASES if case.derive != "rgb"]


def _scalar(volume: Volume) -> Volume:
    """Vector cases become a float32 volume (their first component): float data to rescale."""
    if volume.array.ndim == 5:
        return Volume(np.ascontiguousarray(volume.array[:, :, :, 0, 0]), volume.affine_ras)
    return volume


def _canonical(values: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = nib.as_closest_canonical(nib.Nifti1Image(values, affine))
    return np.asanyarray(image.dataobj), image.affine


def _tolerance(folder: Path, source: Volume) -> float:
    """Half a rescale step for float data (quantised to uint16), plus float32 rounding.

    Integer voxels keep their stored values and scaling, so only rounding remains.
    NIfTI stores scl_slope/scl_inter as float32, so a reader that keeps the DICOM
    rescale in the header (dcm2niix) reproduces real values to float32 precision.
    """
    ds = pydicom.dcmread(sorted(folder.iterdir())[0], stop_before_pixels=True)
    slope = float(getattr(ds, "RescaleSlope", 1.0))
    intercept = float(getattr(ds, "RescaleIntercept", 0.0))
    if slope == 1.0 and intercept == 0.0:
        return 0.0
    largest = abs(intercept) + 65535 * abs(slope)
    step = slope * 0.5 if source.array.dtype.kind == "f" else 0.0
    return step + 4 * float(np.finfo(np.float32).eps) * largest


def assert_same_in_space(
    values: np.ndarray, affine: np.ndarray, source: Volume, *, atol: float
) -> None:
    """Voxels (within ``atol``) and affine (within 1e-4) agree once both are RAS-ordered."""
    want, want_affine = _canonical(real_values(source).astype(np.float64), source.affine_ras)
    got, got_affine = _canonical(np.asarray(values, dtype=np.float64), affine)
    assert got.shape == want.shape
    np.testing.assert_allclose(got_affine, want_affine, atol=AFFINE_TOLERANCE)
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-9)


def dciodvfy_errors(files: list[Path]) -> dict[str, list[str]]:
    """File name → the "Error" lines dicom3tools' dciodvfy prints for it (stderr)."""
    tool = require_tool("dciodvfy")
    found = {}
    for path in files:
        run = subprocess.run([tool, str(path)], capture_output=True, text=True, check=False)
        errors = [line for line in run.stderr.splitlines() if line.startswith("Error")]
        if errors:
            found[path.name] = errors
    return found


@pytest.fixture(scope="session")
def dcm2niix() -> Path:
    """The pinned PyPI dcm2niix in the project's virtual environment."""
    path = REPO / ".venv" / "bin" / "dcm2niix"
    require(path.is_file(), "dcm2niix from PyPI in .venv")
    return path


@pytest.fixture(scope="session")
def dicom_series(
    sources: dict[str, Volume], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Case name → a DICOM series written from it, joined to its source series (--like)."""
    folder = tmp_path_factory.mktemp("series")
    root = dcm_qa_root()
    out = {}
    for case in CASES:
        if case.derive == "rgb":
            continue
        target = folder / case.name
        write_series(_scalar(sources[case.name]), target, like=root / case.series)
        out[case.name] = target
    return out


class TestSliceGeometry:
    """Plane geometry for writing is the exact inverse of the converter's reading."""

    @pytest.mark.parametrize("case", SCALAR_CASES)
    def test_inverse_of_affine_ras_row_flipped(
        self, case: Case, sources: dict[str, Volume]
    ) -> None:
        """IOP, IPP, spacing and slice step rebuild the affine the converter would make."""
        volume = sources[case.name]
        _nx, ny, nz = volume.array.shape[:3]
        orientation, spacing, _thickness, positions = slice_geometry(volume.affine_ras, ny, nz)
        step = np.subtract(positions[1], positions[0])
        rebuilt = affine_ras_row_flipped(orientation, positions[0], spacing, step, ny)
        np.testing.assert_allclose(rebuilt, volume.affine_ras, atol=1e-9)


class TestBackToVolume:
    """The series converts back to the source volume."""

    @pytest.mark.parametrize("case", SCALAR_CASES)
    def test_medbridge_convert(
        self, case: Case, dicom_series: dict[str, Path], sources: dict[str, Volume]
    ) -> None:
        """``medbridge.convert`` gives one volume: same voxels, same affine."""
        folder = dicom_series[case.name]
        volumes = convert([folder])
        assert len(volumes) == 1
        back = volumes[0]
        values = real_values(back)
        source = _scalar(sources[case.name])
        assert_same_in_space(values, back.affine_ras, source, atol=_tolerance(folder, source))

    @pytest.mark.parametrize("case", SCALAR_CASES)
    def test_dcm2niix(
        self,
        case: Case,
        dicom_series: dict[str, Path],
        sources: dict[str, Volume],
        tmp_path: Path,
        dcm2niix: Path,
    ) -> None:
        """dcm2niix gives one NIfTI: same voxels, same affine."""
        folder = dicom_series[case.name]
        run = subprocess.run(
            [str(dcm2niix), "-o", str(tmp_path), "-f", "out", "-z", "n", "-b", "n", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        outputs = sorted(tmp_path.glob("*.nii"))
        assert [p.name for p in outputs] == ["out.nii"], run.stdout
        image = nib.load(outputs[0])
        source = _scalar(sources[case.name])
        tolerance = _tolerance(folder, source)
        assert_same_in_space(image.get_fdata(), image.affine, source, atol=tolerance)


class TestValidDicom:
    """DCMTK and dicom3tools accept every file."""

    @pytest.mark.parametrize("case", SCALAR_CASES)
    def test_dcmdump_reads_every_file(self, case: Case, dicom_series: dict[str, Path]) -> None:
        """dcmdump exits 0 with no error lines for each instance."""
        files = sorted(str(p) for p in dicom_series[case.name].iterdir())
        run = subprocess.run(
            [require_tool("dcmdump"), "-q", *files], capture_output=True, text=True, check=False
        )
        assert run.returncode == 0, run.stderr
        assert "E:" not in run.stderr

    @pytest.mark.parametrize("case", SCALAR_CASES)
    def test_dciodvfy_reports_no_errors(self, case: Case, dicom_series: dict[str, Path]) -> None:
        """dciodvfy finds no IOD errors in any instance (warnings allowed)."""
        assert dciodvfy_errors(sorted(dicom_series[case.name].iterdir())) == {}


class TestIdentity:
    """--like files the series under the source's patient and study; UIDs are new."""

    def test_patient_and_study_copied(self, dicom_series: dict[str, Path]) -> None:
        """Patient and study from the source; new series and instance UIDs; same frame."""
        case = next(c for c in CASES if c.name == "coronal_oblique_4d")
        source_files = sorted((dcm_qa_root() / case.series).rglob("*"))
        source = pydicom.dcmread(next(p for p in source_files if p.is_file()))
        written = [pydicom.dcmread(p) for p in sorted(dicom_series[case.name].iterdir())]
        for ds in written:
            for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID"):
                assert ds[keyword].value == source[keyword].value, keyword
            assert ds.FrameOfReferenceUID == source.FrameOfReferenceUID
            assert ds.SeriesInstanceUID != source.SeriesInstanceUID
            assert ds.SOPClassUID == SOP_CLASSES["MR"]
        assert len({ds.SeriesInstanceUID for ds in written}) == 1
        assert len({ds.SOPInstanceUID for ds in written}) == len(written)
        assert {int(ds.TemporalPositionIdentifier) for ds in written} == {1, 2}

    def test_without_like_everything_is_new(
        self, sources: dict[str, Volume], tmp_path: Path
    ) -> None:
        """No source: new study and frame of reference, MR by default, empty patient."""
        files = write_series(sources["axial_oblique_3d"], tmp_path / "s")
        first = pydicom.dcmread(files[0])
        assert first.PatientID == ""
        assert first.StudyInstanceUID.startswith(pydicom.uid.PYDICOM_ROOT_UID)
        assert first.Modality == "MR"

    def test_ct_modality(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """modality="CT" writes CT Image Storage with the rescale CT requires."""
        files = write_series(sources["axial_uint16"], tmp_path / "ct", modality="CT")
        first = pydicom.dcmread(files[0])
        assert first.SOPClassUID == SOP_CLASSES["CT"]
        assert first.RescaleSlope == 1
        assert dciodvfy_errors(files) == {}


class TestOtherKinds:
    """Label maps and Secondary Capture, the usual shapes of research results."""

    def test_float_labels_stored_exactly(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A 0/1 mask saved as float32 is stored as integers, without rescaling."""
        source = sources["coronal_oblique_4d"]
        mask = Volume((source.array[..., 0] > 300).astype(np.float32), source.affine_ras)
        files = write_series(mask, tmp_path / "seg")
        first = pydicom.dcmread(files[0])
        assert "RescaleSlope" not in first
        back = convert([tmp_path / "seg"])[0]
        assert_same_in_space(real_values(back), back.affine_ras, mask, atol=0.0)

    def test_secondary_capture(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """Another modality gives Secondary Capture: valid, and its geometry reads back."""
        source = sources["sagittal_4d"]
        volume = Volume(np.ascontiguousarray(source.array[..., 0]), source.affine_ras)
        files = write_series(volume, tmp_path / "sc", modality="OT")
        first = pydicom.dcmread(files[0])
        assert first.SOPClassUID == SOP_CLASSES["OT"]
        assert dciodvfy_errors(files) == {}
        back = convert([tmp_path / "sc"])
        assert len(back) == 1
        assert_same_in_space(real_values(back[0]), back[0].affine_ras, volume, atol=0.0)

    def test_rgb_secondary_capture(
        self, sources: dict[str, Volume], tmp_path: Path, dcm2niix: Path
    ) -> None:
        """RGB becomes Secondary Capture RGB; dcm2niix gives back the same RGB NIfTI."""
        source = sources["coronal_rgb"]
        files = write_series(source, tmp_path / "rgb", modality="MR")
        first = pydicom.dcmread(files[0])
        assert first.SOPClassUID == SOP_CLASSES["OT"]
        assert first.PhotometricInterpretation == "RGB"
        assert dciodvfy_errors(files) == {}
        out = tmp_path / "nii"
        out.mkdir()
        subprocess.run(
            [str(dcm2niix), "-o", str(out), "-f", "rgb", "-b", "n", str(tmp_path / "rgb")],
            capture_output=True,
            check=True,
        )
        back = formats.read(out / "rgb.nii")
        assert np.array_equal(back.array, source.array)
        np.testing.assert_allclose(back.affine_ras, source.affine_ras, atol=AFFINE_TOLERANCE)


class TestRefusals:
    """What DICOM export cannot do gets a clear error and writes nothing."""

    def test_vector_refused(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """Vector components (not 8-bit RGB) are refused, naming the way out."""
        with pytest.raises(FormatError, match=r"3 float32 components.*one component per series"):
            write_series(sources["sagittal_vector"], tmp_path / "vec")
        assert not (tmp_path / "vec").exists()

    def test_non_empty_folder_refused(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A folder that already holds files is refused, so series never mix."""
        (tmp_path / "other.dcm").write_bytes(b"x")
        with pytest.raises(FormatError, match="new or empty"):
            write_series(sources["axial_oblique_3d"], tmp_path)

    def test_sheared_affine_refused(self, sources: dict[str, Volume], tmp_path: Path) -> None:
        """A sheared grid cannot be stated with classic DICOM slices."""
        source = sources["axial_oblique_3d"]
        sheared = source.affine_ras.copy()
        sheared[0, 2] += 1.0
        with pytest.raises(GeometryError, match="sheared"):
            write_series(Volume(source.array, sheared), tmp_path / "s")
        assert list(tmp_path.iterdir()) == []

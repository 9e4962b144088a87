"""``medbridge convert`` on volume files, as a user runs it: ``python -m medbridge``."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import dcm_qa_root
from formats.cases import WRITABLE, assert_same_geometry, assert_same_voxels
from medbridge import formats
from medbridge.exitcodes import ExitCode
from medbridge.formats.analyze import AnalyzeOrientationWarning
from medbridge.volume import Volume


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medbridge", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


class TestFileToFile:
    """One volume file in, one out, format from the names."""

    def test_nifti_to_nrrd_to_metaimage(
        self, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """Each step exits 0, prints what it wrote, and keeps voxels and affine."""
        source = source_files["coronal_oblique_4d"]
        nrrd = tmp_path / "vol.nrrd"
        mha = tmp_path / "vol.mha"
        first = _run(source, "-o", nrrd)
        assert first.returncode == ExitCode.OK, first.stderr
        assert f"-> {nrrd}" in first.stdout
        second = _run(nrrd, "-o", mha)
        assert second.returncode == ExitCode.OK, second.stderr
        want, got = formats.read(source), formats.read(mha)
        assert np.array_equal(got.array, want.array)
        np.testing.assert_allclose(got.affine_ras, want.affine_ras, atol=1e-5)

    @pytest.mark.parametrize("ext", WRITABLE)
    def test_every_output_format(
        self, ext: str, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """The format follows -o's extension; the file holds the source's voxels and grid."""
        source = source_files["sagittal_4d"]
        target = tmp_path / f"vol{ext}"
        proc = _run(source, "-o", target)
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert f"-> {target}" in proc.stdout
        assert ("left-right" in proc.stderr) == (ext == ".hdr")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AnalyzeOrientationWarning)
            got = formats.read(target)
        assert_same_voxels(got, formats.read(source))
        assert_same_geometry(got, formats.read(source), analyze=ext == ".hdr")

    def test_overwrites_existing_output(
        self, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """An existing output file is replaced, not refused as "not a folder"."""
        target = tmp_path / "vol.mgz"
        target.write_bytes(b"old")
        proc = _run(source_files["axial_oblique_3d"], "-o", target)
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert formats.read(target).array.shape == (64, 64, 35)

    def test_format_option_overrides_extension(
        self, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """--format nrrd writes NRRD whatever -o is called."""
        target = tmp_path / "volume.dat"
        proc = _run(source_files["axial_oblique_3d"], "-o", target, "--format", "nrrd")
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert target.read_bytes().startswith(b"NRRD0")

    @pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".mgz", ".mgh", ".nrrd", ".mha"])
    def test_input_format_reads_any_name(
        self, ext: str, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """--input-format reads a file whose name says nothing about its format."""
        source = formats.read(source_files["coronal_oblique_4d"])
        named = tmp_path / f"named{ext}"
        formats.write(source, named)
        unnamed = tmp_path / "upload.bin"
        named.rename(unnamed)
        label = formats.format_for(named).__name__.rsplit(".", 1)[-1]
        proc = _run(unnamed, "--input-format", label, "-o", tmp_path / "out.nrrd")
        assert proc.returncode == ExitCode.OK, proc.stderr
        back = formats.read(tmp_path / "out.nrrd")
        assert np.array_equal(back.array, source.array)
        np.testing.assert_allclose(back.affine_ras, source.affine_ras, atol=1e-5)

    def test_folder_output_names_files_by_stem(
        self, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """Several inputs into a folder: each keeps its stem, with the chosen format."""
        inputs = [source_files["axial_oblique_3d"], source_files["sagittal_4d"]]
        proc = _run(*inputs, "-o", tmp_path, "--output-format", "mha")
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "axial_oblique_3d.mha",
            "sagittal_4d.mha",
        ]

    def test_analyze_warns_on_stderr(self, source_files: dict[str, Path], tmp_path: Path) -> None:
        """Writing Analyze succeeds and states the left-right ambiguity."""
        proc = _run(source_files["axial_oblique_3d"], "-o", tmp_path / "vol.hdr")
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert "left-right" in proc.stderr
        assert (tmp_path / "vol.img").is_file()


class TestErrors:
    """Bad input: one line naming the file, non-zero exit, nothing half-written."""

    def test_corrupt_input(self, source_files: dict[str, Path], tmp_path: Path) -> None:
        """A truncated NRRD: exit 1 with the file and reason on stderr."""
        bad = tmp_path / "bad.nrrd"
        formats.write(formats.read(source_files["axial_oblique_3d"]), bad)
        bad.write_bytes(bad.read_bytes()[:200])
        proc = _run(bad, "-o", tmp_path / "out.nii.gz")
        assert proc.returncode == ExitCode.ERROR
        assert f"error: {bad}:" in proc.stderr
        assert not (tmp_path / "out.nii.gz").exists()

    def test_one_bad_among_good(self, source_files: dict[str, Path], tmp_path: Path) -> None:
        """A bad file among good ones is reported and skipped; the others are written."""
        bad = tmp_path / "bad.mha"
        bad.write_bytes(b"ObjectType = Image\nNDims = 3\n")
        out = tmp_path / "out"
        proc = _run(source_files["axial_oblique_3d"], bad, "-o", out, "--format", "nrrd")
        assert proc.returncode == ExitCode.PARTIAL
        assert "ElementDataFile" in proc.stderr
        assert [p.name for p in out.iterdir()] == ["axial_oblique_3d.nrrd"]

    def test_format_cannot_hold_volume(self, source_files: dict[str, Path], tmp_path: Path) -> None:
        """RGB into MGH: refused with the reason and the formats that can hold it."""
        proc = _run(source_files["coronal_rgb"], "-o", tmp_path / "rgb.mgz")
        assert proc.returncode == ExitCode.ERROR
        assert "components per voxel" in proc.stderr
        assert list(tmp_path.iterdir()) == []


class TestToDicom:
    """--to-dicom and --like."""

    def test_series_joins_source_study(self, source_files: dict[str, Path], tmp_path: Path) -> None:
        """The series files under the --like series' study and reads back with convert."""
        like = dcm_qa_root() / "dcm_qa" / "In" / "Orientation" / "sag" / "sagdesc36"
        out = tmp_path / "series"
        proc = _run(source_files["sagittal_4d"], "--to-dicom", "-o", out, "--like", like)
        assert proc.returncode == ExitCode.OK, proc.stderr
        files = sorted(out.iterdir())
        assert len(files) == 72
        source = pydicom.dcmread(next(p for p in sorted(like.iterdir()) if p.is_file()))
        written = pydicom.dcmread(files[0])
        assert written.StudyInstanceUID == source.StudyInstanceUID
        assert written.PatientID == source.PatientID
        back = _run(out, "-o", tmp_path, "-f", "back", "-q")
        assert back.returncode == ExitCode.OK, back.stderr
        volume: Volume = formats.read(tmp_path / "back.nii")
        assert volume.array.shape == (64, 64, 36, 2)

    def test_sidecar_fills_acquisition_fields(
        self, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """A BIDS sidecar beside the NIfTI gives TR, TE and modality; the stem names the series."""
        image = tmp_path / "tumour_mask.nii.gz"
        image.write_bytes(source_files["axial_oblique_3d"].read_bytes())
        sidecar = {"RepetitionTime": 2.5, "EchoTime": 0.03, "Modality": "MR"}
        image.with_name("tumour_mask.json").write_text(json.dumps(sidecar))
        proc = _run(image, "--to-dicom", "-o", tmp_path / "series")
        assert proc.returncode == ExitCode.OK, proc.stderr
        first = pydicom.dcmread(sorted((tmp_path / "series").iterdir())[0])
        assert float(first.RepetitionTime) == 2500.0
        assert float(first.EchoTime) == 30.0
        assert first.SeriesDescription == "tumour_mask"

    def test_like_without_to_dicom_is_a_usage_error(
        self, source_files: dict[str, Path], tmp_path: Path
    ) -> None:
        """--like only makes sense with --to-dicom."""
        like = dcm_qa_root() / "dcm_qa_12bit" / "In"
        proc = _run(source_files["axial_oblique_3d"], "-o", tmp_path / "x.nrrd", "--like", like)
        assert proc.returncode == ExitCode.USAGE
        assert "--like needs --to-dicom" in proc.stderr

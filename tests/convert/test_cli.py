"""``medbridge convert`` as a user runs it: a separate process, real files, exit status.

Inputs are small series written by ``synth.py``; where dcm2niix defines the behaviour
(``-f`` names, ``-z``, ``-b``, ``-i``) the pinned dcm2niix runs on the same files.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from conftest import require
from convert.synth import SeriesSpec, write
from medbridge.exitcodes import ExitCode

IDENTIFYING = ("Doe^Jane", "PID12345", "19700101")


def medbridge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m medbridge convert ARGS`` and capture its output."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "medbridge", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def dcm2niix(*args: str | Path) -> None:
    path = Path(sys.executable).with_name("dcm2niix")
    require(path.exists(), "the pinned dcm2niix (pip install 'medbridge[test]')")
    Path(args[list(args).index("-o") + 1]).mkdir(parents=True, exist_ok=True)
    subprocess.run([str(path), *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def series(tmp_path: Path) -> Path:
    """One plain 6-slice MR series in ``tmp_path/in``."""
    write(SeriesSpec("t1 axial"), tmp_path / "in")
    return tmp_path / "in"


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


class TestOptions:
    @pytest.mark.parametrize(
        "template", ["%p_%s", "%v_%m_%s_%d", "%f_%t_%s", "%i_%n_%s", "%s_%e_%z_%u", "%x%p%%"]
    )
    def test_template_names_like_dcm2niix(self, template: str, series: Path, tmp_path: Path):
        """``-f`` tokens render to the names dcm2niix gives the same files."""
        dcm2niix("-b", "y", "-z", "n", "-f", template, "-o", tmp_path / "ref", series)
        result = medbridge("-f", template, "-o", tmp_path / "ours", series)
        assert result.returncode == ExitCode.OK, result.stderr
        assert names(tmp_path / "ours") == names(tmp_path / "ref")

    def test_compress_yes_writes_gzip_with_the_same_voxels(self, series: Path, tmp_path: Path):
        """``-z y`` writes .nii.gz (gzip stream) holding what ``-z n`` writes."""
        assert medbridge("-z", "y", "-f", "%s", "-o", tmp_path / "gz", series).returncode == 0
        assert medbridge("-z", "n", "-f", "%s", "-o", tmp_path / "raw", series).returncode == 0
        assert names(tmp_path / "gz") == {"3.nii.gz", "3.json"}
        with gzip.open(tmp_path / "gz" / "3.nii.gz") as fh:
            assert len(fh.read()) == (tmp_path / "raw" / "3.nii").stat().st_size
        a = np.asanyarray(nib.load(tmp_path / "gz" / "3.nii.gz").dataobj)
        b = np.asanyarray(nib.load(tmp_path / "raw" / "3.nii").dataobj)
        assert np.array_equal(a, b)

    @pytest.mark.parametrize(
        ("bids", "expected"),
        [("y", {"3.nii", "3.json"}), ("n", {"3.nii"}), ("o", {"3.json"})],
    )
    def test_bids_option_chooses_image_and_sidecar(
        self, bids: str, expected: set[str], series: Path, tmp_path: Path
    ):
        """``-b y`` image and sidecar, ``-b n`` image only, ``-b o`` sidecar only."""
        result = medbridge("-b", bids, "-f", "%s", "-o", tmp_path / "out", series)
        assert result.returncode == ExitCode.OK, result.stderr
        assert names(tmp_path / "out") == expected

    def test_ignore_derived_skips_derived_and_2d(self, tmp_path: Path):
        """``-i y`` leaves out derived images and single-slice images, as dcm2niix does."""
        write(SeriesSpec("keep", series_number=2), tmp_path / "in" / "a")
        derived = ("DERIVED", "SECONDARY", "MPR")
        write(SeriesSpec("derived", series_number=3, image_type=derived), tmp_path / "in" / "b")
        write(SeriesSpec("single", series_number=4, slices=1), tmp_path / "in" / "c")
        dcm2niix("-i", "y", "-f", "%s", "-o", tmp_path / "ref", tmp_path / "in")
        result = medbridge("-i", "y", "-f", "%s", "-o", tmp_path / "ours", tmp_path / "in")
        assert result.returncode == ExitCode.OK, result.stderr
        assert names(tmp_path / "ours") == {"2.nii", "2.json"} == names(tmp_path / "ref")
        everything = medbridge("-f", "%s", "-o", tmp_path / "all", tmp_path / "in")
        assert names(tmp_path / "all") >= {"2.nii", "3.nii", "4.nii"}, everything.stderr


class TestSidecarPrivacy:
    def test_anonymized_by_default(self, series: Path, tmp_path: Path):
        """No patient name, ID or birth date in the JSON unless asked for."""
        assert medbridge("-f", "%s", "-o", tmp_path / "out", series).returncode == 0
        text = (tmp_path / "out" / "3.json").read_text()
        for value in IDENTIFYING:
            assert value not in text
        assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(json.loads(text))

    def test_identity_kept_when_asked(self, series: Path, tmp_path: Path):
        """``--anonymize-sidecar n`` keeps the patient fields (dcm2niix ``-ba n``)."""
        result = medbridge("--anonymize-sidecar", "n", "-f", "%s", "-o", tmp_path / "out", series)
        assert result.returncode == 0, result.stderr
        car = json.loads((tmp_path / "out" / "3.json").read_text())
        assert car["PatientName"] == "Doe^Jane"
        assert car["PatientID"] == "PID12345"

    def test_provenance_names_each_fields_source(self, series: Path, tmp_path: Path):
        """``--provenance`` adds, per field, the DICOM element or rule it came from."""
        result = medbridge("--provenance", "-f", "%s", "-o", tmp_path / "out", series)
        assert result.returncode == 0, result.stderr
        car = json.loads((tmp_path / "out" / "3.json").read_text())
        sources = car["Provenance"]
        assert sources["Modality"] == "(0008,0060)"
        assert sources["RepetitionTime"].startswith("(0018,0080)")
        listed = set(car) - {"Provenance", "ConversionSoftware", "ConversionSoftwareVersion"}
        assert listed <= set(sources)


class TestInputs:
    def test_file_list(self, series: Path, tmp_path: Path):
        """A .txt naming one file per line converts those files."""
        listing = tmp_path / "files.txt"
        listing.write_text("\n".join(str(p) for p in sorted(series.iterdir())) + "\n")
        result = medbridge("-f", "%s", "-o", tmp_path / "out", listing)
        assert result.returncode == 0, result.stderr
        assert nib.load(tmp_path / "out" / "3.nii").shape == (10, 12, 6)

    @pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
    def test_archives(self, kind: str, series: Path, tmp_path: Path):
        """.zip and .tar(.gz) inputs are unpacked and converted."""
        archive = tmp_path / f"series.{kind}"
        if kind == "zip":
            with zipfile.ZipFile(archive, "w") as zf:
                for p in series.iterdir():
                    zf.write(p, f"dicom/{p.name}")
        else:
            with tarfile.open(archive, "w:gz" if kind.endswith("gz") else "w") as tf:
                tf.add(series, arcname="dicom")
        result = medbridge("-f", "%s", "-o", tmp_path / "out", archive)
        assert result.returncode == 0, result.stderr
        assert nib.load(tmp_path / "out" / "3.nii").shape == (10, 12, 6)

    def test_nifti2_when_a_dimension_exceeds_nifti1(self, tmp_path: Path):
        """A dimension over 32767 is written as NIfTI-2 (540-byte header), not truncated."""
        write(SeriesSpec("wide", rows=2, columns=33000, slices=2), tmp_path / "in")
        result = medbridge("-f", "%s", "-o", tmp_path / "out", tmp_path / "in")
        assert result.returncode == 0, result.stderr
        img = nib.load(tmp_path / "out" / "3.nii")
        assert isinstance(img, nib.Nifti2Image)
        assert img.shape == (33000, 2, 2)
        with open(tmp_path / "out" / "3.nii", "rb") as fh:
            assert int.from_bytes(fh.read(4), "little") == 540

    def test_collisions_beyond_26_get_numbered_names(self, tmp_path: Path):
        """30 series with one name become name, name_2 ... name_30 (no a–z limit)."""
        for n in range(1, 31):
            write(SeriesSpec("same", series_number=n, slices=2), tmp_path / "in" / f"s{n}")
        result = medbridge("-f", "same", "-q", "-o", tmp_path / "out", tmp_path / "in")
        assert result.returncode == 0, result.stderr
        expected = {"same.nii"} | {f"same_{n}.nii" for n in range(2, 31)}
        assert {p.name for p in (tmp_path / "out").glob("*.nii")} == expected


class TestReportAndExitStatus:
    def test_summary_table_lists_what_was_written(self, series: Path, tmp_path: Path):
        """The closing table names each output with its shape."""
        result = medbridge("-f", "%p_%s", "-o", tmp_path / "out", series)
        assert result.returncode == ExitCode.OK
        assert "1 written\n" in result.stderr  # no "0 skipped": only what happened
        assert "t1_axial_3" in result.stderr and "10×12×6" in result.stderr

    def test_incomplete_volume_exit_status(self, tmp_path: Path):
        """A missing slice: the good series is written, exit 4, 'incomplete volume' shown."""
        write(SeriesSpec("good", series_number=1), tmp_path / "in" / "a")
        write(SeriesSpec("gap", series_number=2, skip_slices=(2,)), tmp_path / "in" / "b")
        result = medbridge("-f", "%s", "-o", tmp_path / "out", tmp_path / "in")
        assert result.returncode == ExitCode.INCOMPLETE == 4
        assert "incomplete volume" in result.stderr
        assert names(tmp_path / "out") == {"1.nii", "1.json"}

    def test_refused_series_beside_good_ones_is_partial(self, tmp_path: Path):
        """A series with impossible geometry is refused (exit 3), never written."""
        write(SeriesSpec("good", series_number=1), tmp_path / "in" / "a")
        bad = (1.0, 0.0, 0.0, 0.6, 0.8, 0.0)  # unit cosines, not orthogonal
        write(SeriesSpec("bad", series_number=2, orientation=bad), tmp_path / "in" / "b")
        result = medbridge("-f", "%s", "-o", tmp_path / "out", tmp_path / "in")
        assert result.returncode == ExitCode.PARTIAL, result.stderr
        assert "error" in result.stderr and "orthogonal" in result.stderr
        assert names(tmp_path / "out") == {"1.nii", "1.json"}

    def test_no_dicom_is_an_error(self, tmp_path: Path):
        """A folder without DICOM converts nothing: exit 1."""
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "notes.txt").write_text("not an image\n")
        result = medbridge("-o", tmp_path / "out", tmp_path / "in")
        assert result.returncode == ExitCode.ERROR

    def test_usage_error(self, tmp_path: Path):
        """A bad option value is click's usage error (exit 2)."""
        result = medbridge("-z", "maybe", tmp_path)
        assert result.returncode == ExitCode.USAGE

    def test_series_without_geometry_is_refused_in_one_row(self, tmp_path: Path):
        """No (0028,0030) 'Pixel Spacing': refused with the reason, one row, nothing written."""
        write(SeriesSpec("nogeo", drop=("PixelSpacing",)), tmp_path / "in")
        result = medbridge("-o", tmp_path / "out", tmp_path / "in")
        assert result.returncode == ExitCode.ERROR
        assert "0 written, 1 not converted" in result.stderr
        assert "6 files in" in result.stderr and "PixelSpacing" in result.stderr
        assert not list((tmp_path / "out").glob("*.nii*"))


def _fractional_time(ds, _k: int, _t: int) -> None:
    ds.StudyDate = "20240102"
    ds.StudyTime = "105619.609"


def _almost_a_minute(ds, _k: int, _t: int) -> None:
    ds.StudyDate = "20240102"
    ds.StudyTime = "101559.7"


class TestEverydayDefaults:
    """Issue 15: the default names, a second run, and what the summary says."""

    @pytest.mark.parametrize("given", ["in", "in/", "in/sub/Series1/t1_0001.dcm"])
    def test_default_template_names_like_dcm2niix(
        self, tmp_path: Path, given: str, monkeypatch: pytest.MonkeyPatch
    ):
        """``%f_%p_%t_%s``: %f is the input folder given (a file's own folder), %t rounds
        a fractional StudyTime (105619.609 -> 105620)."""
        write(SeriesSpec("t1", tweak=_fractional_time), tmp_path / "in" / "sub" / "Series1")
        monkeypatch.chdir(tmp_path)
        dcm2niix("-b", "y", "-z", "n", "-o", tmp_path / "ref", given)
        result = medbridge("-o", tmp_path / "ours", given)
        assert result.returncode == ExitCode.OK, result.stderr
        assert names(tmp_path / "ours") == names(tmp_path / "ref")
        assert any("20240102105620" in name for name in names(tmp_path / "ours"))

    def test_seconds_never_round_to_60_like_dcm2niix(self, tmp_path: Path):
        """101559.7 is ``101559`` for dcm2niix (its issue 912), not ``101560``."""
        write(SeriesSpec("t1", tweak=_almost_a_minute), tmp_path / "in")
        dcm2niix("-b", "y", "-z", "n", "-f", "%t", "-o", tmp_path / "ref", tmp_path / "in")
        result = medbridge("-f", "%t", "-o", tmp_path / "ours", tmp_path / "in")
        assert result.returncode == ExitCode.OK, result.stderr
        assert (
            names(tmp_path / "ours")
            == names(tmp_path / "ref")
            == {
                "20240102101559.nii",
                "20240102101559.json",
            }
        )

    def test_second_run_adds_dcm2niix_suffix(self, series: Path, tmp_path: Path):
        """A second (and third) run into the same folder writes ``<name>a``, ``<name>b``
        as dcm2niix does, keeps the first run's files and reports the renaming."""
        for _ in range(3):
            dcm2niix("-b", "y", "-z", "n", "-f", "%p_%s", "-o", tmp_path / "ref", series)
        out = tmp_path / "ours"
        first = medbridge("-f", "%p_%s", "-o", out, series)
        assert first.returncode == ExitCode.OK, first.stderr
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        second = medbridge("-f", "%p_%s", "-o", out, series)
        third = medbridge("-f", "%p_%s", "-o", out, series)
        assert second.returncode == third.returncode == ExitCode.OK, second.stderr
        assert names(out) == names(tmp_path / "ref")
        assert {n: (out / n).read_bytes() for n in before} == before
        assert "t1_axial_3a" in second.stderr and "existed" in second.stderr
        assert "skipped" not in second.stderr

    def test_converting_into_the_input_folder_twice_counts_honestly(self, series: Path):
        """The first run's outputs among the inputs are "earlier outputs", never "0 skipped"
        above a "skipped" row."""
        assert medbridge("-f", "%s", series).returncode == ExitCode.OK
        again = medbridge("-f", "%s", series)
        assert again.returncode == ExitCode.OK, again.stderr
        assert "0 skipped" not in again.stderr
        assert "2 earlier outputs" in again.stderr
        assert names(series) >= {"3.nii", "3.json", "3a.nii", "3a.json"}

    def test_philips_trace_is_written_as_adc_like_dcm2niix(self, dcm_qa: Path, tmp_path: Path):
        """Philips DWI with trace (isotropic) volumes: the series without them, and
        ``<name>_ADC`` with every volume, the trace last, voxel for voxel dcm2niix's."""
        source = dcm_qa / "dcm_qa_philips" / "In" / "Vanderbilt_2018"
        dcm2niix("-b", "y", "-z", "n", "-f", "%p_%s", "-o", tmp_path / "ref", source)
        result = medbridge("-f", "%p_%s", "-o", tmp_path / "ours", source)
        assert result.returncode == ExitCode.OK, result.stderr
        assert names(tmp_path / "ours") == names(tmp_path / "ref")
        adc = "WIP_dti_ax_601_ADC.nii"
        ours = nib.load(tmp_path / "ours" / adc)
        ref = nib.load(tmp_path / "ref" / adc)
        assert ours.shape == ref.shape == (80, 80, 40, 17)
        assert np.array_equal(ours.dataobj.get_unscaled(), ref.dataobj.get_unscaled())
        assert np.allclose(ours.affine, ref.affine, atol=1e-4)

    def test_philips_trace_ignored_with_i_y_is_reported(self, dcm_qa: Path, tmp_path: Path):
        """With ``-i y`` no ``_ADC`` is written (as dcm2niix) and the summary says so."""
        source = dcm_qa / "dcm_qa_philips" / "In" / "Vanderbilt_2018"
        result = medbridge("-i", "y", "-f", "%p_%s", "-o", tmp_path / "ours", source)
        assert result.returncode == ExitCode.OK, result.stderr
        assert not any("_ADC" in n for n in names(tmp_path / "ours"))
        assert "ignored" in result.stderr and "trace" in result.stderr

    def test_unknown_output_extension_is_a_usage_error(self, tmp_path: Path):
        """``convert X.nii -o x.xyz`` names the extension, exits 2 and creates nothing."""
        volume = tmp_path / "v.nii"
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), volume)
        result = medbridge(volume, "-o", tmp_path / "x.xyz")
        assert result.returncode == ExitCode.USAGE
        assert ".xyz" in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "x.xyz").exists()

    def test_compress_letters_explained_in_help(self):
        """``--help`` says what -z i, o and 3 do."""
        text = " ".join(medbridge("--help").stdout.split())
        assert "i (its internal zlib) and o (optimal pigz) write .nii.gz" in text
        assert "3 (uncompressed, one file per volume) is not supported" in text

    @pytest.mark.parametrize(("letter", "written"), [("i", "3.nii.gz"), ("o", "3.nii.gz")])
    def test_dcm2niix_compress_letters(self, series: Path, tmp_path: Path, letter, written):
        """``-z i`` and ``-z o`` write .nii.gz, as dcm2niix does."""
        result = medbridge("-z", letter, "-f", "%s", "-o", tmp_path / "out", series)
        assert result.returncode == ExitCode.OK, result.stderr
        assert written in names(tmp_path / "out")

    def test_compress_3_is_refused_not_misread(self, series: Path, tmp_path: Path):
        """``-z 3`` (dcm2niix: uncompressed 3D files) is a usage error, not .nii.gz."""
        result = medbridge("-z", "3", "-o", tmp_path / "out", series)
        assert result.returncode == ExitCode.USAGE
        assert "one per volume" in result.stderr and "Traceback" not in result.stderr
        assert not names(tmp_path / "out")

"""The command line as a user runs it: ``python -m medbridge`` in a process."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medbridge.exitcodes import ExitCode


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medbridge", *args], capture_output=True, text=True
    )


class TestLs:
    """``medbridge ls``."""

    def test_json_lines_one_per_series(self, dcm_qa: Path) -> None:
        """--json prints one object per series with the DICOM keywords scripts rely on."""
        proc = _run("ls", "--json", str(dcm_qa / "dcm_qa_ts" / "In"))
        assert proc.returncode == ExitCode.OK, proc.stderr
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        assert len(rows) == 1
        row = rows[0]
        for key in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality"):
            assert row[key], key
        assert row["NumberOfSeriesRelatedInstances"] == 9
        assert len(row["TransferSyntaxUIDs"]) >= 7

    def test_tree(self, pydicom_data: Path) -> None:
        """The tree shows patient, study and series lines with counts."""
        proc = _run("ls", str(pydicom_data / "dicomdirtests" / "DICOMDIR"))
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert "Doe^Archibald  ID 77654033, 2 studies, 7 instances" in proc.stdout
        assert (
            "#2 CT Routine Brain  4 instances, 4 frames  [Explicit VR Little Endian]" in proc.stdout
        )


class TestInfo:
    """``medbridge info``."""

    def test_dicom(self, pydicom_data: Path) -> None:
        """A DICOM file is listed element by element."""
        proc = _run("info", str(pydicom_data / "CT_small.dcm"))
        assert proc.returncode == ExitCode.OK
        assert "(0010,0010) PN PatientName" in proc.stdout
        assert "(0002,0010) UI TransferSyntaxUID" in proc.stdout

    def test_nifti(self, tmp_path: Path) -> None:
        """A NIfTI header shows dims, datatype, both transforms with codes, and scaling."""
        affine = np.array([[-2.0, 0, 0, 90], [0, 2.5, 0, -126], [0, 0, 3, -72], [0, 0, 0, 1]])
        img = nib.Nifti1Image(np.zeros((4, 5, 6, 2), np.int16), affine)
        img.header.set_qform(affine, 1)
        img.header.set_sform(affine, 2)
        img.header.set_slope_inter(2.0, -10.0)
        nib.save(img, tmp_path / "t.nii.gz")
        proc = _run("info", str(tmp_path / "t.nii.gz"))
        assert proc.returncode == ExitCode.OK, proc.stderr
        out = proc.stdout
        assert "NIfTI-1 (single file)" in out
        assert "dim                      4 4 5 6 2" in out
        assert "datatype                 4 (int16)" in out
        assert "qform_code               1 (scanner)" in out
        assert "sform_code               2 (aligned)" in out
        assert "sform row 0              -2.000000  0.000000  0.000000  90.000000" in out
        assert "scl_slope / scl_inter    2 / -10" in out
        assert "vox_offset               352" in out

    @pytest.mark.parametrize("name", ["v.nrrd", "v.mha", "v.mgz", "v.hdr"])
    def test_other_volume_formats(self, tmp_path: Path, name: str) -> None:
        """NRRD, MetaImage, MGH, Analyze: what ``info`` reads, not "not a DICOM file"."""
        from medbridge import formats
        from medbridge.volume import Volume

        affine = np.diag([1.5, 2.0, 2.5, 1.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Analyze warns about left-right
            formats.write(Volume(np.zeros((4, 5, 6), np.int16), affine), tmp_path / name)
        proc = _run("info", str(tmp_path / name))
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert "shape                    4 x 5 x 6" in proc.stdout
        assert "spacing (mm)             1.5 2 2.5" in proc.stdout
        assert "DICOM" not in proc.stderr

    def test_dicom_named_like_a_volume(self, pydicom_data: Path, tmp_path: Path) -> None:
        """A DICOM file named ``.img`` (old CDs) is still dumped as DICOM."""
        target = tmp_path / "IMAGE1.img"
        target.write_bytes((pydicom_data / "CT_small.dcm").read_bytes())
        proc = _run("info", str(target))
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert "(0010,0010) PN PatientName" in proc.stdout

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is one line on stderr and a non-zero status."""
        proc = _run("info", str(tmp_path / "nope.dcm"))
        assert proc.returncode == ExitCode.ERROR
        assert str(tmp_path / "nope.dcm") in proc.stderr
        assert "Traceback" not in proc.stderr


class TestHelp:
    """Every option says what it does."""

    @pytest.mark.parametrize("command", [["archive", "check"], ["archive", "export"]])
    def test_archive_options_have_help(self, command: list[str]) -> None:
        """``archive check|export --help`` explains --data-dir, --index-url (and --repair)."""
        proc = _run(*command, "--help")
        assert proc.returncode == ExitCode.OK
        text = " ".join(proc.stdout.split())
        assert "--data-dir DIRECTORY The archive's folder" in text
        assert "--index-url TEXT SQLAlchemy URL" in text
        if command[1] == "check":
            assert "--repair Fix what was found" in text

    def test_exit_statuses_in_main_help(self) -> None:
        """``medbridge --help`` states the one exit-status rule."""
        text = _run("--help").stdout
        for line in ("0  all done", "1  nothing done", "2  bad command line", "3  partial"):
            assert line in text


class TestCommands:
    """Every capability is reachable from the one ``medbridge`` command."""

    def test_help_lists_every_command(self) -> None:
        """The top-level help names each sub-command, lazily imported ones included."""
        proc = _run("--help")
        assert proc.returncode == ExitCode.OK, proc.stderr
        for name in ("ls", "info", "convert", "anonymize", "serve", "echo", "send", "find"):
            assert f"  {name} " in proc.stdout, name

    def test_lazy_command_runs(self) -> None:
        """A lazily imported command parses its own options (convert's -z)."""
        proc = _run("convert", "--help")
        assert proc.returncode == ExitCode.OK, proc.stderr
        assert "-z" in proc.stdout

    def test_unknown_command_is_a_usage_error(self) -> None:
        """A mistyped command exits 2 and says so, it does not crash."""
        proc = _run("covnert")
        assert proc.returncode == ExitCode.USAGE
        assert "No such command" in proc.stderr

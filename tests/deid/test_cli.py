"""Tests for ``python -m medbridge.deid`` (the ``anonymize`` command), run as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from planted_data import build_planted
from pydicom import dcmread


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medbridge.deid", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestAnonymizeCommand:
    def test_folder_with_options_and_map(self, tmp_path):
        """Files in, de-identified tree out, map beside it, summary printed, exit 0."""
        build_planted().save_as(tmp_path / "a.dcm", enforce_file_format=True)
        (tmp_path / "key").write_text("a secret key of at least 16 bytes\n")
        result = _run(
            str(tmp_path / "a.dcm"),
            "-o", str(tmp_path / "out"),
            "--key", str(tmp_path / "key"),
            "--shift-dates",
            "--keep-patient-characteristics",
            "--clean-graphics",
            "--keep-safe-private",
            "--map", str(tmp_path / "map.csv"),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "1 written, 0 skipped, 0 failed" in result.stderr
        (out,) = list((tmp_path / "out").rglob("*.dcm"))
        ds = dcmread(out)
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientSex == "F"
        codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113103", "113107", "113108", "113111"]
        assert "overwritten inside kept private elements of 1 file(s)" in result.stderr
        assert b"PLANTID" not in out.read_bytes()
        assert "PLANTID-93847" in (tmp_path / "map.csv").read_text()

    def test_failed_file_named_and_exit_nonzero(self, tmp_path):
        """A file refused (burned-in annotation) is named with its reason; exit 1."""
        ds = build_planted()
        ds.BurnedInAnnotation = "YES"
        ds.save_as(tmp_path / "burned.dcm", enforce_file_format=True)
        result = _run(str(tmp_path / "burned.dcm"), "-o", str(tmp_path / "out"))
        assert result.returncode == 1
        assert "burned.dcm" in result.stderr and "--mask" in result.stderr

    def test_partial_run_exit_status(self, tmp_path):
        """Good files written, a broken one named: exit 3 (partial), no partial output."""
        (tmp_path / "in").mkdir()
        build_planted().save_as(tmp_path / "in" / "good.dcm", enforce_file_format=True)
        data = (tmp_path / "in" / "good.dcm").read_bytes()
        broken = data.replace(b"1.2.3.999.3", b"1.2.3.999.8")[: len(data) // 2]
        (tmp_path / "in" / "broken.dcm").write_bytes(broken)
        result = _run(str(tmp_path / "in"), "-o", str(tmp_path / "out"))
        assert result.returncode == 3, result.stderr
        assert "1 written, 0 skipped, 1 failed" in result.stderr
        assert "broken.dcm" in result.stderr
        assert len([p for p in (tmp_path / "out").rglob("*") if p.is_file()]) == 1

    def test_short_key_refused(self, tmp_path):
        """A key file with fewer than 16 bytes is a usage error."""
        (tmp_path / "key").write_text("short")
        build_planted().save_as(tmp_path / "a.dcm", enforce_file_format=True)
        result = _run(
            str(tmp_path / "a.dcm"), "-o", str(tmp_path / "o"), "--key", str(tmp_path / "key")
        )
        assert result.returncode == 2 and "at least 16" in result.stderr
        assert not Path(tmp_path / "o").exists()

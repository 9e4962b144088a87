"""``medbridge archive export``: stored instances out, byte for byte or de-identified.

The anonymized export must leak nothing the files-on-disk path would not: the same
planted-identity byte scan as ``medbridge anonymize``, over what the archive hands out.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from planted_data import KEY, PLANTED, build_planted
from pydicom import dcmread

from medbridge.archive import Archive
from medbridge.exitcodes import ExitCode

STUDY = "1.2.3.999.1"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medbridge", "archive", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _part10(sop_uid: str, study_uid: str = STUDY, series_uid: str = "1.2.3.999.2") -> bytes:
    buffer = io.BytesIO()
    build_planted(sop_uid=sop_uid, study_uid=study_uid, series_uid=series_uid).save_as(
        buffer, enforce_file_format=True
    )
    return buffer.getvalue()


def _fill(data_dir: Path) -> dict[str, bytes]:
    stored = {uid: _part10(uid) for uid in ("1.2.3.999.3.1", "1.2.3.999.3.2")}
    stored["1.2.3.999.3.9"] = _part10("1.2.3.999.3.9", "1.2.3.999.77", "1.2.3.999.78")
    with Archive(data_dir) as arc:
        for data in stored.values():
            arc.store(data)
    return stored


class TestExport:
    def test_plain_export_is_byte_for_byte(self, tmp_path: Path) -> None:
        """Without --anonymize the study's stored files come out unchanged, no others."""
        stored = _fill(tmp_path / "var")
        out = tmp_path / "out"
        proc = _run(
            "--data-dir", str(tmp_path / "var"), "-k", f"StudyInstanceUID={STUDY}", "-o", str(out)
        )
        assert proc.returncode == ExitCode.OK, proc.stderr
        files = {p.stem: p.read_bytes() for p in out.iterdir()}
        assert files == {uid: stored[uid] for uid in ("1.2.3.999.3.1", "1.2.3.999.3.2")}

    def test_anonymized_export_leaks_no_planted_value(self, tmp_path: Path) -> None:
        """--anonymize applies the Basic Profile: no planted value in any output byte."""
        _fill(tmp_path / "var")
        key = tmp_path / "key"
        key.write_bytes(KEY)
        out = tmp_path / "out"
        proc = _run(
            "--data-dir", str(tmp_path / "var"),
            "-k", f"StudyInstanceUID={STUDY}",
            "-o", str(out),
            "--anonymize", "--deid-key", str(key),
        )  # fmt: skip
        assert proc.returncode == ExitCode.OK, proc.stderr
        outputs = sorted(out.rglob("*.dcm"))
        assert len(outputs) == 2
        needles = [v.encode() for values in PLANTED.values() for v in values]
        for path in outputs:
            data = path.read_bytes()
            assert [n for n in needles if n in data] == []
            assert dcmread(path).PatientIdentityRemoved == "YES"
        # the archive itself is untouched
        with Archive(tmp_path / "var") as arc:
            assert b"Zyxwert" in arc.read("1.2.3.999.3.1")

    def test_same_key_same_pseudonyms_as_anonymize(self, tmp_path: Path) -> None:
        """An export and `medbridge anonymize` with one key give the same new UIDs."""
        stored = _fill(tmp_path / "var")
        key = tmp_path / "key"
        key.write_bytes(KEY)
        loose = tmp_path / "loose.dcm"
        loose.write_bytes(stored["1.2.3.999.3.1"])
        anon = subprocess.run(
            [sys.executable, "-m", "medbridge", "anonymize", str(loose), "-o", str(tmp_path / "a"),
             "--key", str(key)],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        assert anon.returncode == ExitCode.OK, anon.stderr
        proc = _run(
            "--data-dir", str(tmp_path / "var"),
            "--level", "IMAGE",
            "-k", f"StudyInstanceUID={STUDY}",
            "-k", "SeriesInstanceUID=1.2.3.999.2",
            "-k", "SOPInstanceUID=1.2.3.999.3.1",
            "-o", str(tmp_path / "e"),
            "--anonymize", "--deid-key", str(key),
        )  # fmt: skip
        assert proc.returncode == ExitCode.OK, proc.stderr
        (a,) = (tmp_path / "a").rglob("*.dcm")
        (e,) = (tmp_path / "e").rglob("*.dcm")
        assert dcmread(a).SOPInstanceUID == dcmread(e).SOPInstanceUID
        assert dcmread(a).StudyInstanceUID == dcmread(e).StudyInstanceUID

    def test_nothing_matches_is_an_error(self, tmp_path: Path) -> None:
        """A query selecting nothing says so and exits 1."""
        _fill(tmp_path / "var")
        proc = _run(
            "--data-dir",
            str(tmp_path / "var"),
            "-k",
            "StudyInstanceUID=9.9.9",
            "-o",
            str(tmp_path / "o"),
        )
        assert proc.returncode == ExitCode.ERROR
        assert "no stored instance matches" in proc.stderr

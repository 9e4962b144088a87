"""Bad input as it is found on real disks and CDs: each file gets a reason, none a crash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pydicom
import pytest

from medbridge.dicom import InstanceRecord, ScanFailure, scan
from medbridge.exitcodes import ExitCode


def _results(paths: list[Path]) -> tuple[dict[str, InstanceRecord], dict[str, str]]:
    records: dict[str, InstanceRecord] = {}
    failures: dict[str, str] = {}
    for item in scan(paths):
        if isinstance(item, ScanFailure):
            failures[Path(item.path).name] = item.reason
        else:
            records[Path(item.path).name] = item
    return records, failures


@pytest.fixture
def mr_small(pydicom_data: Path) -> Path:
    return pydicom_data / "MR_small.dcm"


class TestBrokenFiles:
    """Files that cannot be read are reported with what is wrong with them."""

    def test_zero_length_file(self, tmp_path: Path, mr_small: Path) -> None:
        """An empty file is named as empty."""
        (tmp_path / "empty.dcm").write_bytes(b"")
        shutil.copy(mr_small, tmp_path / "good.dcm")
        records, failures = _results([tmp_path])
        assert failures == {"empty.dcm": "empty file (0 bytes)"}
        assert list(records) == ["good.dcm"]

    @pytest.mark.parametrize("keep", [100, 200, 1000, 4000, -300])
    def test_truncated_file(self, tmp_path: Path, mr_small: Path, keep: int) -> None:
        """A copy cut anywhere (preamble, header, pixel data) is refused as truncated."""
        data = mr_small.read_bytes()
        (tmp_path / "cut.dcm").write_bytes(data[:keep])
        records, failures = _results([tmp_path])
        assert records == {}
        reason = failures["cut.dcm"]
        assert "truncated" in reason or "not a DICOM file" in reason, reason
        if keep > 200:
            assert "truncated" in reason

    def test_pixel_data_cut_names_the_element(self, tmp_path: Path, mr_small: Path) -> None:
        """Losing the end of the pixel data names (7FE0,0010) as the cut element."""
        (tmp_path / "cut.dcm").write_bytes(mr_small.read_bytes()[:-300])  # past the padding
        _, failures = _results([tmp_path])
        assert "(7FE0,0010) 'Pixel Data'" in failures["cut.dcm"]

    def test_text_file_named_dcm(self, tmp_path: Path) -> None:
        """A text file with a .dcm name is not DICOM."""
        (tmp_path / "notes.dcm").write_text("Patient was scanned twice.\n" * 20)
        _, failures = _results([tmp_path])
        assert failures["notes.dcm"].startswith("not a DICOM file")

    def test_no_preamble_is_read_with_warning(self, tmp_path: Path, mr_small: Path) -> None:
        """Meta and data set without the 128-byte preamble: read, with a warning."""
        (tmp_path / "nopre.dcm").write_bytes(mr_small.read_bytes()[128 + 4 :])
        records, failures = _results([tmp_path])
        assert failures == {}
        record = records["nopre.dcm"]
        assert record.sop_instance_uid == pydicom.dcmread(mr_small).SOPInstanceUID
        assert any("preamble" in w for w in record.warnings)

    @pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
    def test_no_file_meta_is_read_with_warning(
        self, tmp_path: Path, mr_small: Path, implicit: bool
    ) -> None:
        """A bare data set (no preamble, no meta) is read; its syntax is inferred."""
        ds = pydicom.dcmread(mr_small)
        del ds.file_meta
        ds.preamble = None
        path = tmp_path / "bare.dcm"
        ds.save_as(path, implicit_vr=implicit, little_endian=True)
        records, failures = _results([tmp_path])
        assert failures == {}
        record = records["bare.dcm"]
        expected_ts = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
        assert record.transfer_syntax_uid == expected_ts
        assert record.series_instance_uid == ds.SeriesInstanceUID
        assert any("File Meta" in w for w in record.warnings)

    def test_pixel_data_shorter_than_header_says(self, tmp_path: Path, mr_small: Path) -> None:
        """Native pixel data too short for Rows × Columns × bits is refused."""
        ds = pydicom.dcmread(mr_small)
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
        ds.save_as(tmp_path / "short.dcm")
        _, failures = _results([tmp_path])
        assert "(7FE0,0010) 'Pixel Data' holds 4096 bytes" in failures["short.dcm"]


class TestFileSystem:
    """Links, permissions and missing paths."""

    def test_symlink_loop_is_reported_once(self, tmp_path: Path, mr_small: Path) -> None:
        """A link back to an ancestor folder is reported, and the walk ends."""
        (tmp_path / "a").mkdir()
        shutil.copy(mr_small, tmp_path / "a" / "img.dcm")
        os.symlink(tmp_path, tmp_path / "a" / "loop")
        records, failures = _results([tmp_path])
        assert list(records) == ["img.dcm"]
        assert failures["loop"].startswith("symbolic link loop")

    def test_self_link_and_broken_link(self, tmp_path: Path) -> None:
        """A link to itself and a link to nothing are both named."""
        os.symlink(tmp_path / "self", tmp_path / "self")
        os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
        _, failures = _results([tmp_path])
        assert failures["self"] == "symbolic link loop"
        assert failures["dangling"] == "broken symbolic link"

    def test_file_reached_twice_is_read_once(self, tmp_path: Path, mr_small: Path) -> None:
        """The same file through a second link or a second argument counts once."""
        shutil.copy(mr_small, tmp_path / "img.dcm")
        os.symlink(tmp_path / "img.dcm", tmp_path / "link.dcm")
        results = list(scan([tmp_path, tmp_path / "img.dcm"]))
        assert [Path(r.path).name for r in results] == ["img.dcm"]

    def test_missing_path(self, tmp_path: Path) -> None:
        """A path that does not exist is a failure, not an exception."""
        _, failures = _results([tmp_path / "absent"])
        assert failures == {"absent": "no such file or folder"}

    def test_unreadable_file(self, tmp_path: Path, mr_small: Path) -> None:
        """A file the user may not read is reported as such (run as an unprivileged user)."""
        folder = Path(tempfile.mkdtemp(prefix="medbridge-perm-"))
        try:
            os.chmod(folder, 0o755)
            shutil.copy(mr_small, folder / "ok.dcm")
            shutil.copy(mr_small, folder / "secret.dcm")
            os.chmod(folder / "ok.dcm", 0o644)
            os.chmod(folder / "secret.dcm", 0o000)
            code = (
                "import json,sys; from medbridge.dicom import scan, ScanFailure;"
                "print(json.dumps({r.path.rsplit('/',1)[1]: getattr(r,'reason','ok')"
                " for r in scan([sys.argv[1]])}))"
            )
            command = [sys.executable, "-c", code, str(folder)]
            if os.geteuid() == 0:  # root reads everything: drop to nobody for this check
                if shutil.which("setpriv") is None:
                    pytest.skip("running as root without setpriv")
                command = [
                    "setpriv",
                    "--reuid=nobody",
                    "--regid=nogroup",
                    "--clear-groups",
                    *command,
                ]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            assert json.loads(out) == {"ok.dcm": "ok", "secret.dcm": "permission denied"}
        finally:
            shutil.rmtree(folder)


class TestDicomdir:
    """CD and DVD media: the DICOMDIR leads to its files, and missing ones are named."""

    @pytest.fixture
    def media(self, pydicom_data: Path, tmp_path: Path) -> Path:
        root = tmp_path / "cd"
        shutil.copytree(pydicom_data / "dicomdirtests", root)
        return root

    @pytest.mark.parametrize(
        "name", ["DICOMDIR", "DICOMDIR-bigEnd", "DICOMDIR-implicit", "DICOMDIR-reordered"]
    )
    def test_dicomdir_alone_finds_its_files(self, media: Path, name: str) -> None:
        """Pointing at the DICOMDIR file alone lists every file it references."""
        referenced = pydicom.dcmread(media / name).DirectoryRecordSequence
        expected = {str(r.ReferencedFileID[-1]) for r in referenced if "ReferencedFileID" in r}
        records, failures = _results([media / name])
        assert failures == {}
        assert set(records) == expected
        assert len(records) == 31

    def test_lower_case_media(self, media: Path) -> None:
        """Files copied from a CD in lower case are still found from upper-case IDs."""
        for path in sorted(media.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.name != "DICOMDIR":
                path.rename(path.with_name(path.name.lower()))
        records, failures = _results([media / "DICOMDIR"])
        assert failures == {}
        assert len(records) == 31

    def test_missing_referenced_file(self, media: Path) -> None:
        """A file named by the DICOMDIR but gone is reported with the DICOMDIR's name."""
        victim = media / "77654033" / "CR1" / "6154"
        victim.unlink()
        records, failures = _results([media / "DICOMDIR"])
        assert len(records) == 30
        assert failures["6154"] == f"referenced by DICOMDIR {media / 'DICOMDIR'} but missing"

    def test_folder_with_dicomdir_counts_each_file_once(self, media: Path) -> None:
        """Walking the folder and following its DICOMDIRs does not double count."""
        results = list(scan([media]))
        paths = [r.path for r in results if isinstance(r, InstanceRecord)]
        assert len(paths) == len(set(paths))


class TestCliExitStatus:
    """``medbridge ls`` reports bad files at the end and says "partial" in its status."""

    def test_partial_status_and_report(self, tmp_path: Path, mr_small: Path) -> None:
        """A folder with good and bad files lists both and exits with PARTIAL."""
        shutil.copy(mr_small, tmp_path / "good.dcm")
        (tmp_path / "empty.dcm").write_bytes(b"")
        (tmp_path / "cut.dcm").write_bytes(mr_small.read_bytes()[:3000])
        proc = subprocess.run(
            [sys.executable, "-m", "medbridge", "ls", str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == ExitCode.PARTIAL, proc.stderr
        assert "Skipped 2 files" in proc.stdout
        assert f"{tmp_path / 'empty.dcm'}: empty file (0 bytes)" in proc.stdout
        assert f"{tmp_path / 'cut.dcm'}: truncated" in proc.stdout

    def test_nothing_readable_is_an_error(self, tmp_path: Path) -> None:
        """Only bad files: exit status ERROR, reasons on stderr in JSON mode."""
        (tmp_path / "a.dcm").write_text("hello")
        proc = subprocess.run(
            [sys.executable, "-m", "medbridge", "ls", "--json", str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == ExitCode.ERROR
        assert proc.stdout == ""
        assert json.loads(proc.stderr.splitlines()[0])["Path"] == str(tmp_path / "a.dcm")

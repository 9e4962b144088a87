"""Hostile headers (issue 13): each file gets a clear reason, no reader crashes or over-allocates.

The files are built in :mod:`dicom.hostile`: sequences nested thousands of levels deep
(in every encoding), lengths a header claims but the file does not hold, truncated
items, VRs that are no VRs, undefined lengths without delimiters, empty and non-DICOM
files. Every reader is asked: the header walker (``ls``), :func:`read_dataset` (the door
to pydicom for ``info``, ``convert``, ``anonymize``, the archive), and the command line.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from convert.synth import SeriesSpec, write
from dicom import hostile
from medbridge.dicom import InstanceRecord, ScanFailure, dump, read_dataset, read_dicomdir, scan
from medbridge.dicom._header import MAX_SEQUENCE_DEPTH
from medbridge.errors import InvalidDicomError, NotDicomError
from medbridge.exitcodes import ExitCode

CASES = hostile.cases()


def _medbridge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medbridge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def hostile_file(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    data, words = CASES[request.param]
    path = tmp_path / f"{request.param}.dcm"
    path.write_bytes(data)
    return path, words


class TestEveryReader:
    """Each hostile file is refused by every reader with its name and the reason."""

    def test_header_walker(self, hostile_file: tuple[Path, str]) -> None:
        """``ls``'s scan lists it as a failure whose reason says what is wrong."""
        path, words = hostile_file
        (result,) = scan([path])
        assert isinstance(result, ScanFailure)
        assert words in result.reason

    def test_read_dataset(self, hostile_file: tuple[Path, str]) -> None:
        """The door to pydicom raises InvalidDicomError naming the file."""
        path, words = hostile_file
        with pytest.raises(InvalidDicomError, match=words) as caught:
            read_dataset(path)
        assert caught.value.path == str(path)

    def test_read_dataset_bytes(self, hostile_file: tuple[Path, str]) -> None:
        """The same bytes received over the network (C-STORE, STOW) are refused alike."""
        path, words = hostile_file
        with pytest.raises(InvalidDicomError, match=words):
            read_dataset(path.read_bytes(), name="received")

    def test_not_dicom_is_its_own_kind(self) -> None:
        """Empty and foreign files are NotDicomError (skipped), damaged DICOM is not."""
        assert issubclass(NotDicomError, InvalidDicomError)
        for name, (data, _) in CASES.items():
            try:
                read_dataset(data)
            except InvalidDicomError as exc:
                assert isinstance(exc, NotDicomError) == (name in ("zero-bytes", "not-dicom"))


class TestNestingLimit:
    """Nesting is read up to MAX_SEQUENCE_DEPTH levels and refused past it, in every encoding."""

    @pytest.mark.parametrize(
        "syntax",
        [
            ExplicitVRLittleEndian,
            ImplicitVRLittleEndian,
            ExplicitVRBigEndian,
            DeflatedExplicitVRLittleEndian,
        ],
        ids=["explicit", "implicit", "big-endian", "deflated"],
    )
    @pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
    def test_limit(self, syntax: str, undefined: bool) -> None:
        """50 levels read (and de-identify, dump, write), 51 refused with the reason."""
        ok = hostile.deep_file(MAX_SEQUENCE_DEPTH, undefined=undefined, syntax=syntax)
        ds = read_dataset(ok)
        assert len(list(dump(ds))) > 2 * MAX_SEQUENCE_DEPTH
        too_deep = hostile.deep_file(MAX_SEQUENCE_DEPTH + 1, undefined=undefined, syntax=syntax)
        with pytest.raises(InvalidDicomError, match="nested more than 50 levels"):
            read_dataset(too_deep)

    def test_dump_of_a_deep_dataset_built_in_memory(self) -> None:
        """``dump`` walks iteratively: a data set deeper than any file is listed whole."""
        top = Dataset()
        current = top
        for _ in range(3000):
            item = Dataset()
            current.ContentSequence = Sequence([item])
            current = item
        current.TextValue = "bottom"
        lines = list(dump(top))
        assert lines[-1].value == "[bottom]" and lines[-1].depth == 6000


class TestMemory:
    """A length a header claims is never allocated: reads are capped at the file's bytes."""

    def test_huge_length_read_by_pydicom_under_a_memory_limit(self, tmp_path: Path) -> None:
        """A Big Endian file claiming 4 GB in one element, read with 2 GB of address space."""
        data = hostile.part10(hostile.base_dataset(), ExplicitVRBigEndian) + struct.pack(
            ">HH2sHI", 0x0040, 0xA160, b"UT", 0, 0xFFFFFFF0
        )
        path = tmp_path / "claims-4gb.dcm"
        path.write_bytes(data + b"abc")
        code = (
            "import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))\n"
            "from medbridge.dicom import read_dataset\n"
            "from medbridge.errors import InvalidDicomError\n"
            "try:\n"
            f"    read_dataset({str(path)!r})\n"
            "except InvalidDicomError as exc:\n"
            "    print(exc)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert "truncated: (0040,A160) claims 4294967280 bytes" in result.stdout

    def test_deflate_bomb(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A deflated data set inflating past the bound is refused before pydicom inflates it."""
        from medbridge.dicom import _read

        monkeypatch.setattr(_read, "MAX_INFLATED_BYTES", 8 << 20)
        data = hostile.deflate_bomb(16 << 20)
        assert len(data) < 100_000
        with pytest.raises(InvalidDicomError, match="inflates past 8 MB"):
            read_dataset(data)


class TestDicomdir:
    """DICOMDIR records are read in sequence order; their offsets and paths cannot mislead."""

    def _dicomdir(self, folder: Path, offsets: int, file_ids: list[list[str]]) -> Path:
        ds = pydicom.dcmread(
            str(Path(pydicom.data.get_testdata_file("DICOMDIR")))  # type: ignore[arg-type]
        )
        records = []
        for parts in file_ids:
            record = Dataset()
            record.OffsetOfTheNextDirectoryRecord = offsets  # every record points at one
            record.OffsetOfReferencedLowerLevelDirectoryEntity = offsets
            record.RecordInUseFlag = 0xFFFF
            record.DirectoryRecordType = "IMAGE"
            with warnings.catch_warnings():  # '..' is no valid CS: that is the point
                warnings.simplefilter("ignore")
                record.ReferencedFileID = parts
            records.append(record)
        ds.DirectoryRecordSequence = Sequence(records)
        ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = offsets
        ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = offsets
        path = folder / "DICOMDIR"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(path, enforce_file_format=True)
        return path

    def test_looping_offsets(self, tmp_path: Path) -> None:
        """Offsets that point back at the first record (a loop) do not loop the reading."""
        write(SeriesSpec("cd", slices=2), tmp_path / "IMAGES")
        for number, image in enumerate(sorted((tmp_path / "IMAGES").iterdir())):
            image.rename(image.with_name(f"IM{number}"))
        names = sorted(p.name for p in (tmp_path / "IMAGES").iterdir())
        path = self._dicomdir(tmp_path, 0, [["IMAGES", n] for n in names])
        contents = read_dicomdir(path)
        assert [Path(p).name for p in contents.present] == names

    def test_file_id_leaving_the_folder(self, tmp_path: Path) -> None:
        """A Referenced File ID with '..' is reported, never opened."""
        (tmp_path / "cd").mkdir()
        (tmp_path / "secret").write_bytes(b"not yours")
        path = self._dicomdir(tmp_path / "cd", 0, [["..", "secret"]])
        contents = read_dicomdir(path)
        assert contents.present == [] and len(contents.outside) == 1
        failures = [r for r in scan([path]) if isinstance(r, ScanFailure)]
        assert any("outside its folder" in f.reason for f in failures)


class TestCommandLine:
    """The commands go on past a hostile file, name it with the reason, and exit 3."""

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        folder = tmp_path / "in"
        write(SeriesSpec("good", slices=3), folder / "good")
        for name in ("deep-undefined", "deep-defined", "huge-length", "wrong-vr"):
            (folder / f"{name}.dcm").write_bytes(CASES[name][0])
        return folder

    def test_ls(self, folder: Path) -> None:
        """``ls`` lists the good series and each hostile file with its reason."""
        result = _medbridge("ls", folder)
        assert result.returncode == ExitCode.PARTIAL, result.stderr
        assert "Traceback" not in result.stderr
        assert "deep-undefined.dcm: sequences nested more than 50 levels" in result.stdout
        assert "huge-length.dcm: truncated" in result.stdout
        assert "3 instances" in result.stdout

    def test_info(self, folder: Path) -> None:
        """``info`` prints the good file, names the deep one and exits partial."""
        good = next((folder / "good").iterdir())
        result = _medbridge("info", good, folder / "deep-undefined.dcm")
        assert result.returncode == ExitCode.PARTIAL
        assert "Traceback" not in result.stderr
        assert "deep-undefined.dcm: sequences nested more than 50 levels" in result.stderr
        alone = _medbridge("info", folder / "deep-defined.dcm")
        assert alone.returncode == ExitCode.ERROR and "nested more than" in alone.stderr

    def test_convert(self, folder: Path, tmp_path: Path) -> None:
        """``convert`` writes the good series and reports each hostile file: partial."""
        result = _medbridge("convert", folder, "-o", tmp_path / "out")
        assert "Traceback" not in result.stderr
        assert result.returncode == ExitCode.PARTIAL, result.stdout + result.stderr
        assert len(list((tmp_path / "out").glob("*.nii"))) == 1
        for name in ("deep-undefined", "huge-length", "wrong-vr"):
            assert name in result.stderr + result.stdout

    def test_anonymize(self, folder: Path, tmp_path: Path) -> None:
        """``anonymize`` writes the good files and fails each hostile one: partial."""
        key = tmp_path / "key"
        key.write_text("a" * 44)
        result = _medbridge("anonymize", folder, "-o", tmp_path / "out", "--key", key)
        assert "Traceback" not in result.stderr
        assert result.returncode == ExitCode.PARTIAL, result.stderr
        assert len(list((tmp_path / "out").rglob("*.dcm"))) == 3
        assert "nested more than 50 levels" in result.stderr


def test_records_of_a_deep_but_allowed_file(tmp_path: Path) -> None:
    """A file nesting exactly 50 levels is an instance like any other."""
    path = tmp_path / "deep-ok.dcm"
    path.write_bytes(hostile.deep_file(MAX_SEQUENCE_DEPTH))
    (record,) = scan([path])
    assert isinstance(record, InstanceRecord)

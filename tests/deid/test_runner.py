"""Tests for medbridge.deid.runner: whole outputs or none, links kept, repeatable."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from planted_data import KEY, build_planted, spellings
from pydicom import dcmread
from pydicom.data import get_testdata_file

from medbridge.deid import PixelRegion, Policy, anonymize_paths, remap_uid
from medbridge.errors import DeidentificationError


def _write(ds, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _outputs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.dcm"))


def _study(tmp_path: Path, patient: str, study: str, date: str, series: int, images: int) -> None:
    """Write one study: ``series`` series of ``images`` images, each image referencing
    the first image of its series and the series sharing one frame of reference."""
    for s in range(1, series + 1):
        for i in range(1, images + 1):
            ds = build_planted(
                patient_id=patient,
                study_uid=study,
                series_uid=f"{study}.{s}",
                sop_uid=f"{study}.{s}.{i}",
                study_date=date,
            )
            ds.FrameOfReferenceUID = f"{study}.0"
            ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = f"{study}.{s}.1"
            _write(ds, tmp_path / "in" / f"DOE_JOHN_{study}" / f"s{s}" / f"i{i}.dcm")


class TestReferentialIntegrity:
    def test_multi_series_and_two_studies_of_one_patient(self, tmp_path):
        """References resolve inside the output; one patient keeps one pseudonym and offset."""
        _study(tmp_path, "PAT-1", "1.2.3.4.100", "20190314", series=3, images=3)
        _study(tmp_path, "PAT-1", "1.2.3.4.200", "20200101", series=2, images=2)
        summary = anonymize_paths(
            [tmp_path / "in"], tmp_path / "out", Policy(key=KEY, dates="shift"), jobs=1
        )
        assert summary.count("written") == 13
        out = [dcmread(p) for p in _outputs(tmp_path / "out")]
        sops = {ds.SOPInstanceUID for ds in out}
        for ds in out:
            ref = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
            assert ref in sops, "a reference points outside the de-identified set"
            same_series = [o for o in out if o.SeriesInstanceUID == ds.SeriesInstanceUID]
            assert ref in {o.SOPInstanceUID for o in same_series}
        assert len({ds.StudyInstanceUID for ds in out}) == 2
        assert len({ds.SeriesInstanceUID for ds in out}) == 5
        assert len({ds.PatientID for ds in out}) == 1
        by_study = {ds.StudyInstanceUID: ds for ds in out}
        dates = sorted(ds.StudyDate for ds in by_study.values())
        from datetime import datetime

        gap = datetime.strptime(dates[1], "%Y%m%d") - datetime.strptime(dates[0], "%Y%m%d")
        assert gap.days == 293  # 2019-03-14 .. 2020-01-01
        for ds in out:
            assert (
                len(
                    {
                        o.FrameOfReferenceUID
                        for o in out
                        if o.StudyInstanceUID == ds.StudyInstanceUID
                    }
                )
                == 1
            )

    def test_studies_run_apart_still_link(self, tmp_path):
        """Two runs with the same key give the same UIDs for the same originals."""
        _study(tmp_path, "PAT-1", "1.2.3.4.100", "20190314", series=1, images=2)
        first = anonymize_paths([tmp_path / "in"], tmp_path / "a", Policy(key=KEY), jobs=1)
        second = anonymize_paths([tmp_path / "in"], tmp_path / "b", Policy(key=KEY), jobs=1)
        assert first.count("written") == second.count("written") == 2
        names_a = [p.relative_to(tmp_path / "a") for p in _outputs(tmp_path / "a")]
        names_b = [p.relative_to(tmp_path / "b") for p in _outputs(tmp_path / "b")]
        assert names_a == names_b
        assert str(names_a[0].parts[0]) == remap_uid("1.2.3.4.100", KEY)


class TestDeterminism:
    def test_same_key_same_bytes(self, tmp_path):
        """Same input and key give byte-identical output, serial or parallel."""
        _study(tmp_path, "PAT-1", "1.2.3.4.100", "20190314", series=2, images=5)
        anonymize_paths([tmp_path / "in"], tmp_path / "a", Policy(key=KEY, dates="shift"), jobs=1)
        anonymize_paths([tmp_path / "in"], tmp_path / "b", Policy(key=KEY, dates="shift"), jobs=2)
        a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
        assert len(a) == 10
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]

    def test_other_key_other_uids(self, tmp_path):
        """A different key gives unrelated UIDs."""
        _study(tmp_path, "PAT-1", "1.2.3.4.100", "20190314", series=1, images=1)
        anonymize_paths([tmp_path / "in"], tmp_path / "a", Policy(key=KEY), jobs=1)
        anonymize_paths(
            [tmp_path / "in"],
            tmp_path / "b",
            Policy(key=b"another key, 32 bytes long....."),
            jobs=1,
        )
        a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
        assert a[0].name != b[0].name


class TestBadInput:
    def _inputs(self, tmp_path: Path) -> Path:
        good = _write(build_planted(), tmp_path / "in" / "good.dcm")
        data = good.read_bytes()
        # the broken copies hold other instances, so none is skipped as a duplicate
        data = data.replace(b"1.2.3.999.3", b"1.2.3.999.5")
        (tmp_path / "in" / "truncated.dcm").write_bytes(data[: len(data) // 3])
        (tmp_path / "in" / "notes.txt").write_text("not dicom")
        # an element with a VR no standard defines, in an explicit VR file
        bad_vr = data[:132] + data[132:].replace(
            b"LO\x0e\x00PLANTID-93847", b"QQ\x0e\x00PLANTID-93847", 1
        )
        assert bad_vr != data
        (tmp_path / "in" / "unknown_vr.dcm").write_bytes(bad_vr)
        # a sequence claiming more bytes than the file holds
        huge = build_planted()
        _write(huge, tmp_path / "huge.dcm")
        raw = (tmp_path / "huge.dcm").read_bytes()
        at = raw.index(b"\x08\x00\x40\x11SQ\x00\x00")  # Referenced Image Sequence
        raw = raw[: at + 8] + struct.pack("<I", 0x7FFFFFF0) + raw[at + 12 :]
        (tmp_path / "in" / "huge_sequence.dcm").write_bytes(raw)
        burned = build_planted(sop_uid="1.2.3.999.9")
        burned.BurnedInAnnotation = "YES"
        _write(burned, tmp_path / "in" / "burned.dcm")
        return tmp_path / "in"

    def test_bad_files_reported_and_nothing_partial(self, tmp_path):
        """Broken files are reported; the output holds the good file only, no partials."""
        summary = anonymize_paths(
            [self._inputs(tmp_path)], tmp_path / "out", Policy(key=KEY), jobs=1
        )
        by_name = {Path(r.source).name: r for r in summary.results}
        assert by_name["good.dcm"].status == "written"
        assert by_name["notes.txt"].status == "skipped"
        for name in ("truncated.dcm", "unknown_vr.dcm", "huge_sequence.dcm", "burned.dcm"):
            assert by_name[name].status == "failed", name
            assert by_name[name].reason
        assert "Burned In Annotation" in by_name["burned.dcm"].reason
        files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
        assert files == [Path(by_name["good.dcm"].output)]

    def test_worker_processes_report_the_same(self, tmp_path):
        """With worker processes, bad files are reported the same and nothing is partial."""
        folder = self._inputs(tmp_path)
        for i in range(8):  # enough files for the process pool to be used
            _write(build_planted(sop_uid=f"1.2.3.999.10{i}"), folder / f"more{i}.dcm")
        summary = anonymize_paths([folder], tmp_path / "out", Policy(key=KEY), jobs=2)
        statuses = {Path(r.source).name: r.status for r in summary.results}
        assert summary.count("written") == 9
        assert [n for n, s in sorted(statuses.items()) if s == "failed"] == [
            "burned.dcm",
            "huge_sequence.dcm",
            "truncated.dcm",
            "unknown_vr.dcm",
        ]
        files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
        assert sorted(files) == sorted(Path(r.output) for r in summary.results if r.output)

    def test_failed_write_leaves_no_file(self, tmp_path, monkeypatch):
        """A write that dies half-way leaves neither the output nor its partial file."""
        _write(build_planted(), tmp_path / "in" / "good.dcm")
        from pydicom.dataset import Dataset

        def broken_save(self, fh, **kwargs):
            fh.write(b"\0" * 200)
            raise OSError("disk full")

        monkeypatch.setattr(Dataset, "save_as", broken_save)
        monkeypatch.setattr("medbridge.deid.runner.encode_file", lambda ds: None)  # use save_as
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        assert summary.results[0].status == "failed"
        assert "disk full" in summary.results[0].reason
        assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []

    def test_interrupted_write_leaves_no_file(self, tmp_path, monkeypatch):
        """Ctrl-C while a file is being written removes the partial file, then stops."""
        _write(build_planted(), tmp_path / "in" / "good.dcm")

        def interrupted(ds):
            raise KeyboardInterrupt

        monkeypatch.setattr("medbridge.deid.runner.encode_file", interrupted)
        with pytest.raises(KeyboardInterrupt):
            anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []

    def test_interrupted_run_leaves_no_partial(self, tmp_path, monkeypatch):
        """Ctrl-C between writing a file and renaming it: the run's partials are removed,
        the outputs settled before stay, and another run's files are left alone."""
        for i in range(3):
            _write(build_planted(sop_uid=f"1.2.3.999.20{i}"), tmp_path / "in" / f"{i}.dcm")
        other = tmp_path / "out" / ".medbridge-otherrun-x.partial"
        other.parent.mkdir(parents=True)
        other.write_bytes(b"another run's")
        renamed = []
        real_replace = os.replace

        def replace(src, dst):
            if renamed:
                raise KeyboardInterrupt
            renamed.append(dst)
            real_replace(src, dst)

        monkeypatch.setattr("medbridge.deid.runner.os.replace", replace)
        with pytest.raises(KeyboardInterrupt):
            anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
        assert files == sorted([Path(renamed[0]), other])

    def test_duplicate_instance_skipped(self, tmp_path):
        """Two inputs holding one instance give one output and a skip naming the first."""
        _write(build_planted(), tmp_path / "in" / "a.dcm")
        _write(build_planted(), tmp_path / "in" / "b.dcm")
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        assert [r.status for r in summary.results] == ["written", "skipped"]
        assert "a.dcm" in summary.results[1].reason


def _nested(depth: int, innermost: bytes) -> bytes:
    """(0008,1115) 'Referenced Series Sequence' nested ``depth`` deep, undefined lengths."""
    opening = struct.pack("<HH2sHI", 0x0008, 0x1115, b"SQ", 0, 0xFFFFFFFF)
    opening += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return opening * depth + innermost + closing * depth


class TestDeepNesting:
    @pytest.mark.parametrize("depth", [50, 400, 5000])
    def test_written_whole_or_not_at_all(self, tmp_path, depth):
        """A deeply nested sequence is de-identified to the bottom, or the file fails whole."""
        ds = build_planted()
        del ds.ReferencedSeriesSequence
        data = _write(ds, tmp_path / "plain.dcm").read_bytes()
        name = b"Deepnestedname^X"
        innermost = struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", len(name)) + name
        at = data.index(b"\x08\x00\x40\x11SQ")  # (0008,1140) follows (0008,1115)
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "deep.dcm").write_bytes(
            data[:at] + _nested(depth, innermost) + data[at:]
        )
        summary = anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        (result,) = summary.results
        files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
        if depth <= 50:
            assert result.status == "written", result.reason
        if depth >= 5000:
            assert result.status == "failed" and "nested more than 50 levels" in result.reason
        if result.status == "written":
            assert files == [Path(result.output)]
            assert b"Deepnested" not in files[0].read_bytes()
        else:
            assert files == [] and result.reason


class TestLinkageMap:
    def test_map_written_only_when_asked(self, tmp_path):
        """The map lists original and pseudonym IDs; without --map nothing is written."""
        _write(build_planted(), tmp_path / "in" / "a.dcm")
        anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        assert [p.suffix for p in (tmp_path / "out").rglob("*") if p.is_file()] == [".dcm"]
        anonymize_paths(
            [tmp_path / "in"],
            tmp_path / "out2",
            Policy(key=KEY),
            jobs=1,
            map_path=tmp_path / "map.csv",
        )
        text = (tmp_path / "map.csv").read_text()
        assert "patient_id,PLANTID-93847,MB" in text
        assert f"sop_instance_uid,1.2.3.999.3,{remap_uid('1.2.3.999.3', KEY)}" in text

    def test_map_inside_output_refused(self, tmp_path):
        """A map inside the output folder is refused before anything is written."""
        _write(build_planted(), tmp_path / "in" / "a.dcm")
        with pytest.raises(DeidentificationError, match="inside the output"):
            anonymize_paths(
                [tmp_path / "in"],
                tmp_path / "out",
                Policy(key=KEY),
                map_path=tmp_path / "out" / "m.csv",
            )
        assert not (tmp_path / "out").exists()

    def test_output_paths_hold_no_input_names(self, tmp_path):
        """Output paths are built from new UIDs; input folder names never reach them."""
        _study(tmp_path, "PAT-1", "1.2.3.4.100", "20190314", series=1, images=1)
        anonymize_paths([tmp_path / "in"], tmp_path / "out", Policy(key=KEY), jobs=1)
        for p in (tmp_path / "out").rglob("*"):
            assert "DOE" not in str(p.relative_to(tmp_path / "out"))


class TestMedia:
    def test_dicomdir_media_folder(self, tmp_path):
        """A CD folder: the DICOMDIRs are skipped, named as such, and nothing they hold
        (names, IDs, UIDs, input paths) reaches the output; every image they list is."""
        media = Path(str(get_testdata_file("DICOMDIR"))).parent
        shutil.copytree(media, tmp_path / "cd")
        summary = anonymize_paths([tmp_path / "cd"], tmp_path / "out", Policy(key=KEY), jobs=1)
        by_source = {Path(r.source).relative_to(tmp_path / "cd"): r for r in summary.results}
        dicomdirs = [p for p in by_source if p.name.startswith("DICOMDIR")]
        assert len(dicomdirs) >= 2 and summary.count("failed") == 0
        for p in dicomdirs:
            assert by_source[p].status == "skipped" and "DICOMDIR" in by_source[p].reason
        index = dcmread(tmp_path / "cd" / "DICOMDIR")
        identity: set[str] = set()
        listed = []
        for record in index.DirectoryRecordSequence:
            if record.DirectoryRecordType == "PATIENT":
                name = str(record.PatientName)
                identity |= {name, *name.split("^"), str(record.PatientID)}
            if record.DirectoryRecordType == "STUDY":
                identity |= {str(record.StudyInstanceUID), str(record.StudyDate)}
            if record.DirectoryRecordType == "IMAGE":
                listed.append(Path(*record.ReferencedFileID))
        assert listed and all(by_source[p].status == "written" for p in listed)
        outputs = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
        assert len(outputs) == summary.count("written")
        folders = {p.parts[0] for p in listed}  # named by Patient ID on this CD
        for path in outputs:
            relative = str(path.relative_to(tmp_path / "out"))
            assert "DICOMDIR" not in relative and not any(f in relative for f in folders)
            data = path.read_bytes()
            assert [v for v in identity if any(s in data for s in spellings(v))] == []


class TestEncapsulatedPixelData:
    @pytest.mark.parametrize("name", ["JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm"])
    def test_copied_unless_masked(self, tmp_path, name):
        """Compressed pixel data is copied as it is; with a mask it is decoded, blanked and
        written uncompressed, the transfer syntax saying so."""
        source = Path(str(get_testdata_file(name)))
        original = dcmread(source)
        copied = anonymize_paths([source], tmp_path / "a", Policy(key=KEY), jobs=1)
        out = dcmread(copied.results[0].output)
        assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert out.PixelData == original.PixelData
        mask = Policy(key=KEY, pixel_mask=(PixelRegion(0, 0, 3, 2),))
        masked = anonymize_paths([source], tmp_path / "b", mask, jobs=1)
        out = dcmread(masked.results[0].output)
        assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        expected = original.pixel_array.copy()
        view = expected if int(original.get("NumberOfFrames", 1) or 1) > 1 else expected[None]
        view[:, 0:2, 0:3] = 0
        assert np.array_equal(out.pixel_array, expected)
        assert "113101" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]

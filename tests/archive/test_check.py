"""Tests of medbridge.archive.check: finding and repairing index/storage mismatches."""

from __future__ import annotations

from pydicom.dataset import Dataset

from archive.factory import Spec, make_bytes
from medbridge.archive import check


def count(archive) -> int:
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    return archive.count(ds)


class TestCheck:
    def test_consistent_archive_is_ok(self, empty_archive):
        """A freshly filled archive has no findings."""
        empty_archive.store(make_bytes(Spec()))
        assert check(empty_archive).ok

    def test_missing_file_is_found_and_row_dropped(self, empty_archive):
        """A row whose file vanished is reported, and repair drops it."""
        empty_archive.store(make_bytes(Spec(number=1)))
        empty_archive.store(make_bytes(Spec(number=2)))
        empty_archive.open(Spec(number=1).sop_uid).unlink()
        report = check(empty_archive)
        assert report.missing_files == [Spec(number=1).sop_uid]
        check(empty_archive, repair=True)
        assert count(empty_archive) == 1
        assert check(empty_archive).ok

    def test_unindexed_file_is_indexed(self, empty_archive):
        """A file written before a crash, without its row, is indexed by repair."""
        data = make_bytes(Spec(number=5))
        storage = empty_archive.storage
        storage.write(storage.relpath_for(Spec().study_uid, Spec(number=5).sop_uid), data)
        report = check(empty_archive)
        assert len(report.unindexed_files) == 1
        assert not check(empty_archive, repair=True).unreadable_files
        assert empty_archive.read(Spec(number=5).sop_uid) == data
        assert check(empty_archive).ok

    def test_changed_file_is_reported(self, empty_archive):
        """A file whose bytes changed is a checksum mismatch; repair re-indexes it."""
        empty_archive.store(make_bytes(Spec()))
        path = empty_archive.open(Spec().sop_uid)
        path.write_bytes(make_bytes(Spec(accession="EDITED")))
        assert check(empty_archive).checksum_mismatches == [Spec().sop_uid]
        check(empty_archive, repair=True)
        assert check(empty_archive).ok

    def test_garbage_file_is_left_for_a_human(self, empty_archive):
        """A file that is not DICOM is reported unreadable and kept."""
        storage = empty_archive.storage
        rel = storage.relpath_for("1.2.9", "1.2.3")
        storage.write(rel, b"garbage")
        report = check(empty_archive, repair=True)
        assert report.unreadable_files == [rel]
        assert storage.path(rel).exists()

    def test_temp_files_are_removed(self, empty_archive):
        """Temporaries of interrupted writes are removed by repair."""
        empty_archive.store(make_bytes(Spec()))
        folder = empty_archive.open(Spec().sop_uid).parent
        (folder / ".x.dcm.0123.tmp").write_bytes(b"half")
        assert len(check(empty_archive).temp_files) == 1
        check(empty_archive, repair=True)
        assert check(empty_archive).ok

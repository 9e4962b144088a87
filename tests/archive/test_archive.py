"""Tests of the Archive facade: store, duplicates, open/read, delete, retrieve selection."""

from __future__ import annotations

import io
import threading

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset

from archive.factory import ROOT, Spec, make_bytes
from medbridge.archive import Archive, DuplicatePolicy, StoreOutcome
from medbridge.errors import ArchiveError, DuplicateInstance, InvalidDicomError


def study_query(uid: str = "") -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = uid
    ds.NumberOfStudyRelatedInstances = None
    ds.NumberOfStudyRelatedSeries = None
    return ds


class TestStore:
    def test_stored_bytes_are_the_received_bytes(self, empty_archive):
        """What is read back is byte for byte what was stored."""
        data = make_bytes(Spec())
        result = empty_archive.store(data)
        assert result.outcome is StoreOutcome.STORED
        assert empty_archive.read(Spec().sop_uid) == data
        assert empty_archive.open(Spec().sop_uid).name == f"{Spec().sop_uid}.dcm"

    def test_identical_resend_is_a_no_op(self, empty_archive):
        """The same bytes again succeed without a second row."""
        data = make_bytes(Spec())
        empty_archive.store(data)
        assert empty_archive.store(data).outcome is StoreOutcome.IDENTICAL
        assert empty_archive.count(study_query()) == 1
        assert next(empty_archive.find(study_query())).NumberOfStudyRelatedInstances == 1

    def test_conflicting_resend_is_refused_under_keep(self, empty_archive):
        """Other content under a stored SOP Instance UID raises DuplicateInstance."""
        original = make_bytes(Spec())
        empty_archive.store(original)
        with pytest.raises(DuplicateInstance, match=Spec().sop_uid):
            empty_archive.store(make_bytes(Spec(description="OTHER")))
        assert empty_archive.read(Spec().sop_uid) == original

    @pytest.mark.parametrize(
        ("syntax", "implicit", "little"),
        [("1.2.840.10008.1.2", True, True), ("1.2.840.10008.1.2.2", False, False)],
        ids=["implicit", "big-endian"],
    )
    def test_same_dataset_in_another_encoding_is_identical(
        self, empty_archive, syntax, implicit, little
    ):
        """The same dataset in another transfer syntax (pixels byte-swapped for big
        endian) is the same instance under either policy: IDENTICAL, stored copy kept."""
        original = make_bytes(Spec())
        empty_archive.store(original)
        ds = dcmread(io.BytesIO(original))
        if not little:
            ds.PixelData = ds.pixel_array.astype(">i2").tobytes()
        ds.file_meta.TransferSyntaxUID = syntax
        buf = io.BytesIO()
        dcmwrite(buf, ds, implicit_vr=implicit, little_endian=little, force_encoding=True)
        assert buf.getvalue() != original
        for policy in DuplicatePolicy:
            result = empty_archive.store(buf.getvalue(), duplicates=policy)
            assert result.outcome is StoreOutcome.IDENTICAL
        assert empty_archive.read(Spec().sop_uid) == original

    def test_other_pixels_in_another_encoding_conflict(self, empty_archive):
        """Big endian with unswapped pixel bytes holds other pixel values: a conflict."""
        original = make_bytes(Spec())
        empty_archive.store(original)
        ds = dcmread(io.BytesIO(original))
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.2"
        buf = io.BytesIO()
        dcmwrite(buf, ds, implicit_vr=False, little_endian=False, force_encoding=True)
        with pytest.raises(DuplicateInstance):
            empty_archive.store(buf.getvalue())

    def test_conflicting_resend_replaces_under_replace(self, empty_archive):
        """Under REPLACE the new content wins, also in the index."""
        empty_archive.store(make_bytes(Spec(number=1)))
        newer = make_bytes(Spec(number=1, accession="NEW"))
        result = empty_archive.store(newer, duplicates=DuplicatePolicy.REPLACE)
        assert result.outcome is StoreOutcome.REPLACED
        assert empty_archive.read(Spec().sop_uid) == newer
        found = list(empty_archive.find(study_query()))
        assert len(found) == 1 and found[0].NumberOfStudyRelatedInstances == 1

    @pytest.mark.parametrize(
        "data",
        [b"", b"\x00" * 128 + b"DICM" + b"\x02\x00", b"not dicom at all" * 10],
        ids=["empty", "truncated-meta", "text"],
    )
    def test_malformed_input_is_refused(self, empty_archive, data):
        """Bytes that do not parse raise InvalidDicomError and store nothing."""
        with pytest.raises(InvalidDicomError):
            empty_archive.store(data)
        assert list(empty_archive.storage.iter_files()) == []

    def test_path_like_uid_is_refused(self, empty_archive):
        """A SOP Instance UID that is not a UID is refused before any write."""
        ds_bytes = make_bytes(Spec()).replace(
            Spec().sop_uid.encode(), ("../" * 10 + "etc/x").encode()
        )
        with pytest.raises(InvalidDicomError, match=r"SOP Instance UID|VR UI"):
            empty_archive.store(ds_bytes)

    def test_expected_uid_must_match(self, empty_archive):
        """The C-STORE request's Affected SOP Instance UID must be the dataset's."""
        with pytest.raises(InvalidDicomError, match="differs"):
            empty_archive.store(make_bytes(Spec()), expect_sop_instance_uid="1.2.3")

    def test_concurrent_stores_keep_counters_exact(self, tmp_path):
        """Eight threads storing into one study leave exact counters."""
        with Archive(tmp_path) as arc:

            def worker(k: int) -> None:
                for n in range(k * 10, k * 10 + 10):
                    arc.store(make_bytes(Spec(series=k % 2 + 1, number=n)))

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ds = next(arc.find(study_query()))
            assert (ds.NumberOfStudyRelatedInstances, ds.NumberOfStudyRelatedSeries) == (80, 2)


class TestDelete:
    def test_delete_removes_file_row_and_empty_parents(self, empty_archive):
        """Deleting the last instance removes its series, study and patient."""
        empty_archive.store(make_bytes(Spec(number=1)))
        empty_archive.store(make_bytes(Spec(number=2)))
        empty_archive.delete(Spec(number=1).sop_uid)
        ds = next(empty_archive.find(study_query()))
        assert ds.NumberOfStudyRelatedInstances == 1
        empty_archive.delete(Spec(number=2).sop_uid)
        assert empty_archive.count(study_query()) == 0
        assert list(empty_archive.storage.iter_files()) == []

    def test_delete_unknown_is_an_error(self, empty_archive):
        """Deleting what is not there says so."""
        with pytest.raises(ArchiveError, match="no instance"):
            empty_archive.delete("1.2.3")


class TestInstances:
    def test_study_selects_all_its_instances(self, filled_archive):
        """A STUDY-level retrieve identifier selects every instance of the study."""
        refs = filled_archive.instances(study_query(f"{ROOT}.1.3"))
        assert len(refs) == 4
        assert all(ref.path.exists() for ref in refs)
        assert {ref.transfer_syntax_uid for ref in refs} == {"1.2.840.10008.1.2.1"}

    def test_series_list_selects_instances(self, filled_archive):
        """A SERIES-level UID list selects the instances of each series."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "SERIES"
        ds.SeriesInstanceUID = f"{ROOT}.2.1.2\\{ROOT}.2.2.1"
        assert len(filled_archive.instances(ds)) == 4


def test_meta_without_preamble_is_stored_as_a_part10_file(empty_archive) -> None:
    """Some DICOMweb clients send parts that begin with the meta group: stored whole."""
    import io

    from pydicom import dcmread

    from archive.factory import Spec, make_bytes

    data = make_bytes(Spec())
    empty_archive.store(data[132:])
    stored = empty_archive.read(Spec().sop_uid)
    assert stored == data
    assert dcmread(io.BytesIO(stored)).SOPInstanceUID == Spec().sop_uid

"""Derived files beside a study: written atomically, named safely, pruned and removed."""

from __future__ import annotations

import pytest

from archive.factory import Spec, make_bytes
from medbridge.archive import Archive
from medbridge.archive.derived import DerivedFiles
from medbridge.errors import StorageError


@pytest.fixture
def archive(tmp_path):
    with Archive(tmp_path / "var", fsync=False) as archive:
        yield archive


class TestDerivedFiles:
    def test_write_read_and_prune(self, archive):
        """Files live under the study's folder; prune keeps only the named versions."""
        derived = DerivedFiles(archive.storage)
        study = Spec().study_uid
        assert derived.read(study, "series-1.2-a.json") is None
        derived.write(study, "series-1.2-a.json", b"[1]")
        derived.write(study, "series-1.2-b.json", b"[2]")
        derived.write(study, "series-1.23-a.json", b"[3]")
        assert derived.read(study, "series-1.2-b.json") == b"[2]"
        assert derived.path(study, "x.json").parent.parent.name == study
        derived.prune(study, "series-1.2-", keep=frozenset({"series-1.2-b.json"}))
        assert derived.read(study, "series-1.2-a.json") is None
        assert derived.read(study, "series-1.23-a.json") == b"[3]"  # another series

    @pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", "", "x" * 300])
    def test_unsafe_names_are_refused(self, archive, name):
        with pytest.raises(StorageError, match="refusing"):
            DerivedFiles(archive.storage).path(Spec().study_uid, name)

    def test_invalid_study_uid_is_refused(self, archive):
        with pytest.raises(StorageError, match=r"not a PS3\.5 9\.1 UID"):
            DerivedFiles(archive.storage).folder("../../etc")

    def test_derived_files_are_not_instances(self, archive):
        """archive check sees no unindexed file in the derived folder."""
        from medbridge.archive import check

        archive.store(make_bytes(Spec()))
        DerivedFiles(archive.storage).write(Spec().study_uid, "inst-1.json", b"{}")
        assert check(archive).ok

    def test_remove_study(self, archive):
        spec = Spec()
        derived = DerivedFiles(archive.storage)
        archive.store(make_bytes(spec))
        derived.write(spec.study_uid, "inst-1.json", b"{}")
        derived.remove_study(spec.study_uid)
        assert not derived.folder(spec.study_uid).exists()
        assert archive.read(spec.sop_uid)  # the instance stays
        archive.delete(spec.sop_uid)
        derived.write(spec.study_uid, "inst-1.json", b"{}")
        derived.remove_study(spec.study_uid)
        assert not derived.folder(spec.study_uid).parent.exists()

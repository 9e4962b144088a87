"""Tests of medbridge.archive.storage: atomic, durable files at validated paths."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from medbridge.archive import FileStorage, is_valid_uid, validate_uid
from medbridge.errors import StorageError


class TestValidateUid:
    @pytest.mark.parametrize("uid", ["1.2.3", "0", "1.2.840.10008.1.2.1", "1." + "2" * 62])
    def test_accepts_valid(self, uid):
        """UIDs of PS3.5 9.1 pass."""
        assert is_valid_uid(uid)
        assert validate_uid(uid + "\x00") == uid

    @pytest.mark.parametrize(
        "uid", ["", "1..2", "1.02", "../../etc/passwd", "1.2.3/4", "1.2.a", "1." + "2" * 63]
    )
    def test_refuses_invalid(self, uid):
        """Leading zeros, empty components, letters, slashes and >64 chars are refused."""
        with pytest.raises(StorageError, match=r"not a PS3\.5 9\.1 UID"):
            validate_uid(uid)


class TestFileStorage:
    def test_write_is_readable_and_hashed(self, tmp_path):
        """A written file holds exactly the bytes, and its digest is reported."""
        storage = FileStorage(tmp_path)
        rel = storage.relpath_for("1.2.9", "1.2.3.4")
        stored = storage.write(rel, [b"abc", b"def"])
        assert storage.read(rel) == b"abcdef"
        assert stored.size == 6
        assert stored.sha256 == hashlib.sha256(b"abcdef").hexdigest()
        assert not list(storage.stray_temp_files())

    def test_path_derives_from_uids(self, tmp_path):
        """A bucket from the SHA-1 of the study UID, the study UID, the SOP UID."""
        storage = FileStorage(tmp_path)
        digest = hashlib.sha1(b"1.2.9").hexdigest()
        assert storage.relpath_for("1.2.9", "1.2.3.4") == f"objects/{digest[:2]}/1.2.9/1.2.3.4.dcm"
        with pytest.raises(StorageError, match="Study Instance UID"):
            storage.relpath_for("1.2.9/..", "1.2.3.4")

    def test_refuses_wire_strings_as_paths(self, tmp_path):
        """A UID that is not a UID never becomes a path."""
        storage = FileStorage(tmp_path)
        with pytest.raises(StorageError):
            storage.relpath_for("1.2.9", "../../x")
        with pytest.raises(StorageError, match="refusing storage path"):
            storage.path("objects/../../etc/passwd")

    def test_replace_is_atomic(self, tmp_path):
        """A second write replaces the first whole; no temporary is left behind."""
        storage = FileStorage(tmp_path)
        rel = storage.relpath_for("1.2.9", "1.2.3")
        storage.write(rel, b"old" * 1000)
        storage.write(rel, b"new")
        assert storage.read(rel) == b"new"
        assert list(storage.iter_files()) == [rel]

    def test_failed_write_leaves_nothing(self, tmp_path):
        """When the folder cannot be created, the error names the file and no file appears."""
        storage = FileStorage(tmp_path)
        rel = storage.relpath_for("1.2.9", "1.2.3")
        (tmp_path / "objects").mkdir()
        (tmp_path / "objects" / rel.split("/")[1]).write_bytes(b"a file, not a folder")
        with pytest.raises(StorageError, match="cannot store"):
            storage.write(rel, b"data")
        assert list(storage.iter_files()) == []

    def test_stray_temp_files_are_found(self, tmp_path):
        """A temporary left by a crash is reported, not listed as an instance."""
        storage = FileStorage(tmp_path)
        folder = tmp_path / "objects" / "aa" / "bb"
        folder.mkdir(parents=True)
        (folder / ".1.2.3.dcm.abcdef.tmp").write_bytes(b"half")
        assert [Path(p).name for p in storage.stray_temp_files()] == [".1.2.3.dcm.abcdef.tmp"]
        assert list(storage.iter_files()) == []

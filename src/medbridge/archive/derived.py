"""Files derived from stored instances, kept beside the study they describe.

WADO-RS ``/metadata`` answers must cost far less than parsing every file of a series
(issue 10: a 400-instance series in a fifth of Orthanc's 152 ms), so each instance's
DICOM JSON and each series' assembled answer are written once and read back after.
They live in the storage, not in process memory, so several nodes sharing one storage
and one index share them too, and the SQLite and PostgreSQL indexes are served alike.

A derived file is a cache: it is named after what it was derived from (an instance's
SHA-256, or a digest of a series' members), so a store, a replacement or a delete
changes the name that is looked up and a stale file is never read. Writes are atomic
(temporary file, rename) but not fsync'ed: a file lost in a crash is derived again.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from medbridge.archive.storage import Storage
from medbridge.errors import StorageError

__all__ = ["DerivedFiles"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_FOLDER = ".derived"


class DerivedFiles:
    """Derived files of each study, under ``objects/<h>/<study>/.derived/``.

    Parameters
    ----------
    storage:
        The archive's storage; the study folders are its own.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def folder(self, study_uid: str) -> Path:
        """Return the folder of `study_uid`'s derived files (validated UID).

        Beside the study's files on a folder storage (shared by the nodes sharing it);
        in the node's cache on an object store (each node derives its own: they are
        named by content, so no node ever reads a stale one).
        """
        relpath = self.storage.relpath_for(study_uid, "0")
        return self.storage.local_root().joinpath(*relpath.split("/")).parent / _FOLDER

    def path(self, study_uid: str, name: str) -> Path:
        """Return where the derived file `name` of `study_uid` lives."""
        if not _NAME_RE.match(name) or ".." in name:
            raise StorageError(f"refusing derived file name {name!r}")
        return self.folder(study_uid) / name

    def read(self, study_uid: str, name: str) -> bytes | None:
        """Return a derived file's bytes, or None when it was never written."""
        try:
            return self.path(study_uid, name).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read derived {name}: {exc.strerror or exc}") from exc

    def write(self, study_uid: str, name: str, data: bytes) -> None:
        """Write a derived file atomically; a failure is logged by the caller, not fatal.

        Raises
        ------
        StorageError
            The folder or the file could not be written.
        """
        final = self.path(study_uid, name)
        tmp = final.with_name(f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(data)
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write derived {name}: {exc.strerror or exc}") from exc

    def prune(self, study_uid: str, prefix: str, *, keep: frozenset[str]) -> None:
        """Remove the derived files of `study_uid` whose name starts with `prefix`,
        except those in `keep` (older versions of an answer that was derived again)."""
        folder = self.folder(study_uid)
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            if name.startswith(prefix) and name not in keep:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()

    def remove_study(self, study_uid: str) -> None:
        """Remove every derived file of `study_uid` (its last instance was deleted).

        Names are keyed by content, so leftovers are never served; this only gives the
        space back, and removes the study folder when nothing else is in it.
        """
        folder = self.folder(study_uid)
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            with contextlib.suppress(OSError):
                (folder / name).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
            folder.parent.rmdir()  # only when empty: instances keep it otherwise

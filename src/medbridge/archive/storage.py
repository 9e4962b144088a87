"""Where the archive's bytes live: local files written atomically and durably.

A C-STORE success may only be sent once the instance survives a crash (DESIGN.md,
principle 2), so every write goes to a temporary file in the destination folder, is
fsync'ed, renamed into place (an atomic replace on POSIX) and the folder is fsync'ed
so the rename itself is durable. A crash at any instant leaves either the old file, the
new file, or a stray ``*.tmp`` that :meth:`FileStorage.stray_temp_files` finds; never a
half-written instance under its final name.

Paths come from validated UIDs (PS3.5 9.1: digits and dots, at most 64 characters) and
a hash of the Study Instance UID that spreads studies over 256 folders; a string from the
wire is never used as a path unchecked (DESIGN.md, principle 7).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from medbridge.errors import StorageError

__all__ = ["FileStorage", "StoredFile", "is_valid_uid", "validate_uid"]

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_TMP_SUFFIX = ".tmp"


def is_valid_uid(value: str) -> bool:
    """Return whether `value` is a UID as PS3.5 section 9.1 defines it.

    Components are digits without leading zeros (except a lone ``0``), separated by
    single dots; the whole is at most 64 characters.
    """
    return 0 < len(value) <= 64 and _UID_RE.match(value) is not None


def validate_uid(value: str, *, name: str = "UID") -> str:
    """Return `value` stripped of padding if it is a valid UID, else raise.

    Raises
    ------
    StorageError
        If the value is not a PS3.5 9.1 UID; the message names the attribute.
    """
    uid = value.strip("\x00 ")
    if not is_valid_uid(uid):
        raise StorageError(f"invalid {name} {value[:80]!r}: not a PS3.5 9.1 UID")
    return uid


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file written by :meth:`FileStorage.write`.

    Attributes
    ----------
    relpath:
        Path relative to the storage root, with ``/`` separators (what the index keeps).
    size:
        Number of bytes written.
    sha256:
        Hex digest of the bytes, kept in the index so ``archive check`` can find rot.
    """

    relpath: str
    size: int
    sha256: str


class FileStorage:
    """Instances as files under one root folder.

    Parameters
    ----------
    root:
        The folder that holds ``objects/``; created if missing (``objects/`` on the
        first write).
    fsync:
        Whether to fsync files and folders. Only tests of unrelated features turn it
        off; without it an acknowledged instance can be lost on power failure.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.objects = self.root / "objects"
        self.root.mkdir(parents=True, exist_ok=True)

    def relpath_for(self, study_instance_uid: str, sop_instance_uid: str) -> str:
        """Return the relative path of an instance: ``objects/<h>/<study>/<sop>.dcm``.

        ``<h>`` is the first two hex digits of the SHA-1 of the Study Instance UID, which
        spreads studies over 256 folders. Instances of a study share one folder, so a
        study costs one folder creation (and its fsync), not one per instance.
        """
        study = validate_uid(study_instance_uid, name="Study Instance UID")
        sop = validate_uid(sop_instance_uid, name="SOP Instance UID")
        digest = hashlib.sha1(study.encode("ascii")).hexdigest()
        return f"objects/{digest[:2]}/{study}/{sop}.dcm"

    def path(self, relpath: str) -> Path:
        """Return the absolute path for a relative path kept in the index."""
        parts = relpath.split("/")
        if relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"refusing storage path {relpath!r}")
        return self.root.joinpath(*parts)

    def write(
        self,
        relpath: str,
        chunks: bytes | list[bytes],
        *,
        sync_dir: bool = True,
        sha256: str | None = None,
    ) -> StoredFile:
        """Write bytes durably under `relpath`, replacing any file there atomically.

        Parameters
        ----------
        relpath:
            From :meth:`relpath_for`.
        chunks:
            The bytes, or a list of pieces written in order (the file meta and the
            dataset as received, without joining them in memory).
        sync_dir:
            Fsync the folder after the rename. A caller that passes False must call
            :meth:`sync_dir` before relying on the file (the archive does it while the
            index commits, overlapping the two waits).
        sha256:
            The hex digest of the bytes when the caller has it already.

        Raises
        ------
        StorageError
            On any OS error; the temporary file is removed and nothing is visible under
            `relpath`.
        """
        final = self.path(relpath)
        pieces = [chunks] if isinstance(chunks, bytes | bytearray | memoryview) else chunks
        digest = hashlib.sha256()
        size = 0
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(6)}{_TMP_SUFFIX}")
        try:
            self._make_dirs(final.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                for piece in pieces:
                    view = memoryview(piece)
                    if sha256 is None:
                        digest.update(view)
                    size += len(view)
                    while view:
                        view = view[os.write(fd, view) :]
                if self.fsync:
                    os.fdatasync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            if self.fsync and sync_dir:
                _fsync_dir(final.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot store {relpath}: {exc.strerror or exc}") from exc
        return StoredFile(relpath=relpath, size=size, sha256=sha256 or digest.hexdigest())

    def sync_dir(self, relpath: str) -> None:
        """Fsync the folder of `relpath`, making a rename into it durable."""
        if self.fsync:
            try:
                _fsync_dir(self.path(relpath).parent)
            except OSError as exc:
                raise StorageError(f"cannot sync folder of {relpath}: {exc}") from exc

    def read(self, relpath: str) -> bytes:
        """Return the bytes stored under `relpath`.

        Raises
        ------
        StorageError
            If the file is missing or unreadable.
        """
        try:
            return self.path(relpath).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read {relpath}: {exc.strerror or exc}") from exc

    def delete(self, relpath: str) -> None:
        """Remove a stored file durably; a missing file is not an error."""
        path = self.path(relpath)
        try:
            path.unlink(missing_ok=True)
            if self.fsync:
                _fsync_dir(path.parent)
        except OSError as exc:
            raise StorageError(f"cannot delete {relpath}: {exc.strerror or exc}") from exc

    def iter_files(self) -> Iterator[str]:
        """Yield the relative path of every stored instance file (not temporaries)."""
        for dirpath, _dirs, files in os.walk(self.objects):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                if name.endswith(".dcm") and not name.startswith("."):
                    yield f"{rel}/{name}"

    def stray_temp_files(self) -> Iterator[Path]:
        """Yield temporary files left by a crash between create and rename."""
        for dirpath, _dirs, files in os.walk(self.objects):
            for name in files:
                if name.endswith(_TMP_SUFFIX):
                    yield Path(dirpath) / name

    @staticmethod
    def sha256_of(data: bytes) -> str:
        """Return the hex SHA-256 of `data` (the digest the index keeps)."""
        return hashlib.sha256(data).hexdigest()

    def _make_dirs(self, folder: Path) -> None:
        """Create `folder` and fsync each new folder's parent so the entry survives."""
        missing: list[Path] = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                continue
            if self.fsync:
                _fsync_dir(new.parent)


def _fsync_dir(folder: Path) -> None:
    """Fsync a folder so a rename or unlink inside it is durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

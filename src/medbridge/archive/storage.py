"""Where the archive's bytes live: the `Storage` contract, and local files.

Two backends keep it: `FileStorage` (a folder, the default) here, and
`medbridge.archive.s3.S3Storage` (an S3-API object store); `open_storage` picks one
from the ``storage_url`` setting. For local files:

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
from typing import IO, Any, Protocol

from medbridge.errors import StorageError

__all__ = [
    "FileStorage",
    "Storage",
    "StoredFile",
    "is_valid_uid",
    "open_storage",
    "relpath_for",
    "study_of",
    "validate_relpath",
    "validate_uid",
]

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


def relpath_for(study_instance_uid: str, sop_instance_uid: str) -> str:
    """Return the relative path of an instance: ``objects/<h>/<study>/<sop>.dcm``.

    ``<h>`` is the first two hex digits of the SHA-1 of the Study Instance UID, which
    spreads studies over 256 folders (or key prefixes). Instances of a study share one
    folder, so a study costs one folder creation (and its fsync), not one per instance.
    Every backend names instances this way, so an archive can move between them.
    """
    study = validate_uid(study_instance_uid, name="Study Instance UID")
    sop = validate_uid(sop_instance_uid, name="SOP Instance UID")
    digest = hashlib.sha1(study.encode("ascii")).hexdigest()
    return f"objects/{digest[:2]}/{study}/{sop}.dcm"


def study_of(relpath: str) -> str:
    """The Study Instance UID a `relpath_for` path names (its third part)."""
    parts = relpath.split("/")
    return parts[2] if len(parts) == 4 else ""


def validate_relpath(relpath: str) -> str:
    """Return `relpath` if it is a plain relative path; refuse ``..``, absolute, empty parts."""
    parts = relpath.split("/")
    if relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"refusing storage path {relpath!r}")
    return relpath


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

    def describe(self) -> str:
        """The folder, for the ready line and messages."""
        return str(self.root)

    def relpath_for(self, study_instance_uid: str, sop_instance_uid: str) -> str:
        """The instance's relative path (module-level `relpath_for`)."""
        return relpath_for(study_instance_uid, sop_instance_uid)

    def path(self, relpath: str) -> Path:
        """Return the absolute path for a relative path kept in the index."""
        return self.root.joinpath(*validate_relpath(relpath).split("/"))

    def local_path(self, relpath: str) -> Path | None:
        """The file's path: readers may open it, or send it with ``sendfile``."""
        return self.path(relpath)

    def local_copy(self, relpath: str, sha256: str | None = None) -> Path:
        """A local file of the instance: here, the stored file itself."""
        return self.path(relpath)

    def local_root(self) -> Path:
        """Where node-local files derived from instances may live: beside the instances."""
        return self.root

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

    def read_range(self, relpath: str, start: int, length: int) -> bytes:
        """Return `length` bytes from offset `start` (fewer at the end of the file)."""
        try:
            with self.path(relpath).open("rb") as f:
                f.seek(start)
                return f.read(max(length, 0))
        except OSError as exc:
            raise StorageError(f"cannot read {relpath}: {exc.strerror or exc}") from exc

    def open(self, relpath: str) -> IO[bytes]:
        """The stored file, opened for reading (the caller closes it)."""
        try:
            return self.path(relpath).open("rb")
        except OSError as exc:
            raise StorageError(f"cannot read {relpath}: {exc.strerror or exc}") from exc

    def iter_chunks(self, relpath: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream the file in chunks without holding it whole."""
        with self.open(relpath) as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def size(self, relpath: str) -> int:
        """The file's size in bytes."""
        try:
            return self.path(relpath).stat().st_size
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

    def stray_temp_files(self) -> Iterator[str]:
        """Yield temporary files left by a crash between create and rename."""
        for dirpath, _dirs, files in os.walk(self.objects):
            for name in files:
                if name.endswith(_TMP_SUFFIX):
                    yield str(Path(dirpath) / name)

    def remove_stray(self, name: str) -> None:
        """Remove a temporary file named by `stray_temp_files`."""
        path = Path(name)
        if path.suffix != _TMP_SUFFIX or self.objects not in path.parents:
            raise StorageError(f"{name} is not a temporary file of {self.objects}")
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot remove {name}: {exc.strerror or exc}") from exc

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


class Storage(Protocol):
    """What the archive needs of a place for bytes; `FileStorage` and `S3Storage` keep it.

    Relative paths come from `relpath_for` and are what the index keeps, so an index
    row means the same object on every backend (``archive migrate`` relies on it).
    """

    def describe(self) -> str: ...
    def relpath_for(self, study_instance_uid: str, sop_instance_uid: str) -> str: ...
    def local_path(self, relpath: str) -> Path | None: ...
    def local_copy(self, relpath: str, sha256: str | None = None) -> Path: ...
    def local_root(self) -> Path: ...
    def write(
        self,
        relpath: str,
        chunks: bytes | list[bytes],
        *,
        sync_dir: bool = True,
        sha256: str | None = None,
    ) -> StoredFile: ...
    def sync_dir(self, relpath: str) -> None: ...
    def read(self, relpath: str) -> bytes: ...
    def read_range(self, relpath: str, start: int, length: int) -> bytes: ...
    def open(self, relpath: str) -> IO[bytes]: ...
    def iter_chunks(self, relpath: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...
    def size(self, relpath: str) -> int: ...
    def delete(self, relpath: str) -> None: ...
    def iter_files(self) -> Iterator[str]: ...
    def stray_temp_files(self) -> Iterator[str]: ...
    def remove_stray(self, name: str) -> None: ...


def open_storage(
    url: str | None, data_dir: str | os.PathLike[str], *, fsync: bool = True, **s3: Any
) -> Storage:
    """The storage a ``storage_url`` names: None or a folder path (``file://`` too) for
    `FileStorage`, ``s3://bucket/prefix`` for `S3Storage` (`s3` gives endpoint_url,
    region, access_key_id, secret_access_key).

    Raises
    ------
    StorageError
        If the URL's scheme is unknown or the store cannot be reached.
    """
    if url is None or url == "":
        return FileStorage(data_dir, fsync=fsync)
    if url.startswith("s3://"):
        from medbridge.archive.s3 import S3Location, S3Storage

        return S3Storage(S3Location.from_url(url, **s3), cache_dir=Path(data_dir) / "cache")
    if url.startswith("file://"):
        return FileStorage(url.removeprefix("file://"), fsync=fsync)
    if "://" in url:
        raise StorageError(f"storage URL {url!r}: use a folder, file://PATH or s3://BUCKET/PREFIX")
    return FileStorage(url, fsync=fsync)

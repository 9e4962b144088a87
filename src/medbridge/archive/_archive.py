"""The `Archive` facade: store, find, open and delete instances.

This is the only object the network layers (``dimse``, ``web``) talk to. It ties the
file storage to the index so that the two agree: a store writes the file durably first
and commits the index row second, so a crash in between leaves an unindexed file that
``archive check`` re-indexes, never an index row without its file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from pydicom.dataset import Dataset
from sqlalchemy.engine import Connection

from medbridge.archive._answers import answer, select_rows, to_dataset
from medbridge.archive._commits import CommitQueue
from medbridge.archive._content import same_content
from medbridge.archive._rows import delete_row, header_values, insert_row, stored_copy
from medbridge.archive.audit import AuditLog
from medbridge.archive.index import (
    Index,
    instance,
)
from medbridge.archive.query import (
    Level,
    QueryModel,
    QuerySpec,
    build_select,
    parse_identifier,
)
from medbridge.archive.search import Page, Search, count, pages, statement
from medbridge.archive.storage import Storage, open_storage, validate_uid
from medbridge.dicom.flat import Element
from medbridge.dicom.part10 import with_preamble
from medbridge.errors import (
    ArchiveError,
    DuplicateInstance,
    InvalidDicomError,
    NotFoundError,
    StorageError,
)

__all__ = ["Archive", "DuplicatePolicy", "InstanceRef", "StoreOutcome", "StoreResult"]

LOGGER = logging.getLogger(__name__)


class DuplicatePolicy(StrEnum):
    """What to do when an instance arrives whose SOP Instance UID is stored already.

    An identical resend (the same dataset, in any transfer syntax) always succeeds and
    changes nothing.
    """

    KEEP = "keep"
    """Keep the stored instance; a resend with other content raises `DuplicateInstance`."""
    REPLACE = "replace"
    """Replace the stored instance with the new content (logged as a warning)."""


class StoreOutcome(StrEnum):
    """What `Archive.store` did."""

    STORED = "stored"
    IDENTICAL = "identical"
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The result of `Archive.store`: durable and indexed when returned."""

    sop_instance_uid: str
    outcome: StoreOutcome
    relpath: str
    size: int


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """One stored instance, as C-MOVE, C-GET and WADO-RS need it.

    `path` is the local file when the storage has one (a folder), None on an object
    store; `relpath` reads it from any storage (``archive.storage.open(relpath)``).
    """

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: Path | None
    size: int
    relpath: str = ""


class Archive:
    """A DICOM archive: files under `data_dir` and an index database.

    Parameters
    ----------
    data_dir:
        Folder holding ``index.sqlite`` with the default index, and ``objects/`` with
        the default storage.
    index_url:
        SQLAlchemy URL of the index; default ``sqlite:///<data_dir>/index.sqlite``.
    duplicates:
        The `DuplicatePolicy` for resends with other content.
    fsync:
        Whether writes are fsync'ed (see `FileStorage`).
    storage_url:
        Where the bytes live: None for ``data_dir`` itself, a folder, or
        ``s3://bucket/prefix`` for an S3-API object store (`open_storage`).
    audit_log:
        The JSON Lines file every door records accesses in (`AuditLog`); None keeps
        no trail.
    s3:
        The object store's ``endpoint_url``, ``region``, ``access_key_id`` and
        ``secret_access_key`` (each None: boto3's standard sources).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        index_url: str | None = None,
        duplicates: DuplicatePolicy | str = DuplicatePolicy.KEEP,
        fsync: bool = True,
        storage_url: str | None = None,
        s3: dict[str, str | None] | None = None,
        audit_log: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.storage: Storage = open_storage(storage_url, self.data_dir, fsync=fsync, **(s3 or {}))
        self.audit = AuditLog(audit_log)
        url = index_url or f"sqlite:///{(self.data_dir / 'index.sqlite').resolve()}"
        try:
            self.index = Index(url)
        except sa.exc.SQLAlchemyError as exc:
            raise ArchiveError(f"cannot open index {url}: {exc}") from exc
        self.duplicates = DuplicatePolicy(duplicates)
        self._uid_locks = [threading.Lock() for _ in range(64)]
        self._syncer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="medbridge-fsync")
        self._commits = CommitQueue(self.index)

    def health(self) -> str:
        """Probe the index and the storage; return "ok" or raise.

        What a load balancer's health check asks: a node whose index or storage is
        unreachable must be taken out of rotation.

        Raises
        ------
        StorageError
            If either cannot be reached.
        """
        try:
            with self.index.read() as conn:
                conn.execute(sa.select(sa.literal(1))).scalar_one()
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"index unreachable: {exc}") from exc
        for _ in self.storage.iter_files():
            break  # one listing call: the storage answers
        return "ok"

    def close(self) -> None:
        """Release the index connections and close the audit trail."""
        self._syncer.shutdown(wait=True)
        self.audit.close()
        self.index.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- store ---------------------------------------------------------------------

    def store(
        self,
        data: bytes,
        *,
        duplicates: DuplicatePolicy | None = None,
        expect_sop_instance_uid: str | None = None,
    ) -> StoreResult:
        """Store one instance given as DICOM Part 10 bytes, exactly as received.

        When this returns, the file is fsync'ed and renamed into place and its index row
        is committed, so a C-STORE success may be sent (DESIGN.md, principle 2).

        Parameters
        ----------
        data:
            Preamble, file meta information and dataset (PS3.10 7.1), as
            ``pynetdicom``'s ``Event.encoded_dataset()`` returns them.
        duplicates:
            Overrides the archive's policy for this call.
        expect_sop_instance_uid:
            The UID the dataset must carry: a C-STORE request's (0000,1000) 'Affected
            SOP Instance UID' (PS3.7 9.1.1.1), which must equal the dataset's.

        Raises
        ------
        InvalidDicomError
            The bytes are not a dataset with valid Study, Series and SOP Instance UIDs
            and a SOP Class UID.
        DuplicateInstance
            Same SOP Instance UID stored with other content, under the KEEP policy.
        StorageError
            The file could not be written.
        """
        data = with_preamble(data)
        values = header_values(data)
        sop_uid = values["SOPInstanceUID"]
        expected = expect_sop_instance_uid
        if expected is not None and expected.strip("\x00 ") != sop_uid:
            raise InvalidDicomError(
                f"(0008,0018) 'SOP Instance UID' {sop_uid} differs from the request's "
                f"Affected SOP Instance UID {expect_sop_instance_uid}"
            )
        policy = duplicates or self.duplicates
        digest = hashlib.sha256(data).hexdigest()
        relpath = self.storage.relpath_for(values["StudyInstanceUID"], sop_uid)
        lock = self._uid_locks[hash(sop_uid) % len(self._uid_locks)]
        with lock, self.index.uid_lock(sop_uid):
            with self.index.read() as conn:
                old = stored_copy(conn, sop_uid)
            if old is not None:
                if old.sha256 == digest or self._same_as_stored(old.relpath, data):
                    return StoreResult(sop_uid, StoreOutcome.IDENTICAL, relpath, len(data))
                if policy is DuplicatePolicy.KEEP:
                    raise DuplicateInstance(sop_uid)
            # fsync(file), rename; then fsync(folder) overlaps the index commit
            stored = self.storage.write(relpath, data, sync_dir=False, sha256=digest)
            synced = self._syncer.submit(self.storage.sync_dir, relpath)

            def write_rows(conn: Connection) -> None:
                if old is not None:
                    delete_row(conn, sop_uid)
                insert_row(conn, values, stored.relpath, stored.size, stored.sha256)

            try:  # committed together with the rows of concurrent stores
                self._commits.run(write_rows)
            except sa.exc.SQLAlchemyError as exc:
                raise StorageError(f"cannot index {sop_uid}: {exc}") from exc
            finally:
                synced.result()
            if old is not None and old.relpath != relpath:
                self.storage.delete(old.relpath)  # the study changed: the old path is stale
        if old is not None:
            LOGGER.warning("replaced instance %s with different content", sop_uid)
            return StoreResult(sop_uid, StoreOutcome.REPLACED, relpath, stored.size)
        return StoreResult(sop_uid, StoreOutcome.STORED, relpath, stored.size)

    def _same_as_stored(self, relpath: str, data: bytes) -> bool:
        """Whether `data` holds the stored copy's dataset in another encoding.

        A resend in another transfer syntax (storescu converts big endian, a router may
        add group lengths) is the same instance, not "other content" (`same_content`).
        """
        try:
            stored = self.storage.read(relpath)
        except StorageError:
            return False  # the stored file is gone: `archive check` reports it
        return same_content(stored, data)

    # -- find ----------------------------------------------------------------------

    def find(
        self, identifier: Dataset, *, model: QueryModel | str = QueryModel.STUDY_ROOT
    ) -> Iterator[Dataset]:
        """Yield the C-FIND response identifiers matching a request identifier.

        Each response holds (0008,0052) 'Query/Retrieve Level', (0008,0005) 'Specific
        Character Set' (UTF-8) and every key of the request: indexed values, computed
        keys (PS3.4 C.6.1.1.2-C.6.2.1.2) and, at IMAGE level, other keys read from the
        stored file. Keys the archive does not know come back empty (PS3.4 C.4.1.1.3.2).

        Raises
        ------
        ArchiveError
            If the identifier's level is missing or invalid for `model`.
        """
        for elements in self.find_elements(identifier, model=model):
            yield to_dataset(elements)

    def find_elements(
        self, identifier: Dataset, *, model: QueryModel | str = QueryModel.STUDY_ROOT
    ) -> Iterator[list[Element]]:
        """`find`, each response as ``(tag, VR, value)`` elements sorted by tag.

        What the DIMSE C-FIND service encodes without building pydicom datasets
        (`medbridge.dicom.flat`); see `find` for the contents.

        Raises
        ------
        ArchiveError
            If the identifier's level is missing or invalid for `model`.
        """
        spec = parse_identifier(identifier, QueryModel(model))
        with self.index.read() as conn:
            rows, extras = select_rows(conn, spec)
        keys = frozenset(rows[0].keys()) if rows else frozenset()
        for row in rows:
            yield answer(spec, row, extras, self.storage, keys)

    def count(self, identifier: Dataset, *, model: QueryModel | str = QueryModel.STUDY_ROOT) -> int:
        """Return how many entities a request identifier matches."""
        spec = parse_identifier(identifier, QueryModel(model))
        stmt = sa.select(sa.func.count()).select_from(build_select(spec).subquery())
        with self.index.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def search(self, search: Search, *, page_size: int = 1000) -> Generator[Page, None, None]:
        """Yield the rows of a QIDO-style search a page at a time (`medbridge.archive.search`).

        One read connection is held while the generator runs, so close it (or run it to
        the end) promptly; the rows come from one cursor, never all in memory.

        Raises
        ------
        QueryError
            A matching value the index cannot compare.
        """
        with self.index.read() as conn:
            yield from pages(conn, search, size=page_size)

    def search_count(self, search: Search) -> int:
        """How many entities a search matches, whatever its limit and offset."""
        with self.index.read() as conn:
            return count(conn, search)

    # -- retrieve ------------------------------------------------------------------

    def instances(
        self, identifier: Dataset, *, model: QueryModel | str = QueryModel.STUDY_ROOT
    ) -> list[InstanceRef]:
        """Return the stored instances a C-MOVE or C-GET identifier selects.

        The identifier's unique keys (PS3.4 C.4.2.2.1) select patients, studies, series or
        instances at its level; every instance below them is returned.
        """
        spec = parse_identifier(identifier, QueryModel(model))
        image_spec = QuerySpec(Level.IMAGE, spec.matches, spec.return_keys)
        stmt = build_select(image_spec)
        with self.index.read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [
            InstanceRef(
                sop_instance_uid=r["SOPInstanceUID"],
                sop_class_uid=r["SOPClassUID"],
                transfer_syntax_uid=r["transfer_syntax_uid"],
                path=self.storage.local_path(r["relpath"]),
                size=r["size"],
                relpath=r["relpath"],
            )
            for r in rows
        ]

    def locate(self, sop_instance_uid: str) -> str:
        """Return the storage-relative path of a stored instance (any backend).

        Raises
        ------
        NotFoundError
            If no instance has this SOP Instance UID.
        """
        uid = validate_uid(sop_instance_uid, name="SOP Instance UID")
        with self.index.read() as conn:
            relpath = conn.execute(
                sa.select(instance.c.relpath).where(instance.c.sop_instance_uid == uid)
            ).scalar_one_or_none()
        if relpath is None:
            raise NotFoundError(f"no instance with SOP Instance UID {uid}")
        return str(relpath)

    def open(self, sop_instance_uid: str) -> Path:
        """Return the local path of a stored instance's file.

        Raises
        ------
        NotFoundError
            If no instance has this SOP Instance UID.
        StorageError
            If the storage keeps no local files (an object store): use `read` or
            ``storage.open(locate(uid))``.
        """
        relpath = self.locate(sop_instance_uid)
        path = self.storage.local_path(relpath)
        if path is None:
            raise StorageError(f"{self.storage.describe()} keeps no local files")
        return path

    def read(self, sop_instance_uid: str) -> bytes:
        """Return the stored bytes of an instance, exactly as received."""
        return self.storage.read(self.locate(sop_instance_uid))

    def delete(self, sop_instance_uid: str) -> None:
        """Remove an instance: its index row first, then its file.

        Empty series, studies and patients are removed with their last instance.

        Raises
        ------
        ArchiveError
            If no instance has this SOP Instance UID.
        """
        uid = validate_uid(sop_instance_uid, name="SOP Instance UID")
        with self.index.write() as conn:
            relpath = delete_row(conn, uid)
        if relpath is None:
            raise NotFoundError(f"no instance with SOP Instance UID {uid}")
        self.storage.delete(relpath)

    def delete_matching(self, matches: tuple[tuple[str, str], ...]) -> list[str]:
        """Remove every instance the unique keys `matches` select; return their SOP UIDs.

        `matches` are ``(keyword, uid)`` pairs of StudyInstanceUID, SeriesInstanceUID and
        SOPInstanceUID (a study, a series of that study, an instance of that series). The
        index rows go in one transaction, then the files; emptied series, studies and
        patients go with their last instance.

        Raises
        ------
        NotFoundError
            If nothing matches.
        """
        for keyword, uid in matches:
            validate_uid(uid, name=keyword)
        select = statement(Search(Level.IMAGE, matches, ("SOPInstanceUID",)))
        with self.index.read() as conn:
            uids = [str(row[1]) for row in conn.execute(select)]
        if not uids:
            named = ", ".join(f"{keyword} {uid}" for keyword, uid in matches)
            raise NotFoundError(f"no instance with {named}")
        relpaths: list[str] = []
        deleted: list[str] = []
        with self.index.write() as conn:
            for uid in uids:
                relpath = delete_row(conn, uid)
                if relpath is not None:
                    relpaths.append(relpath)
                    deleted.append(uid)
        for relpath in relpaths:
            self.storage.delete(relpath)
        return deleted

    def index_file(self, relpath: str, conn: Connection) -> None:
        """Index a stored file in `conn`'s transaction (used by repair)."""
        data = self.storage.read(relpath)
        values = header_values(data)
        expected = self.storage.relpath_for(values["StudyInstanceUID"], values["SOPInstanceUID"])
        if expected != relpath:
            raise StorageError(f"{relpath} holds {values['SOPInstanceUID']}, not its own UID")
        delete_row(conn, values["SOPInstanceUID"])
        insert_row(conn, values, relpath, len(data), hashlib.sha256(data).hexdigest())

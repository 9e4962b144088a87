"""The archive's index: four tables for the four levels of the DICOM information model.

PS3.4 C.6.1 (Patient Root) and C.6.2 (Study Root) describe the model the index mirrors:
patient → study → series → instance. Each table keeps the attributes that C-FIND
matches on (the required and common optional keys of PS3.4 C.6.1.1) as plain columns,
so a query is one indexed SQL statement. Counters of related series and instances are
kept on the study and series rows, updated in the same transaction as the instance row,
so the computed return keys (NumberOfStudyRelatedInstances, ...) cost nothing at query
time.

SQLite in WAL mode with ``synchronous=FULL`` is the default: a commit is on disk when it
returns, which is what lets a C-STORE success follow it. PostgreSQL (psycopg 3) is used
when the URL says so; several nodes may then share one index.

Person names are also kept upper-cased (``*_upper`` columns) because PS3.4 C.2.2.2.1
lets an SCP match PN case-insensitively, and medbridge does; and as a fuzzy key
(``*_fuzzy``: accents removed, upper-cased, one word per name component, see
`medbridge.archive.names`) for QIDO-RS ``fuzzymatching=true`` (PS3.18 8.3.4.6), so that
matching stays plain SQL ``LIKE`` on SQLite and PostgreSQL alike.

The image-level attributes QIDO-RS returns for every instance (PS3.18 Table 10.6.3-5:
Rows, Columns, Bits Allocated, Number of Frames) are columns too, so a series' instances
are listed without opening their files. Indexes made before a column existed get it
added on open (`Index` adds missing columns; old rows keep it empty until ``archive
check --repair`` re-indexes them).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "IMAGE_COLUMNS",
    "PATIENT_COLUMNS",
    "SERIES_COLUMNS",
    "STUDY_COLUMNS",
    "Index",
    "instance",
    "metadata",
    "patient",
    "series",
    "study",
]

metadata = sa.MetaData()

patient = sa.Table(
    "patient",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.String(64), nullable=False, unique=True),
    sa.Column("patient_name", sa.String(324), nullable=False, default=""),
    sa.Column("patient_name_upper", sa.String(324), nullable=False, default=""),
    sa.Column("patient_name_fuzzy", sa.String(400), nullable=False, default=""),
    sa.Column("patient_birth_date", sa.String(8), nullable=False, default=""),
    sa.Column("patient_sex", sa.String(16), nullable=False, default=""),
)

study = sa.Table(
    "study",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("patient_pk", sa.ForeignKey("patient.pk"), nullable=False, index=True),
    sa.Column("study_instance_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("study_date", sa.String(8), nullable=False, default="", index=True),
    sa.Column("study_time", sa.String(16), nullable=False, default=""),
    sa.Column("accession_number", sa.String(16), nullable=False, default="", index=True),
    sa.Column("study_id", sa.String(16), nullable=False, default=""),
    sa.Column("study_description", sa.String(64), nullable=False, default=""),
    sa.Column("referring_physician_name", sa.String(324), nullable=False, default=""),
    sa.Column("referring_physician_name_upper", sa.String(324), nullable=False, default=""),
    sa.Column("referring_physician_name_fuzzy", sa.String(400), nullable=False, default=""),
    sa.Column("num_series", sa.Integer, nullable=False, default=0),
    sa.Column("num_instances", sa.Integer, nullable=False, default=0),
)

series = sa.Table(
    "series",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("study_pk", sa.ForeignKey("study.pk"), nullable=False, index=True),
    sa.Column("series_instance_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("modality", sa.String(16), nullable=False, default="", index=True),
    sa.Column("series_number", sa.Integer, nullable=True),
    sa.Column("series_description", sa.String(64), nullable=False, default=""),
    sa.Column("series_date", sa.String(8), nullable=False, default=""),
    sa.Column("series_time", sa.String(16), nullable=False, default=""),
    sa.Column("body_part_examined", sa.String(16), nullable=False, default=""),
    sa.Column("num_instances", sa.Integer, nullable=False, default=0),
)

instance = sa.Table(
    "instance",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("series_pk", sa.ForeignKey("series.pk"), nullable=False, index=True),
    sa.Column("sop_instance_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("sop_class_uid", sa.String(64), nullable=False),
    sa.Column("instance_number", sa.Integer, nullable=True),
    sa.Column("rows", sa.Integer, nullable=True),
    sa.Column("columns", sa.Integer, nullable=True),
    sa.Column("bits_allocated", sa.Integer, nullable=True),
    sa.Column("number_of_frames", sa.Integer, nullable=True),
    sa.Column("transfer_syntax_uid", sa.String(64), nullable=False),
    sa.Column("relpath", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
)

sa.Index("ix_patient_name_upper", patient.c.patient_name_upper)

#: The indexed attributes of each level: DICOM keyword → column. The order is the
#: order a C-FIND response lists them in, and what ``Archive.store`` extracts.
PATIENT_COLUMNS: dict[str, sa.Column[Any]] = {
    "PatientID": patient.c.patient_id,
    "PatientName": patient.c.patient_name,
    "PatientBirthDate": patient.c.patient_birth_date,
    "PatientSex": patient.c.patient_sex,
}
STUDY_COLUMNS: dict[str, sa.Column[Any]] = {
    "StudyInstanceUID": study.c.study_instance_uid,
    "StudyDate": study.c.study_date,
    "StudyTime": study.c.study_time,
    "AccessionNumber": study.c.accession_number,
    "StudyID": study.c.study_id,
    "StudyDescription": study.c.study_description,
    "ReferringPhysicianName": study.c.referring_physician_name,
}
SERIES_COLUMNS: dict[str, sa.Column[Any]] = {
    "SeriesInstanceUID": series.c.series_instance_uid,
    "Modality": series.c.modality,
    "SeriesNumber": series.c.series_number,
    "SeriesDescription": series.c.series_description,
    "SeriesDate": series.c.series_date,
    "SeriesTime": series.c.series_time,
    "BodyPartExamined": series.c.body_part_examined,
}
IMAGE_COLUMNS: dict[str, sa.Column[Any]] = {
    "SOPInstanceUID": instance.c.sop_instance_uid,
    "SOPClassUID": instance.c.sop_class_uid,
    "InstanceNumber": instance.c.instance_number,
    "Rows": instance.c.rows,
    "Columns": instance.c.columns,
    "BitsAllocated": instance.c.bits_allocated,
    "NumberOfFrames": instance.c.number_of_frames,
}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Set WAL, durable commits and a busy timeout on each new SQLite connection."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Index:
    """A connection to the index database, SQLite or PostgreSQL.

    Parameters
    ----------
    url:
        An SQLAlchemy URL: ``sqlite:///path/index.sqlite`` (the default of
        ``medbridge serve``) or ``postgresql+psycopg://user@host:port/db``.

    Notes
    -----
    SQLite allows one writer at a time; writes from the association threads are
    serialised by a lock here instead of by SQLite's busy loop, which would otherwise
    turn contention into "database is locked" failures. PostgreSQL needs no lock: row
    locks and ``ON CONFLICT`` upserts let several processes write side by side.
    """

    def __init__(self, url: str) -> None:
        self.url = sa.engine.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 8
            # a store holds one connection for its cluster-wide UID lock (uid_lock) while
            # it writes; one per concurrent association or request, beyond the pool's 8
            kwargs["max_overflow"] = 64
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._create_tables()

    def _create_tables(self) -> None:
        """Create missing tables; nodes starting together on one PostgreSQL may race.

        PostgreSQL's CREATE TABLE is not idempotent under concurrency (two nodes can both
        see the table missing, and the second fails on a catalog unique key), so a failed
        attempt is retried once, when the other node's tables are there to be found.
        """
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except sa.exc.SQLAlchemyError:
            if self.is_sqlite:
                raise
            metadata.create_all(self.engine, checkfirst=True)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Add the columns of this schema an older index lacks (nullable or defaulted).

        Fuzzy person-name keys are filled in from the names; the image attributes stay
        empty until ``archive check --repair`` re-reads the files.
        """
        from medbridge.archive.names import fuzzy_key

        inspector = sa.inspect(self.engine)
        added: list[sa.Column[Any]] = []
        with self.engine.begin() as conn:
            for table in metadata.sorted_tables:
                have = {c["name"] for c in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name in have:
                        continue
                    kind = column.type.compile(dialect=self.engine.dialect)
                    tail = "" if column.nullable else " NOT NULL DEFAULT ''"
                    conn.execute(
                        sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{tail}')
                    )
                    added.append(column)
            for column in added:
                if not column.name.endswith("_fuzzy"):
                    continue
                table = column.table
                source = table.c[column.name.removesuffix("_fuzzy")]
                for pk, name in conn.execute(sa.select(table.c.pk, source)).all():
                    conn.execute(
                        table.update()
                        .where(table.c.pk == pk)
                        .values({column.name: fuzzy_key(name)})
                    )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Yield a connection in a transaction that is committed when the block ends."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def uid_lock(self, uid: str) -> Iterator[None]:
        """Hold a lock on one SOP Instance UID across every node sharing this index.

        Two nodes storing the same UID at once would both find it absent, both write
        the object and both insert the row: one would fail on the unique key and the
        object could hold the loser's bytes. Under this lock (a PostgreSQL advisory
        lock, held by a transaction so it can never outlive its holder) the second
        store sees the first one's committed row and follows the duplicate policy.
        SQLite is one node's file: the archive's in-process lock is enough there.
        """
        if self.is_sqlite:
            yield
            return
        digest = hashlib.blake2b(uid.encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection for reading."""
        with self.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


# the accounts' and workflow services' tables share this metadata, so Index creates them
from medbridge.archive import accounts, workflow_tables  # noqa: E402, F401

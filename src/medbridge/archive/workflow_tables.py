"""The index tables of the workflow services: worklist, MPPS, storage commitment, print.

They live in the archive's index (the same SQLite or PostgreSQL database as the four
levels of `medbridge.archive.index`, on the same ``metadata``), so they survive a
restart or a kill -9 exactly as stored instances do: a DIMSE success is sent only after
the row is committed.

Each table keeps as columns what is matched or listed (PS3.4 K.6.1.2 matching keys of
the worklist; the states of MPPS and commitments) and the whole item as DICOM JSON
(PS3.18 F), which the answers are built from.
"""

from __future__ import annotations

import sqlalchemy as sa

from medbridge.archive.index import metadata

__all__ = ["commitment", "mpps", "mwl_step", "performed_series", "print_film", "print_object"]

#: One Scheduled Procedure Step of the Modality Worklist (PS3.4 K.6.1, PS3.3 C.4.10).
mwl_step = sa.Table(
    "mwl_step",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("study_instance_uid", sa.String(64), nullable=False),
    sa.Column("step_id", sa.String(16), nullable=False),
    sa.Column("requested_procedure_id", sa.String(16), nullable=False, default=""),
    sa.Column("accession_number", sa.String(16), nullable=False, default="", index=True),
    sa.Column("patient_id", sa.String(64), nullable=False, default="", index=True),
    sa.Column("patient_name", sa.String(324), nullable=False, default=""),
    sa.Column("patient_name_upper", sa.String(324), nullable=False, default=""),
    sa.Column("station_ae", sa.String(16), nullable=False, default=""),
    sa.Column("station_name", sa.String(16), nullable=False, default=""),
    sa.Column("modality", sa.String(16), nullable=False, default=""),
    sa.Column("start_date", sa.String(8), nullable=False, default=""),
    sa.Column("start_time", sa.String(16), nullable=False, default=""),
    sa.Column("physician_upper", sa.String(324), nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False, default="SCHEDULED", index=True),
    sa.Column("mpps_uid", sa.String(64), nullable=True),
    sa.Column("dataset", sa.Text, nullable=False),
    # the same item encoded (Explicit VR Little Endian), what C-FIND answers are cut from
    sa.Column("encoded", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("study_instance_uid", "step_id", name="uq_mwl_step"),
)
sa.Index("ix_mwl_station_date", mwl_step.c.station_ae, mwl_step.c.start_date)
sa.Index("ix_mwl_date", mwl_step.c.start_date)
sa.Index("ix_mwl_name_upper", mwl_step.c.patient_name_upper)

#: One Modality Performed Procedure Step SOP Instance (PS3.4 F.7, PS3.3 B.17).
mpps = sa.Table(
    "mpps",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("sop_instance_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("calling_ae", sa.String(16), nullable=False, default=""),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

#: The series a completed MPPS reports, linked to the scheduled step it performed.
performed_series = sa.Table(
    "performed_series",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("mpps_uid", sa.String(64), nullable=False, index=True),
    sa.Column("step_pk", sa.Integer, nullable=True, index=True),
    sa.Column("study_instance_uid", sa.String(64), nullable=False, default=""),
    sa.Column("series_instance_uid", sa.String(64), nullable=False),
    sa.Column("num_instances", sa.Integer, nullable=False, default=0),
)

#: One Storage Commitment request (PS3.4 J.3), pending until its N-EVENT-REPORT is sent.
commitment = sa.Table(
    "commitment",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("transaction_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("calling_ae", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
)

#: Film sessions, film boxes and image boxes of Print Management (PS3.4 H.4).
print_object = sa.Table(
    "print_object",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("sop_instance_uid", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("parent_uid", sa.String(64), nullable=True, index=True),
    sa.Column("position", sa.Integer, nullable=True),
    sa.Column("calling_ae", sa.String(16), nullable=False, default=""),
    sa.Column("dataset", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: A printed film: the files a film box was rendered to under ``data_dir/print/``.
print_film = sa.Table(
    "print_film",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("film_box_uid", sa.String(64), nullable=False, index=True),
    sa.Column("film_session_uid", sa.String(64), nullable=False),
    sa.Column("calling_ae", sa.String(16), nullable=False, default=""),
    sa.Column("layout", sa.String(64), nullable=False),
    sa.Column("orientation", sa.String(16), nullable=False),
    sa.Column("color", sa.Boolean, nullable=False, default=False),
    sa.Column("png", sa.String(255), nullable=False),
    sa.Column("pdf", sa.String(255), nullable=False),
    sa.Column("images", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

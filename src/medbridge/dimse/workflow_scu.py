"""SCU side of the workflow services: worklist query, MPPS and storage commitment.

What ``medbridge worklist query``, ``medbridge mpps`` and ``medbridge commit`` call,
against any peer (medbridge, Orthanc, a RIS). Each opens one association and raises
`ArchiveError` naming the peer when it is refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.events import Event

from medbridge.dimse.commitment import STORAGE_COMMITMENT_INSTANCE, STORAGE_COMMITMENT_PUSH
from medbridge.dimse.mpps import MPPS_SOP_CLASS
from medbridge.dimse.scu import Peer, _associate, dicom_files
from medbridge.dimse.worklist import MODALITY_WORKLIST_FIND
from medbridge.errors import ArchiveError, InvalidDicomError

__all__ = [
    "CommitOutcome",
    "commit",
    "mpps_create",
    "mpps_set",
    "references_of",
    "worklist_query",
]


def worklist_query(peer: Peer, identifier: Dataset) -> list[Dataset]:
    """C-FIND on the Modality Worklist model (PS3.4 K); the matching items.

    Raises
    ------
    ArchiveError
        If the peer answers with a failure status.
    """
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(MODALITY_WORKLIST_FIND)
    answers: list[Dataset] = []
    with _associate(ae, peer) as assoc:
        for status, ds in assoc.send_c_find(identifier, MODALITY_WORKLIST_FIND):
            code = int(status.get("Status", 0xFFFF)) if status else 0xFFFF
            if code in (0xFF00, 0xFF01) and ds is not None:
                answers.append(ds)
            elif code != 0x0000:
                raise ArchiveError(f"worklist C-FIND failed with status 0x{code:04X}")
    return answers


def mpps_create(peer: Peer, ds: Dataset, uid: str | None = None) -> tuple[int, str]:
    """N-CREATE an MPPS (PS3.4 F.7.2.1); returns (status, SOP Instance UID)."""
    uid = uid or generate_uid()
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(MPPS_SOP_CLASS)
    with _associate(ae, peer) as assoc:
        status, _reply = assoc.send_n_create(ds, MPPS_SOP_CLASS, uid)
    if not status:
        raise ArchiveError(f"no N-CREATE response from {peer.ae_title}@{peer.host}:{peer.port}")
    return int(status.Status), uid


def mpps_set(peer: Peer, uid: str, changes: Dataset) -> int:
    """N-SET an MPPS (PS3.4 F.7.2.2); returns the status."""
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(MPPS_SOP_CLASS)
    with _associate(ae, peer) as assoc:
        status, _reply = assoc.send_n_set(changes, MPPS_SOP_CLASS, uid)
    if not status:
        raise ArchiveError(f"no N-SET response from {peer.ae_title}@{peer.host}:{peer.port}")
    return int(status.Status)


def references_of(paths: list[Path]) -> list[tuple[str, str]]:
    """(SOP Class UID, SOP Instance UID) of each DICOM file under `paths`.

    Raises
    ------
    InvalidDicomError
        If a file is not DICOM.
    """
    refs = []
    for path in dicom_files(paths):
        try:
            ds = dcmread(
                path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"]
            )
            refs.append((str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
        except Exception as exc:
            raise InvalidDicomError(f"not a DICOM instance: {exc}", path=path) from None
    return refs


@dataclass
class CommitOutcome:
    """A commitment's report: action status, committed and failed instances, and how."""

    action_status: int
    transaction_uid: str
    committed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, int]] = field(default_factory=list)
    reported: bool = False
    same_association: bool = False


def _take_report(event: Event, outcome: CommitOutcome, done: threading.Event) -> tuple[int, None]:
    info = event.event_information
    if str(info.get("TransactionUID", "")) != outcome.transaction_uid:
        return 0x0000, None  # another request's report
    for item in info.get("ReferencedSOPSequence", []):
        outcome.committed.append(
            (str(item.ReferencedSOPClassUID), str(item.ReferencedSOPInstanceUID))
        )
    for item in info.get("FailedSOPSequence", []):
        outcome.failed.append(
            (
                str(item.ReferencedSOPClassUID),
                str(item.ReferencedSOPInstanceUID),
                int(item.get("FailureReason", 0x0110)),
            )
        )
    outcome.reported = True
    done.set()
    return 0x0000, None


def commit(
    peer: Peer,
    references: list[tuple[str, str]],
    *,
    listen_port: int | None = None,
    timeout: float = 60.0,
) -> CommitOutcome:
    """Request storage commitment (PS3.4 J.3.2) and wait for the report.

    The report is taken on the request's association while it stays open, or, with
    `listen_port`, on an association the peer opens to us there (the peer must know our
    AE title and that port, e.g. Orthanc's ``DicomModalities``).
    """
    outcome = CommitOutcome(action_status=0xFFFF, transaction_uid=generate_uid())
    done = threading.Event()
    server = None
    if listen_port is not None:
        listener = AE(ae_title=peer.calling_ae_title)
        listener.add_supported_context(STORAGE_COMMITMENT_PUSH, scu_role=True, scp_role=True)
        server = listener.start_server(
            ("", listen_port),
            block=False,
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, _take_report, [outcome, done])],
        )
    try:
        ae = AE(ae_title=peer.calling_ae_title)
        ae.add_requested_context(STORAGE_COMMITMENT_PUSH)
        info = Dataset()
        info.TransactionUID = outcome.transaction_uid
        items = []
        for sop_class, sop_uid in references:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_uid
            items.append(item)
        info.ReferencedSOPSequence = items
        handlers = [(evt.EVT_N_EVENT_REPORT, _take_report, [outcome, done])]
        with _associate(ae, peer, evt_handlers=handlers) as assoc:
            status, _reply = assoc.send_n_action(
                info, 1, STORAGE_COMMITMENT_PUSH, STORAGE_COMMITMENT_INSTANCE
            )
            outcome.action_status = int(status.Status) if status else 0xFFFF
            if outcome.action_status != 0x0000:
                return outcome
            # keep the association open a moment: the SCP may report on it
            if done.wait(min(timeout, 5.0 if listen_port is not None else timeout)):
                outcome.same_association = True
        if not done.is_set() and listen_port is not None:
            done.wait(timeout)
        return outcome
    finally:
        if server is not None:
            server.shutdown()

"""pynetdicom event handlers of the DIMSE services; each one calls `Archive` only.

Bound as ``(evt.EVT_C_STORE, handle_store, [archive])`` by `handlers_for`. A handler
never raises: archive errors become the failure statuses of PS3.4 (and pynetdicom turns
any other exception into 0xC211/0xC311/..., its ``attempt`` wrapper), so one bad request
fails alone and the association and the server go on (DESIGN.md, principle 3).

Statuses used (PS3.4 B.2.3 for C-STORE, C.4.1.1.4 C-FIND, C.4.2.1.5 C-MOVE,
C.4.3.1.4 C-GET; PS3.7 C.4 general):

======  ===============================================================
0x0000  success: the instance is durable and indexed (or was, identically)
0xB000  warning, coercion of data elements: a resend with other content under a
        stored SOP Instance UID, the stored copy kept (policy ``keep``)
0xA700  out of resources: the file or the index row could not be written
0xA900  identifier does not match SOP class (bad Query/Retrieve Level)
0xA801  move destination unknown
0xC000  cannot understand: the dataset does not parse or lacks its UIDs
0xFE00  cancelled (C-CANCEL)
0xFF00  pending: one more match, or sub-operations continue
======  ===============================================================

Why 0xB000 for a conflicting resend: PS3.4 B.2.3 lists no duplicate status for C-STORE
(0x0111 "Duplicate SOP Instance" belongs to N-CREATE, PS3.7 C.4, and DCMTK prints it as
"Unknown Status", which modalities treat as a failed send and retry). Under ``keep`` the
archive answers for this SOP Instance UID with element values other than the ones just
sent, which is what "Coercion of Data Elements" (B000, PS3.4 B.4.1.3) tells a sender:
stored, but not as you sent it. B007 would claim the data set does not match the SOP
Class, and B006 that some elements were dropped while the rest was stored; neither is
what happened.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext, build_context

from medbridge.archive import Archive, InstanceRef, QueryModel, answer_dataset
from medbridge.archive.audit import AuditEvent, Outcome
from medbridge.archive.storage import study_of
from medbridge.dicom import read_dataset
from medbridge.dicom.flat import Element, NotFlat, encode_flat
from medbridge.dicom.part10 import file_meta_prefix
from medbridge.dimse._direct import DirectResponder
from medbridge.dimse._tcp import tune_association_socket
from medbridge.dimse.worklist import MODALITY_WORKLIST_FIND, handle_worklist_find
from medbridge.errors import (
    ArchiveError,
    DuplicateInstance,
    InvalidDicomError,
    MedbridgeError,
    StorageError,
)
from medbridge.server.config import ServerConfig

__all__ = [
    "error_comment",
    "handle_echo",
    "handle_find",
    "handle_get",
    "handle_move",
    "handle_open",
    "handle_requested",
    "handle_store",
    "handlers_for",
]

LOGGER = logging.getLogger(__name__)

#: Patient Root Query/Retrieve Information Model FIND, MOVE, GET (PS3.4 C.6.1.3).
_PATIENT_ROOT = {
    "1.2.840.10008.5.1.4.1.2.1.1",
    "1.2.840.10008.5.1.4.1.2.1.2",
    "1.2.840.10008.5.1.4.1.2.1.3",
}


def _failure(status: int, comment: str) -> Dataset:
    """Return a status dataset with (0000,0902) 'Error Comment' (`error_comment`)."""
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = error_comment(comment)
    return ds


#: (0000,0902) 'Error Comment' is LO: at most 64 characters (PS3.7 C.4, PS3.5 6.2).
_COMMENT_LENGTH = 64
_UID_TOKEN = re.compile(r"\s*\b\d+(?:\.\d+){2,}\b")


def error_comment(text: str) -> str:
    """`text` as an Error Comment: ASCII, at most 64 characters, never cut inside a word.

    The full message goes to the log; the comment keeps the reason. UIDs go first when
    the text is too long (a UID cut short reads as another, valid-looking UID), then
    words from the end, marked with "...".
    """
    flat = " ".join(text.encode("ascii", "replace").decode().split())
    if len(flat) <= _COMMENT_LENGTH:
        return flat
    flat = " ".join(_UID_TOKEN.sub("", flat).split())
    if len(flat) <= _COMMENT_LENGTH:
        return flat
    cut = flat[: _COMMENT_LENGTH - 3].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "..."


def _peer(event: Event) -> str:
    req = event.assoc.requestor
    return f"{req.ae_title}@{req.address}:{req.port}"


def _caller(event: Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _audit(
    event: Event,
    archive: Archive,
    kind: AuditEvent,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    studies: Iterable[str] = (),
    detail: str | None = None,
    user: str | None = None,
) -> None:
    """One audit-trail line for a DIMSE request: the caller's AE title and address."""
    archive.audit.record(
        kind,
        door="dimse",
        user=user or _caller(event),
        outcome=outcome,
        address=str(event.assoc.requestor.address),
        studies=studies,
        detail=detail,
    )


def _not_allowed(event: Event, archive: Archive, config: ServerConfig, service: str) -> bool:
    """Whether the caller lacks `service` (its ``role``/``services``); logged, audited."""
    if config.may(_caller(event), service):
        return False
    LOGGER.warning("%s from %s refused: the AE may not %s", service, _peer(event), service)
    _audit(
        event,
        archive,
        AuditEvent.SECURITY_ALERT,
        outcome=Outcome.MINOR_FAILURE,
        detail=f"{service} refused: not among the AE's services",
    )
    return True


def _studies_of(refs: list[InstanceRef]) -> set[str]:
    return {study_of(ref.relpath) for ref in refs}


def handle_open(event: Event) -> None:
    """EVT_CONN_OPEN, of associations we accept and of those we request: TCP tuning.

    End TCP's per-message stall (``TCP_NODELAY``, re-armed quick ACKs: senders with
    Nagle's algorithm on, such as storescu, and DCMTK receivers that write a response in
    pieces would otherwise wait ~40 ms per message) and let the DUL reactor wait for
    data instead of polling (see `medbridge.dimse._tcp`). pynetdicom fires this event
    before the reactor reads; for a requestor, in its DUL thread while connecting.
    """
    tune_association_socket(event.assoc)


def handle_requested(event: Event, config: ServerConfig, archive: Archive) -> None:
    """EVT_REQUESTED: refuse callers the config does not admit (`ServerConfig.admits`).

    The rejection is permanent, from the service user, "calling AE title not
    recognized" (PS3.8 9.3.4, result 1, source 1, reason 3), the answer DCMTK and
    Orthanc give too; a call to another AE title than ours, when the config checks it
    (`ServerConfig.checks_called_ae`), gets reason 7, "called AE title not recognized".
    """
    req = event.assoc.requestor
    title = str(getattr(req.primitive, "calling_ae_title", "") or "").strip()
    called = str(getattr(req.primitive, "called_ae_title", "") or "").strip()
    if config.checks_called_ae and called != config.ae_title:
        LOGGER.warning(
            "association from %s@%s:%s refused: it called AE title %r, ours is %r",
            title,
            req.address,
            req.port,
            called,
            config.ae_title,
        )
        _audit(
            event,
            archive,
            AuditEvent.SECURITY_ALERT,
            outcome=Outcome.MINOR_FAILURE,
            user=title,
            detail=f"association refused: called AE title {called!r}",
        )
        _reject(event, 0x07)
        return
    if config.admits(title, req.address):
        return
    _audit(
        event,
        archive,
        AuditEvent.SECURITY_ALERT,
        outcome=Outcome.MINOR_FAILURE,
        user=title,
        detail="association refused: not a known AE from its host",
    )
    LOGGER.warning(
        "association from %s@%s:%s refused: not a known AE from its host",
        title,
        req.address,
        req.port,
    )
    _reject(event, 0x03)


def _reject(event: Event, reason: int) -> None:
    """Send A-ASSOCIATE-RJ (permanent, service user, `reason`) and wait until it is out.

    pynetdicom closes the socket as soon as the handler returns; without waiting for the
    DUL to send the PDU the caller sees an abort instead of the reason (as pynetdicom's
    own rejections do, ``acse._negotiate_as_acceptor``: reject, then ``kill``).
    """
    event.assoc.acse.send_reject(0x01, 0x01, reason)
    event.assoc.kill()


def handle_echo(event: Event) -> int:
    """C-ECHO (PS3.7 9.1.5): always 0x0000, the association itself is the answer."""
    return 0x0000


def handle_store(event: Event, archive: Archive, config: ServerConfig) -> int | Dataset:
    """C-STORE SCP (PS3.4 B.2): store the dataset exactly as received.

    Returns 0x0000 only after `Archive.store` has returned, i.e. after the file is
    fsync'ed, renamed into place and its index row committed. Each outcome is logged,
    successes at INFO (one line: SOP Instance UID, caller, stored/identical/replaced).
    """
    sop_uid = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
    if _not_allowed(event, archive, config, "store"):
        return _failure(0x0124, "this AE may not store here")
    try:
        data = _part10(event)
        result = archive.store(data, expect_sop_instance_uid=sop_uid)
    except InvalidDicomError as exc:
        LOGGER.error("C-STORE %s from %s refused: %s", sop_uid, _peer(event), exc)
        return _failure(0xC000, exc.reason)
    except DuplicateInstance:
        LOGGER.warning(
            "C-STORE %s from %s: other content under a stored SOP Instance UID; "
            "the stored copy is kept (duplicates = keep), answered 0xB000",
            sop_uid,
            _peer(event),
        )
        return _failure(0xB000, "already stored with other content; stored copy kept")
    except StorageError as exc:
        LOGGER.error("C-STORE %s from %s not stored: %s", sop_uid, _peer(event), exc)
        return _failure(0xA700, "could not store the instance")
    except MedbridgeError as exc:  # any other refusal of ours: a reason, not a traceback
        LOGGER.error("C-STORE %s from %s refused: %s", sop_uid, _peer(event), exc)
        return _failure(0xC000, str(exc))
    LOGGER.info("C-STORE %s from %s: %s", sop_uid, _peer(event), result.outcome)
    _audit(
        event,
        archive,
        AuditEvent.INSTANCES_TRANSFERRED,
        studies=(study_of(result.relpath),),
        detail=f"C-STORE {sop_uid}: {result.outcome}",
    )
    return 0x0000


def _part10(event: Event) -> bytes:
    """The received dataset as a Part 10 file, as pynetdicom's ``encoded_dataset()``.

    Same bytes (pynetdicom's implementation UID and version name in the File Meta
    Information), encoded without building a pydicom ``FileMetaDataset``.
    """
    request = cast(C_STORE, event.request)
    dataset = request.DataSet
    if not isinstance(dataset, io.BytesIO):
        raise InvalidDicomError("the C-STORE request carries no dataset")
    try:
        prefix = file_meta_prefix(
            sop_class_uid=str(request.AffectedSOPClassUID),
            sop_instance_uid=str(request.AffectedSOPInstanceUID),
            transfer_syntax_uid=str(event.context.transfer_syntax),
            implementation_class_uid=PYNETDICOM_IMPLEMENTATION_UID,
            implementation_version_name=PYNETDICOM_IMPLEMENTATION_VERSION,
        )
    except NotFlat:
        raise InvalidDicomError("the request's SOP Class or Instance UID is not ASCII") from None
    with dataset.getbuffer() as view:
        return b"".join((prefix, view))


def _model(event: Event) -> QueryModel:
    if getattr(event.request, "AffectedSOPClassUID", "") in _PATIENT_ROOT:
        return QueryModel.PATIENT_ROOT
    return QueryModel.STUDY_ROOT


def handle_find(
    event: Event, archive: Archive, config: ServerConfig
) -> Iterator[tuple[int | Dataset, Dataset | None]]:
    """C-FIND SCP (PS3.4 C.4.1): one pending response per match, then success.

    Patient Root or Study Root follows the request's Affected SOP Class UID. Pending
    responses are written directly to the connection where `DirectResponder` can
    (plain TCP, little endian syntaxes); pynetdicom sends the others and the final one.
    A query on the Modality Worklist model goes to `medbridge.dimse.worklist`.
    """
    if getattr(event.request, "AffectedSOPClassUID", "") == MODALITY_WORKLIST_FIND:
        yield from handle_worklist_find(event, archive, config)
        return
    if _not_allowed(event, archive, config, "find"):
        yield _failure(0x0124, "this AE may not query here"), None
        return
    try:
        identifier = event.identifier
        answers = list(archive.find_elements(identifier, model=_model(event)))
    except ArchiveError as exc:
        LOGGER.error("C-FIND from %s refused: %s", _peer(event), exc)
        yield _failure(0xA900, str(exc)), None  # the reason travels as Error Comment
        return
    except Exception as exc:  # a damaged identifier fails to decode
        LOGGER.error("C-FIND from %s: cannot decode identifier: %s", _peer(event), exc)
        yield 0xC310, None
        return
    LOGGER.info("C-FIND from %s: %d matches", _peer(event), len(answers))
    asked = str(getattr(identifier, "StudyInstanceUID", "") or "")
    _audit(
        event,
        archive,
        AuditEvent.QUERY,
        studies=[u for u in asked.split("\\") if u],
        detail=f"C-FIND {getattr(identifier, 'QueryRetrieveLevel', '')}: {len(answers)} matches",
    )
    retrieve_ae: Element = (_RETRIEVE_AE_TITLE, "AE", config.ae_title)
    direct = DirectResponder.for_event(event)
    try:
        for found in answers:
            if event.is_cancelled:
                if direct is not None:
                    direct.flush()
                yield 0xFE00, None
                return
            elements = [e for e in found if e[0] != _RETRIEVE_AE_TITLE]
            elements.append(retrieve_ae)
            if direct is not None:
                encoded = _encode_answer(elements, explicit_vr=direct.explicit_vr)
                if encoded is not None and direct.fits(encoded):
                    direct.pending(encoded)
                    continue
                direct.flush()  # what pynetdicom sends must follow what was written
            yield 0xFF00, answer_dataset(sorted(elements))
        if direct is not None:
            direct.flush()
    except OSError as exc:
        LOGGER.error("C-FIND from %s: connection lost: %s", _peer(event), exc)


#: (0008,0054) 'Retrieve AE Title': where the matches can be retrieved from (us).
_RETRIEVE_AE_TITLE = 0x00080054


def _encode_answer(elements: list[Element], *, explicit_vr: bool) -> bytes | None:
    """The identifier's bytes: medbridge's flat encoder, else pydicom's writer."""
    try:
        return encode_flat(elements, explicit_vr=explicit_vr)
    except NotFlat:
        return encode(answer_dataset(sorted(elements)), not explicit_vr, True, False)


def _select(event: Event, archive: Archive) -> list[InstanceRef] | Dataset:
    """Return the instances a C-MOVE/C-GET selects, or a failure status dataset."""
    try:
        return archive.instances(event.identifier, model=_model(event))
    except ArchiveError as exc:
        LOGGER.error("retrieve from %s refused: %s", _peer(event), exc)
        return _failure(0xA900, str(exc))


def _refusal(status: Dataset) -> Iterator[Any]:
    """The yields that make pynetdicom send a refused retrieve's failure `status`.

    pynetdicom answers Success, with no further yield read, whenever a C-MOVE or C-GET
    handler announces 0 sub-operations (``service_class._get_scp``, ``_move_scp``); a
    failure status reaches the caller only after a non-zero count. So one sub-operation
    is announced and the failure (with its Error Comment) ends it; pynetdicom reports
    that announced sub-operation as failed (PS3.4 C.4.2.1.5 allows the counts with a
    failure). For C-MOVE pynetdicom first associates with the destination.
    """
    identifier = Dataset()
    identifier.FailedSOPInstanceUIDList = []
    yield 1
    yield status, identifier


def _sub_operations(
    event: Event, archive: Archive, refs: list[InstanceRef]
) -> Iterator[tuple[int, Dataset | None]]:
    """Yield one pending (status, dataset) per instance; cancelled stops with 0xFE00."""
    for ref in refs:
        if event.is_cancelled:
            yield 0xFE00, None
            return
        try:
            ds = read_dataset(archive.storage.read(ref.relpath), name=ref.relpath)
        except (InvalidDicomError, MedbridgeError, OSError) as exc:  # missing or damaged
            LOGGER.error("cannot read %s for retrieve: %s", ref.relpath, exc)
            # pynetdicom counts a pending yield without a Dataset as a failed sub-operation
            yield 0xFF00, ref.sop_instance_uid  # type: ignore[misc]
            continue
        yield 0xFF00, ds


def _storage_contexts(refs: list[InstanceRef]) -> list[PresentationContext]:
    """Return contexts for the stored (SOP class, transfer syntax) pairs.

    At most 128, the limit of PS3.8 9.3.2.2 (presentation context IDs are odd bytes).
    """
    wanted: dict[str, list[str]] = {}
    for ref in refs:
        syntaxes = wanted.setdefault(ref.sop_class_uid, [])
        if ref.transfer_syntax_uid not in syntaxes:
            syntaxes.append(ref.transfer_syntax_uid)
    contexts: list[PresentationContext] = []
    for sop_class, syntaxes in wanted.items():
        for ts in syntaxes:
            if len(contexts) < 128:
                contexts.append(build_context(sop_class, [ts]))
        native: list[str] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
        if len(contexts) < 128 and not set(syntaxes) & set(native):
            contexts.append(build_context(sop_class, native))
    return contexts


def handle_move(event: Event, archive: Archive, config: ServerConfig) -> Iterator[Any]:
    """C-MOVE SCP (PS3.4 C.4.2): send the selected instances to a configured AE.

    The destination must be one of the config's known AEs; otherwise 0xA801.
    """
    destination = (event.move_destination or "").strip()
    if _not_allowed(event, archive, config, "move"):
        yield None, None  # pynetdicom answers 0xA801; the log and the trail say why
        return
    known = config.known_ae(destination)
    if known is None:
        LOGGER.error("C-MOVE from %s: unknown destination %r", _peer(event), destination)
        yield None, None
        return
    refs = _select(event, archive)
    if isinstance(refs, Dataset):
        # pynetdicom associates with the destination before it reads the failure
        verification = [build_context("1.2.840.10008.1.1")]
        yield known.host, known.port, {"ae_title": known.ae_title, "contexts": verification}
        yield from _refusal(refs)
        return
    kwargs: dict[str, Any] = {"contexts": _storage_contexts(refs) or None}
    if not refs:
        kwargs = {}
    kwargs["ae_title"] = known.ae_title
    kwargs["evt_handlers"] = [(evt.EVT_CONN_OPEN, handle_open)]
    yield known.host, known.port, kwargs
    LOGGER.info("C-MOVE from %s: %d instances to %s", _peer(event), len(refs), destination)
    _audit(
        event,
        archive,
        AuditEvent.BEGIN_TRANSFERRING,
        studies=_studies_of(refs),
        detail=f"C-MOVE of {len(refs)} instances to {destination}",
    )
    yield len(refs)
    yield from _sub_operations(event, archive, refs)


def handle_get(event: Event, archive: Archive, config: ServerConfig) -> Iterator[Any]:
    """C-GET SCP (PS3.4 C.4.3): send the selected instances back on the same association.

    The caller must have proposed the storage classes with SCP role selection
    (PS3.7 D.3.3.4); pynetdicom fails the sub-operations of classes it did not.
    """
    if _not_allowed(event, archive, config, "get"):
        yield from _refusal(_failure(0x0124, "this AE may not retrieve here"))
        return
    refs = _select(event, archive)
    if isinstance(refs, Dataset):
        yield from _refusal(refs)
        return
    LOGGER.info("C-GET from %s: %d instances", _peer(event), len(refs))
    _audit(
        event,
        archive,
        AuditEvent.BEGIN_TRANSFERRING,
        studies=_studies_of(refs),
        detail=f"C-GET of {len(refs)} instances",
    )
    yield len(refs)
    yield from _sub_operations(event, archive, refs)


def handlers_for(archive: Archive, config: ServerConfig) -> list[Any]:
    """Return the ``(event, handler, args)`` bindings for ``AE.start_server``."""
    return [
        (evt.EVT_CONN_OPEN, handle_open),
        (evt.EVT_REQUESTED, handle_requested, [config, archive]),
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_C_STORE, handle_store, [archive, config]),
        (evt.EVT_C_FIND, handle_find, [archive, config]),
        (evt.EVT_C_MOVE, handle_move, [archive, config]),
        (evt.EVT_C_GET, handle_get, [archive, config]),
    ]

"""DIMSE SCU helpers: echo, send, find, move and get against any PACS.

What the CLI commands call. Each opens one association, does its work and releases it;
a refused or aborted association raises `ArchiveError` naming the peer. Files are sent
as they are stored (pynetdicom reads the encoded dataset from the file without decoding
it), with one presentation context per (SOP class, transfer syntax) found in the files.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, StoragePresentationContexts, _config, build_role, evt
from pynetdicom.association import Association
from pynetdicom.events import Event

from medbridge.archive import QueryModel, validate_uid
from medbridge.archive.storage import FileStorage
from medbridge.dicom import read_dataset
from medbridge.dimse.handlers import handle_open
from medbridge.errors import ArchiveError, StorageError

__all__ = ["Peer", "RetrieveResult", "SendResult", "echo", "find", "get", "move", "send"]

LOGGER = logging.getLogger(__name__)

_FIND = {
    QueryModel.PATIENT_ROOT: "1.2.840.10008.5.1.4.1.2.1.1",
    QueryModel.STUDY_ROOT: "1.2.840.10008.5.1.4.1.2.2.1",
}
_MOVE = {
    QueryModel.PATIENT_ROOT: "1.2.840.10008.5.1.4.1.2.1.2",
    QueryModel.STUDY_ROOT: "1.2.840.10008.5.1.4.1.2.2.2",
}
_GET = {
    QueryModel.PATIENT_ROOT: "1.2.840.10008.5.1.4.1.2.1.3",
    QueryModel.STUDY_ROOT: "1.2.840.10008.5.1.4.1.2.2.3",
}


@dataclass(frozen=True)
class Peer:
    """A remote AE to call.

    Attributes
    ----------
    host, port:
        Where it listens.
    ae_title:
        Its AE title (Called AE Title).
    calling_ae_title:
        Ours (Calling AE Title).
    max_pdu:
        Largest PDU we accept; 0 means no limit.
    tls:
        A client TLS context, or None for plain TCP.
    """

    host: str
    port: int
    ae_title: str = "ANY-SCP"
    calling_ae_title: str = "MEDBRIDGE"
    max_pdu: int = 0
    tls: ssl.SSLContext | None = None


@dataclass
class SendResult:
    """What `send` did: instances accepted, and (path, reason) of each failure."""

    sent: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class RetrieveResult:
    """Sub-operation counts of a C-MOVE or C-GET (PS3.4 C.4.2.1.5), and files received."""

    status: int = 0
    completed: int = 0
    failed: int = 0
    warning: int = 0
    received: list[Path] = field(default_factory=list)


@contextmanager
def _associate(ae: AE, peer: Peer, **kwargs: Any) -> Iterator[Association]:
    ae.maximum_pdu_size = peer.max_pdu
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    tls_args = (peer.tls, peer.host) if peer.tls is not None else None
    handlers = [*kwargs.pop("evt_handlers", []), (evt.EVT_CONN_OPEN, handle_open)]
    assoc = ae.associate(
        peer.host,
        peer.port,
        ae_title=peer.ae_title,
        tls_args=tls_args,
        evt_handlers=handlers,
        **kwargs,
    )
    if not assoc.is_established:
        raise ArchiveError(
            f"association with {peer.ae_title}@{peer.host}:{peer.port} "
            f"{'rejected' if assoc.is_rejected else 'failed'}"
        )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def echo(peer: Peer) -> int:
    """Send a C-ECHO (PS3.7 9.1.5) and return its status (0x0000 when the peer is up)."""
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context("1.2.840.10008.1.1")
    with _associate(ae, peer) as assoc:
        status = assoc.send_c_echo()
    if "Status" not in status:
        raise ArchiveError(f"no C-ECHO response from {peer.ae_title}@{peer.host}:{peer.port}")
    return int(status.Status)


def dicom_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield the files under each path (folders recursively), sorted, hidden ones skipped."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield path


def send(peer: Peer, paths: Iterable[Path]) -> SendResult:
    """C-STORE each DICOM file under `paths` to `peer`, as stored (no re-encoding).

    Files that are not DICOM Part 10 are reported in ``failed`` and skipped.
    """
    result = SendResult()
    todo: list[tuple[Path, str, str]] = []
    for path in dicom_files(paths):
        try:
            meta = read_file_meta_info(path)
            todo.append((path, str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)))
        except Exception as exc:  # not DICOM: report and go on
            result.failed.append((path, f"not a DICOM file: {exc}"))
    pairs = list(dict.fromkeys((c, t) for _p, c, t in todo))
    # 128 contexts per association (PS3.8 9.3.2.2); more pairs need more associations
    for start in range(0, len(pairs), 64):
        batch = set(pairs[start : start + 64])
        ae = AE(ae_title=peer.calling_ae_title)
        for sop_class in dict.fromkeys(c for c, _t in batch):
            for ts in dict.fromkeys(t for c, t in batch if c == sop_class):
                ae.add_requested_context(sop_class, [ts])
            if not {t for c, t in batch if c == sop_class} & {ExplicitVRLittleEndian}:
                ae.add_requested_context(
                    sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
                )
        with _associate(ae, peer) as assoc:
            for path, sop_class, ts in todo:
                if (sop_class, ts) not in batch:
                    continue
                try:
                    status = _store_file(assoc, path)
                except (ValueError, AttributeError) as exc:
                    result.failed.append((path, str(exc)))
                    continue
                code = int(status.get("Status", 0xFFFF))
                if code in (0x0000, 0xB000, 0xB007, 0xB006):
                    result.sent += 1
                else:
                    comment = status.get("ErrorComment", "")
                    result.failed.append((path, f"status 0x{code:04X} {comment}".strip()))
                if not assoc.is_established:
                    raise ArchiveError(f"association with {peer.ae_title} lost after {path}")
    return result


def _store_file(assoc: Association, path: Path) -> Dataset:
    """C-STORE one file: its bytes as stored, else re-encoded into an accepted syntax.

    pynetdicom sends a file's dataset straight from the file, in chunks, only with its
    STORE_SEND_CHUNKED_DATASET setting; otherwise it decodes the whole file with pydicom
    and encodes it again, which costs most of a send and may change the bytes. Re-encoding
    is kept for the peer that accepted the SOP class only in another uncompressed syntax.
    """
    previous = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        return assoc.send_c_store(path)
    except ValueError:  # no accepted context in the file's own transfer syntax
        pass
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = previous
    return assoc.send_c_store(read_dataset(path))


def find(
    peer: Peer, identifier: Dataset, *, model: QueryModel = QueryModel.STUDY_ROOT
) -> list[Dataset]:
    """Send a C-FIND (PS3.4 C.4.1) and return the pending responses' identifiers.

    Raises
    ------
    ArchiveError
        If the peer answers with a failure status.
    """
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(_FIND[model])
    answers: list[Dataset] = []
    with _associate(ae, peer) as assoc:
        for status, ds in assoc.send_c_find(identifier, _FIND[model]):
            code = int(status.get("Status", 0xFFFF)) if status else 0xFFFF
            if code in (0xFF00, 0xFF01) and ds is not None:
                answers.append(ds)
            elif code != 0x0000:
                raise ArchiveError(f"C-FIND failed with status 0x{code:04X}")
    return answers


def _retrieve_result(responses: Iterable[tuple[Dataset, Dataset | None]]) -> RetrieveResult:
    result = RetrieveResult(status=0xFFFF)
    for status, _ds in responses:
        if not status:
            raise ArchiveError("no response to the retrieve request")
        result.status = int(status.Status)
        result.completed = int(status.get("NumberOfCompletedSuboperations", result.completed))
        result.failed = int(status.get("NumberOfFailedSuboperations", result.failed))
        result.warning = int(status.get("NumberOfWarningSuboperations", result.warning))
    return result


def move(
    peer: Peer, identifier: Dataset, destination: str, *, model: QueryModel = QueryModel.STUDY_ROOT
) -> RetrieveResult:
    """Send a C-MOVE (PS3.4 C.4.2) asking `peer` to send the matches to `destination`."""
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(_MOVE[model])
    with _associate(ae, peer) as assoc:
        return _retrieve_result(assoc.send_c_move(identifier, destination, _MOVE[model]))


def get(
    peer: Peer,
    identifier: Dataset,
    out_dir: Path,
    *,
    model: QueryModel = QueryModel.STUDY_ROOT,
    sop_classes: Iterable[str] | None = None,
) -> RetrieveResult:
    """Send a C-GET (PS3.4 C.4.3) and write each instance received into `out_dir`.

    Storage classes are proposed with SCP role selection (PS3.7 D.3.3.4): by default the
    127 most common (pynetdicom's list, one context per class, any transfer syntax);
    `sop_classes` narrows them. Files are named by their validated SOP Instance UID and
    written durably, as received.
    """
    storage = FileStorage(out_dir)
    received: list[Path] = []
    classes = (
        list(sop_classes)
        if sop_classes is not None
        else [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    )
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(_GET[model])
    roles = []
    for uid in classes[:127]:
        ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        roles.append(build_role(uid, scp_role=True))

    def on_store(event: Event) -> int:
        try:
            uid = validate_uid(
                str(getattr(event.request, "AffectedSOPInstanceUID", "")), name="SOP Instance UID"
            )
            path = out_dir / f"{uid}.dcm"
            storage.write(path.name, event.encoded_dataset())
        except StorageError as exc:
            LOGGER.error("C-GET: cannot store received instance: %s", exc)
            return 0xA700
        received.append(path)
        return 0x0000

    with _associate(ae, peer, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
        result = _retrieve_result(assoc.send_c_get(identifier, _GET[model]))
    result.received = received
    return result

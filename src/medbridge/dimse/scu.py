"""DIMSE SCU helpers: echo, send, find, move and get against any PACS.

What the CLI commands call. Each opens one association, does its work and releases it;
a refused or aborted association raises `ArchiveError` naming the peer. Files are sent
as they are stored (pynetdicom reads the encoded dataset from the file without decoding
it), with one presentation context per (SOP class, transfer syntax) found in the files.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from medbridge.dicom.transfer import RetrieveResult, SendResult, dicom_files
from medbridge.dimse.handlers import handle_open
from medbridge.errors import ArchiveError, StorageError

__all__ = [
    "Peer",
    "RetrieveResult",
    "SendResult",
    "dicom_files",
    "echo",
    "find",
    "get",
    "move",
    "not_sendable_reason",
    "send",
]

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


class _Reasons(logging.Handler):
    """Collects pynetdicom's ERROR records while we associate: the only place it says
    why a connection failed ("Connection refused") or what a rejection's reason was."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def reason(self) -> str:
        """The peer's answer or the socket error, in pynetdicom's words, or ''."""
        for line in self.lines:
            if line.startswith("TCP Initialisation Error: "):
                return line.removeprefix("TCP Initialisation Error: ")
        wanted = ("Result: ", "Reason: ")
        return "; ".join(line for line in self.lines if line.startswith(wanted))


def _where(peer: Peer) -> str:
    return f"{peer.ae_title}@{peer.host}:{peer.port}"


@contextmanager
def _associate(ae: AE, peer: Peer, **kwargs: Any) -> Iterator[Association]:
    """An established association with `peer`, released at the end.

    Raises
    ------
    ArchiveError
        The port is out of range, the host does not resolve, the connection fails or
        the peer rejects or aborts the association; the message names the peer and why.
    """
    if not 0 < peer.port < 65536:
        raise ArchiveError(f"port {peer.port} of {peer.host} is not in 1-65535")
    ae.maximum_pdu_size = peer.max_pdu
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    tls_args = (peer.tls, peer.host) if peer.tls is not None else None
    handlers = [*kwargs.pop("evt_handlers", []), (evt.EVT_CONN_OPEN, handle_open)]
    reasons = _Reasons()
    pynetdicom_log = logging.getLogger("pynetdicom")
    pynetdicom_log.addHandler(reasons)
    try:
        assoc = ae.associate(
            peer.host,
            peer.port,
            ae_title=peer.ae_title,
            tls_args=tls_args,
            evt_handlers=handlers,
            **kwargs,
        )
    except (OSError, UnicodeError) as exc:  # socket.gaierror: the name does not resolve
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ArchiveError(f"cannot reach {peer.host}: {detail}") from exc
    finally:
        pynetdicom_log.removeHandler(reasons)
    if not assoc.is_established:
        why = reasons.reason()
        if assoc.is_rejected:
            what = "rejected the association"
        elif why and not reasons.lines[0].startswith("Association request failed"):
            what = "aborted the association"
        else:
            what = "cannot be reached"
        raise ArchiveError(f"{_where(peer)} {what}{': ' + why if why else ''}")
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


def send(
    peer: Peer,
    paths: Iterable[Path],
    *,
    on_file: Callable[[Path], None] | None = None,
) -> SendResult:
    """C-STORE each DICOM file under `paths` to `peer`, as stored (no re-encoding).

    Files that are not DICOM Part 10 are reported in ``failed`` with the reason `ls`
    gives and skipped; a warning status (0xB000, 0xB006, 0xB007: stored, but not
    exactly as sent) counts as sent and is listed in ``warnings``. `on_file` is called
    once per file, sent or not (a progress bar's tick).

    Raises
    ------
    ArchiveError
        The peer cannot be reached or refuses the association (nothing was sent then).
    """
    result = SendResult()
    todo: list[tuple[Path, str, str]] = []
    for path in dicom_files(paths):
        try:
            meta = read_file_meta_info(path)
            todo.append((path, str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)))
        except Exception:  # not DICOM: report and go on
            result.failed.append((path, not_sendable_reason(path)))
            if on_file is not None:
                on_file(path)
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
        mine = [(p, c, t) for p, c, t in todo if (c, t) in batch]
        with _associate(ae, peer) as assoc:
            for index, (path, _sop_class, _ts) in enumerate(mine):
                if not assoc.is_established:
                    lost = f"not sent: the association with {_where(peer)} was lost"
                    result.failed += [(p, lost) for p, _c, _t in mine[index:]]
                    break
                _send_one(assoc, path, result)
                if on_file is not None:
                    on_file(path)
    return result


def _send_one(assoc: Association, path: Path, result: SendResult) -> None:
    """C-STORE one file and file its outcome in `result`."""
    try:
        status = _store_file(assoc, path)
    except (ValueError, AttributeError, OSError) as exc:
        result.failed.append((path, str(exc)))
        return
    code = int(status.get("Status", 0xFFFF)) if status else 0xFFFF
    comment = str(status.get("ErrorComment", "") or "") if status else ""
    if code == 0x0000:
        result.sent += 1
    elif code in (0xB000, 0xB006, 0xB007):
        result.sent += 1
        result.warnings.append((path, f"warning 0x{code:04X} {comment}".strip()))
    elif code == 0xFFFF:
        result.failed.append((path, "no C-STORE response (the association was aborted)"))
    else:
        result.failed.append((path, f"status 0x{code:04X} {comment}".strip()))


def not_sendable_reason(path: Path) -> str:
    """Why a file cannot be sent as it is, in `medbridge ls`'s words."""
    from medbridge.dicom.scan import read_record
    from medbridge.errors import InvalidDicomError

    try:
        read_record(path)
    except InvalidDicomError as exc:
        return exc.reason
    except OSError as exc:
        return exc.strerror or str(exc)
    return "no File Meta Information (PS3.10 7.1): its transfer syntax is unknown"


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
                raise ArchiveError(f"C-FIND at {_where(peer)} failed: {status_text(status)}")
    return answers


#: Failure statuses of the Query/Retrieve services (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).
_STATUS_MEANINGS = {
    0xA700: "out of resources",
    0xA701: "out of resources: unable to calculate the number of matches",
    0xA702: "out of resources: unable to perform sub-operations",
    0xA801: "move destination unknown",
    0xA900: "identifier does not match SOP Class",
    0xFE00: "cancelled",
    0xFFFF: "no response (the association was aborted)",
}


def status_text(status: Dataset | None) -> str:
    """A response status for people: code, meaning (PS3.4 Annex C) and Error Comment."""
    code = int(status.get("Status", 0xFFFF)) if status else 0xFFFF
    meaning = _STATUS_MEANINGS.get(code) or (
        "unable to process" if code >> 12 == 0xC else "failure"
    )
    comment = str(status.get("ErrorComment", "") or "").strip() if status else ""
    return f"status 0x{code:04X} ({meaning}){': ' + comment if comment else ''}"


def _retrieve_result(
    responses: Iterable[tuple[Dataset, Dataset | None]],
    on_response: Callable[[RetrieveResult], None] | None = None,
) -> RetrieveResult:
    result = RetrieveResult(status=0xFFFF)
    for status, _ds in responses:
        if not status:
            raise ArchiveError("no response to the retrieve request")
        result.status = int(status.Status)
        result.completed = int(status.get("NumberOfCompletedSuboperations", result.completed))
        result.failed = int(status.get("NumberOfFailedSuboperations", result.failed))
        result.warning = int(status.get("NumberOfWarningSuboperations", result.warning))
        result.remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        result.text = status_text(status)
        if on_response is not None:
            on_response(result)
    return result


def move(
    peer: Peer,
    identifier: Dataset,
    destination: str,
    *,
    model: QueryModel = QueryModel.STUDY_ROOT,
    on_response: Callable[[RetrieveResult], None] | None = None,
) -> RetrieveResult:
    """Send a C-MOVE (PS3.4 C.4.2) asking `peer` to send the matches to `destination`.

    `on_response` sees the counts after each (pending) response.
    """
    ae = AE(ae_title=peer.calling_ae_title)
    ae.add_requested_context(_MOVE[model])
    with _associate(ae, peer) as assoc:
        responses = assoc.send_c_move(identifier, destination, _MOVE[model])
        return _retrieve_result(responses, on_response)


def get(
    peer: Peer,
    identifier: Dataset,
    out_dir: Path,
    *,
    model: QueryModel = QueryModel.STUDY_ROOT,
    sop_classes: Iterable[str] | None = None,
    on_response: Callable[[RetrieveResult], None] | None = None,
) -> RetrieveResult:
    """Send a C-GET (PS3.4 C.4.3) and write each instance received into `out_dir`.

    Storage classes are proposed with SCP role selection (PS3.7 D.3.3.4): by default the
    127 most common (pynetdicom's list, one context per class, any transfer syntax);
    `sop_classes` narrows them. Files are named by their validated SOP Instance UID and
    written durably, as received. `on_response` sees the counts after each response.
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
        result = _retrieve_result(assoc.send_c_get(identifier, _GET[model]), on_response)
    result.received = received
    return result

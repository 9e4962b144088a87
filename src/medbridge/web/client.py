"""DICOMweb client: find, get and send against any DICOMweb origin server (PS3.18).

What ``medbridge find|get|send URL`` call: the same requests as their DIMSE twins in
`medbridge.dimse.scu`, expressed as QIDO-RS, WADO-RS and STOW-RS, and the same results
(`SendResult`, `RetrieveResult`, answers as pydicom Datasets), so the command line
prints them alike.

- find: a C-FIND identifier becomes a QIDO-RS search (PS3.18 10.6): a key with a value
  matches, an empty key is an ``includefield``. QIDO has no patient level, so a PATIENT
  query searches studies and folds the answers by Patient ID, counting the patient's
  studies, series and instances as C-FIND's computed attributes do.
- get: the matches are found with QIDO, then each study, series or instance is read
  with WADO-RS as stored (``transfer-syntax=*``) and each part written as received,
  named ``<SOP Instance UID>.dcm`` as the DIMSE get names it, without decoding it.
- send: the files' bytes go as they are, several instances per STOW-RS request; the
  answer's ReferencedSOPSequence and FailedSOPSequence say which were stored.

Requests go through one httpx client (the project's HTTP stack). dicomweb-client, the
tests' reference client, does not fit here: it decodes every retrieved part into a
Dataset and re-encodes every stored one, where the files must travel unchanged; and it
percent-encodes ``*`` and ``^`` in query values, which Orthanc 1.10 does not decode, so
``PatientName=SMITH*`` finds nothing there. Query values are encoded as browsers (and so
OHIF) encode them: only what would break the query string is escaped.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.multival import MultiValue

from medbridge.archive import QueryModel, validate_uid
from medbridge.archive.storage import FileStorage
from medbridge.dicom.transfer import RetrieveResult, SendResult, dicom_files
from medbridge.errors import ArchiveError, QueryError, StorageError
from medbridge.web._related import boundary_of, encode_parts, iter_parts, new_boundary

__all__ = ["WebPeer", "find", "get", "is_url", "send"]

LOGGER = logging.getLogger(__name__)

#: STOW-RS batches: several instances per request, a bounded body each.
BATCH_INSTANCES = 64
BATCH_BYTES = 64 * 1024 * 1024

_DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_JSON = "application/dicom+json"
_CHUNK = 1 << 20
_NOT_KEYS = {"QueryRetrieveLevel", "SpecificCharacterSet"}
_PATIENT_COUNTS = {
    "NumberOfPatientRelatedStudies": None,
    "NumberOfPatientRelatedSeries": "NumberOfStudyRelatedSeries",
    "NumberOfPatientRelatedInstances": "NumberOfStudyRelatedInstances",
}


def is_url(text: str) -> bool:
    """Whether a command-line target is a DICOMweb root rather than a host name."""
    return text.lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class WebPeer:
    """A DICOMweb origin server to call.

    Attributes
    ----------
    url:
        Its DICOMweb root, e.g. ``http://host:8042/dicom-web``.
    token:
        A bearer token sent with every request, or None.
    ca:
        A CA file to verify an https server's certificate with; None trusts the
        system's CAs.
    timeout:
        Seconds to wait for a connection or for the next bytes of an answer.
    """

    url: str
    token: str | None = None
    ca: Path | None = None
    timeout: float = 120.0

    @property
    def root(self) -> str:
        return self.url.rstrip("/")


class _Session:
    """One keep-alive HTTP client for a command's requests to one server."""

    def __init__(self, peer: WebPeer) -> None:
        self.peer = peer
        headers = {"Authorization": f"Bearer {peer.token}"} if peer.token else {}
        verify: ssl.SSLContext | bool = True
        if peer.ca is not None:
            verify = ssl.create_default_context(cafile=str(peer.ca))
        self.http = httpx.Client(
            headers=headers, verify=verify, timeout=peer.timeout, follow_redirects=True
        )

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()


@contextmanager
def _wire_errors(peer: WebPeer, what: str) -> Iterator[None]:
    """Turn the HTTP stack's exceptions into one `ArchiveError` naming the request."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        rsp = exc.response
        try:
            text = rsp.read().decode("utf-8", "replace").strip().replace("\n", " ")
        except httpx.StreamError:  # a streamed answer, closed before its body was read
            text = ""
        detail = f"HTTP {rsp.status_code} {rsp.reason_phrase}" + (
            f" ({text[:200]})" if text else ""
        )
        if rsp.status_code in (401, 403):
            detail += " (check --token)"
        raise ArchiveError(f"{what} at {peer.root}: {detail}") from None
    except httpx.ConnectError as exc:
        hint = " (TLS: check --ca)" if "SSL" in str(exc) or "certificate" in str(exc) else ""
        raise ArchiveError(f"{what}: cannot reach {peer.root}: {exc}{hint}") from None
    except httpx.HTTPError as exc:
        raise ArchiveError(f"{what}: no answer from {peer.root}: {exc!r}") from None
    except ValueError as exc:  # a JSON or DICOM JSON body that does not parse
        raise ArchiveError(f"{what}: unreadable answer from {peer.root}: {exc}") from None


# -- find ----------------------------------------------------------------------------


def _param_value(value: object, vr: str) -> str:
    """A query value as text; a UID list is comma-separated (PS3.18 8.3.4.1)."""
    if isinstance(value, MultiValue | list | tuple):
        return ("," if vr == "UI" else "\\").join(str(v) for v in value)
    return str(value)


def _query(identifier: Dataset) -> tuple[dict[str, str], list[str]]:
    """Split a C-FIND identifier into QIDO matching keys and ``includefield`` values."""
    filters: dict[str, str] = {}
    fields: list[str] = []
    for elem in identifier:
        name = elem.keyword or f"{elem.tag.group:04X}{elem.tag.element:04X}"
        if name in _NOT_KEYS:
            continue
        if elem.VR == "SQ":
            raise QueryError(f"{name}: sequence matching is not offered over DICOMweb")
        if elem.value in (None, "", b"") or (isinstance(elem.value, MultiValue) and not elem.value):
            fields.append(name)
        else:
            filters[name] = _param_value(elem.value, elem.VR)
    return filters, fields


def _single_uid(filters: dict[str, str], keyword: str) -> str | None:
    """Pop `keyword` from `filters` when it names exactly one UID (a path segment)."""
    value = filters.get(keyword, "")
    if value and not set(value) & set("\\,*?"):
        filters.pop(keyword)
        return validate_uid(value, name=keyword)
    return None


def _query_string(params: list[tuple[str, str]]) -> str:
    """``?k=v&...`` escaping only what would change the query's meaning or is not ASCII.

    Wildcards, carets, commas and hyphens stay as typed, as a browser sends them
    (WHATWG URL's query percent-encode set plus ``&``, ``+``, ``=``, ``%``).
    """
    safe = "*^,-._~:/!$'()@?[]|\\"
    return "?" + "&".join(f"{quote(k, safe=safe)}={quote(v, safe=safe)}" for k, v in params)


def _search(
    session: _Session, level: str, filters: dict[str, str], fields: list[str]
) -> list[Dataset]:
    """One QIDO-RS search at `level`, paged through when the server cuts its answer.

    A server that limits its answers says so in a Warning header (PS3.18 8.3.4.4,
    10.6.3.2); the rest is asked for with ``offset`` until a page comes back empty.
    """
    filters = dict(filters)
    study = _single_uid(filters, "StudyInstanceUID") if level != "STUDY" else None
    series = _single_uid(filters, "SeriesInstanceUID") if level == "IMAGE" and study else None
    if level == "IMAGE" and series is None and study is not None:
        filters.setdefault("StudyInstanceUID", study)
        study = None  # /studies/{study}/instances exists, but not on every server
    if level == "STUDY":
        path = "studies"
    elif level == "SERIES":
        path = f"studies/{study}/series" if study else "series"
    else:
        path = f"studies/{study}/series/{series}/instances" if series else "instances"
    params = [*filters.items()]
    if fields:
        params.append(("includefield", ",".join(fields)))
    answers: list[dict[str, Any]] = []
    last_first: object = None
    what = f"QIDO-RS /{path}"
    while True:
        page_params = [*params, ("offset", str(len(answers)))] if answers else params
        url = f"{session.peer.root}/{path}{_query_string(page_params) if page_params else ''}"
        with _wire_errors(session.peer, what):
            rsp = session.http.get(url, headers={"Accept": _JSON})
            rsp.raise_for_status()
            page = rsp.json() if rsp.content.strip() else []
        if not isinstance(page, list):
            raise ArchiveError(f"{what}: the answer from {session.peer.root} is not a JSON array")
        if answers and page and page[0] == last_first:
            break  # a server that ignores offset: do not ask forever
        last_first = page[0] if page else None
        answers += page
        if not page or "Warning" not in rsp.headers:
            break
    with _wire_errors(session.peer, f"{what} answer"):
        return [Dataset.from_json(item) for item in answers]


def find(
    peer: WebPeer, identifier: Dataset, *, model: QueryModel = QueryModel.STUDY_ROOT
) -> list[Dataset]:
    """QIDO-RS search for `identifier` (a C-FIND identifier) and return the answers.

    Each answer carries QueryRetrieveLevel like a C-FIND answer; at PATIENT level the
    studies found are folded into one answer per Patient ID.

    Raises
    ------
    ArchiveError
        If the server cannot be reached or answers with an error status.
    QueryError
        If the identifier asks for what QIDO-RS cannot express (sequence matching).
    """
    level = str(identifier.get("QueryRetrieveLevel", "STUDY")).upper()
    if level not in ("PATIENT", "STUDY", "SERIES", "IMAGE"):
        raise QueryError(f"unknown QueryRetrieveLevel {level!r}")
    filters, fields = _query(identifier)
    with _Session(peer) as session:
        if level == "PATIENT":
            answers = _patients(session, filters, fields)
        else:
            answers = _search(session, level, filters, fields)
    for ds in answers:
        ds.QueryRetrieveLevel = level
    return answers


def _patients(session: _Session, filters: dict[str, str], fields: list[str]) -> list[Dataset]:
    """A PATIENT-level C-FIND answered from a study search (QIDO has no patient level)."""
    counts = [f for f in fields if f in _PATIENT_COUNTS]
    wanted = [f for f in fields if f not in _PATIENT_COUNTS]
    study_fields = ["PatientID", *wanted]
    study_fields += [v for f in counts if (v := _PATIENT_COUNTS[f])]
    studies = _search(session, "STUDY", filters, study_fields)
    patients: dict[str, Dataset] = {}
    totals: dict[str, dict[str, int]] = {}
    for study in studies:
        key = str(study.get("PatientID", ""))
        if key not in patients:
            ds = Dataset()
            for name in [*filters, *wanted]:
                if name in study:
                    ds[name] = study[name]
            patients[key] = ds
            totals[key] = dict.fromkeys(counts, 0)
        for name in counts:
            source = _PATIENT_COUNTS[name]
            totals[key][name] += 1 if source is None else int(study.get(source) or 0)
    for key, ds in patients.items():
        for name, total in totals[key].items():
            setattr(ds, name, total)
    return list(patients.values())


# -- get -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """One WADO-RS resource to read, and how many instances it should hold (0: unknown)."""

    path: str
    expected: int


def _targets(session: _Session, identifier: Dataset) -> list[_Target]:
    """Resolve a C-GET identifier into the studies, series or instances to read."""
    level = str(identifier.get("QueryRetrieveLevel", "STUDY")).upper()
    filters, _fields = _query(identifier)
    if level in ("PATIENT", "STUDY"):
        found = _search(session, "STUDY", filters, ["NumberOfStudyRelatedInstances"])
        return [
            _Target(
                f"studies/{_uid(ds, 'StudyInstanceUID')}",
                int(ds.get("NumberOfStudyRelatedInstances") or 0),
            )
            for ds in found
        ]
    if level == "SERIES":
        found = _search(
            session, "SERIES", filters, ["StudyInstanceUID", "NumberOfSeriesRelatedInstances"]
        )
        return [
            _Target(
                f"studies/{_uid(ds, 'StudyInstanceUID', filters)}"
                f"/series/{_uid(ds, 'SeriesInstanceUID')}",
                int(ds.get("NumberOfSeriesRelatedInstances") or 0),
            )
            for ds in found
        ]
    if level == "IMAGE":
        found = _search(session, "IMAGE", filters, ["StudyInstanceUID", "SeriesInstanceUID"])
        return [
            _Target(
                f"studies/{_uid(ds, 'StudyInstanceUID', filters)}"
                f"/series/{_uid(ds, 'SeriesInstanceUID', filters)}"
                f"/instances/{_uid(ds, 'SOPInstanceUID')}",
                1,
            )
            for ds in found
        ]
    raise QueryError(f"unknown QueryRetrieveLevel {level!r}")


def _uid(ds: Dataset, keyword: str, filters: dict[str, str] | None = None) -> str:
    """A UID from an answer (or the request's single value) checked before it joins a URL."""
    value = str(ds.get(keyword) or (filters or {}).get(keyword, ""))
    try:
        return validate_uid(value, name=keyword)
    except StorageError as exc:
        raise ArchiveError(f"QIDO-RS answer with a bad {keyword}: {exc}") from None


def get(
    peer: WebPeer,
    identifier: Dataset,
    out_dir: Path,
    *,
    model: QueryModel = QueryModel.STUDY_ROOT,
) -> RetrieveResult:
    """Find the matches of `identifier` with QIDO-RS and read them with WADO-RS into `out_dir`.

    Each instance is written durably, as received, as ``<SOP Instance UID>.dcm``.
    ``status`` follows C-GET's (PS3.4 C.4.3.1.4): 0x0000 all read, 0xB000 some
    failed, 0xA702 none could be read.
    """
    storage = FileStorage(out_dir)
    result = RetrieveResult()
    with _Session(peer) as session:
        for target in _targets(session, identifier):
            got, failed = _read(session, target, storage, result.received)
            result.completed += got
            result.failed += failed + max(0, target.expected - got - failed)
    if result.failed:
        result.status = 0xB000 if result.completed else 0xA702
    return result


def _read(
    session: _Session, target: _Target, storage: FileStorage, received: list[Path]
) -> tuple[int, int]:
    """WADO-RS one resource into `storage`; returns (instances written, parts refused)."""
    url = f"{session.peer.root}/{target.path}"
    got = failed = 0
    what = f"WADO-RS {target.path}"
    with (
        _wire_errors(session.peer, what),
        session.http.stream("GET", url, headers={"Accept": _DICOM_ACCEPT}) as rsp,
    ):
        if rsp.status_code == 404:
            LOGGER.warning("%s: not found", what)
            return 0, 0
        rsp.raise_for_status()
        boundary = boundary_of(rsp.headers.get("Content-Type", ""))
        for _headers, body in iter_parts(rsp.iter_bytes(_CHUNK), boundary):
            try:
                uid = _sop_uid(body)
                storage.write(f"{uid}.dcm", body)
            except (ArchiveError, ValueError) as exc:
                LOGGER.error("%s: part not stored: %s", what, exc)
                failed += 1
                continue
            received.append(storage.root / f"{uid}.dcm")
            got += 1
    return got, failed


def _sop_uid(part: bytes) -> str:
    """The SOP Instance UID of a DICOM part (its File Meta Information's, else the dataset's)."""
    try:
        ds = dcmread(BytesIO(part), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except Exception as exc:  # pydicom raises many kinds on a non-DICOM part
        raise ArchiveError(f"part is not DICOM: {exc}") from None
    meta = getattr(ds, "file_meta", None)
    uid = (meta.get("MediaStorageSOPInstanceUID") if meta else None) or ds.get("SOPInstanceUID")
    return validate_uid(str(uid or ""), name="SOP Instance UID")


# -- send ----------------------------------------------------------------------------


def _batches(
    todo: list[tuple[Path, str, int]], *, count: int, size: int
) -> Iterator[list[tuple[Path, str, int]]]:
    batch: list[tuple[Path, str, int]] = []
    total = 0
    for item in todo:
        if batch and (len(batch) >= count or total + item[2] > size):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += item[2]
    if batch:
        yield batch


def send(
    peer: WebPeer,
    paths: Iterable[Path],
    *,
    batch_instances: int = BATCH_INSTANCES,
    batch_bytes: int = BATCH_BYTES,
) -> SendResult:
    """STOW-RS each DICOM file under `paths` to `peer`, as stored, several per request.

    Files that are not DICOM Part 10 are reported in ``failed`` and skipped; an instance
    the server lists in FailedSOPSequence (PS3.18 10.5.3) is reported with its Failure
    Reason, one it does not mention at all as missing from the answer.

    Raises
    ------
    ArchiveError
        If the server cannot be reached, or refuses a request as a whole (e.g. 401).
    """
    result = SendResult()
    todo: list[tuple[Path, str, int]] = []
    for path in dicom_files(paths):
        try:
            meta = read_file_meta_info(path)
            uid = str(meta.MediaStorageSOPInstanceUID)
            todo.append((path, uid, path.stat().st_size))
        except Exception as exc:  # not DICOM: report and go on
            result.failed.append((path, f"not a DICOM file: {exc}"))
    with _Session(peer) as session:
        for batch in _batches(todo, count=batch_instances, size=batch_bytes):
            _store(session, batch, result)
    return result


def _store(session: _Session, batch: list[tuple[Path, str, int]], result: SendResult) -> None:
    """POST one batch to ``/studies`` and record each instance's outcome in `result`."""
    boundary = new_boundary()
    parts: list[bytes] = []
    for path, _uid, _size in batch:
        parts.append(path.read_bytes())
    body = encode_parts(parts, "application/dicom", boundary)
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": _JSON,
    }
    what = f"STOW-RS of {len(batch)} instance{'s' if len(batch) > 1 else ''}"
    with _wire_errors(session.peer, what):
        rsp = session.http.post(f"{session.peer.root}/studies", content=body, headers=headers)
        if rsp.status_code not in (200, 202, 409):
            rsp.raise_for_status()
            raise ArchiveError(f"{what}: HTTP {rsp.status_code} from {session.peer.root}")
        answer = _stow_answer(rsp)
    if answer is None:  # 200 without a body: every instance stored
        if rsp.status_code == 200:
            result.sent += len(batch)
        else:
            result.failed += [(p, f"HTTP {rsp.status_code}") for p, _u, _s in batch]
        return
    stored = {
        str(item.get("ReferencedSOPInstanceUID", ""))
        for item in answer.get("ReferencedSOPSequence", [])
    }
    refused = {
        str(item.get("ReferencedSOPInstanceUID", "")): item.get("FailureReason")
        for item in answer.get("FailedSOPSequence", [])
    }
    for path, uid, _size in batch:
        if uid in refused:
            reason = refused[uid]
            text = f"failure reason 0x{int(reason):04X}" if reason is not None else "refused"
            result.failed.append((path, f"{text} (HTTP {rsp.status_code})"))
        elif uid in stored:
            result.sent += 1
        else:
            result.failed.append((path, f"not in the STOW-RS answer (HTTP {rsp.status_code})"))


def _stow_answer(rsp: httpx.Response) -> Dataset | None:
    """The Store Instances Response Module (PS3.18 10.5.3) of a STOW-RS answer, if any."""
    if not rsp.content.strip():
        return None
    kind = rsp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind not in (_JSON, "application/json"):
        raise ValueError(f"STOW-RS answer of type {kind!r}, not {_JSON}")
    data = rsp.json()
    if isinstance(data, list):  # some servers wrap the one dataset in an array
        data = data[0] if data else {}
    return Dataset.from_json(data)

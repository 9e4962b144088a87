"""STOW-RS: store instances (PS3.18 10.5).

``POST /studies`` and ``POST /studies/{study}`` take ``multipart/related;
type="application/dicom"`` (one Part 10 instance per part) or ``type=
"application/dicom+json"`` (metadata plus bulk data parts, `medbridge.web.dicomweb.
_stow_json`). The body is read as it arrives (`medbridge.web.dicomweb._multipart_reader`)
and each instance is stored while the next is received, a few at a time, so the archive's
group commit (`medbridge.archive._commits`) and fsyncs overlap. The answer is sent only
when every accepted instance is fsync'ed and its index row committed: `Archive.store`
returns only then, as for C-STORE (DESIGN.md principle 2).

The answer (10.5.3) is a dataset in DICOM JSON (or XML on request): RetrieveURL of the
study, ReferencedSOPSequence (SOP Class and Instance UIDs, RetrieveURL of each stored
instance) and FailedSOPSequence with a FailureReason (0008,1197) per failed instance,
using the Storage Service's statuses (PS3.4 B.2.3, PS3.7 C): 0xC000 cannot understand,
0xA900 does not match (an instance of another study than the URL's), 0x0111 duplicate
SOP instance (another content under the archive's ``keep`` policy), 0xA700 out of
resources (the disk). Status: 200 all stored, 202 some failed, 409 none stored; 415 for
a media type other than those two multipart forms (``multipart/form-data`` included),
400 for a body that is not the multipart it claims or holds no part, 413 over
``max_body``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydicom.dataset import Dataset

from medbridge.archive import Archive, header_values, is_valid_uid
from medbridge.errors import (
    DuplicateInstance,
    InvalidDicomError,
    MedbridgeError,
    QueryError,
    StorageError,
)
from medbridge.server.config import Role, ServerConfig
from medbridge.web.access import require
from medbridge.web.dicomweb._multipart_reader import MultipartError, Part, iter_parts
from medbridge.web.dicomweb._negotiate import DICOM_JSON, DICOM_XML, choose, parse_media_type
from medbridge.web.dicomweb._stow_json import instances_from_json, metadata_array
from medbridge.web.dicomweb._urls import dicomweb_base
from medbridge.web.dicomweb._xml import to_xml

__all__ = ["FailureReason", "router"]

LOGGER = logging.getLogger(__name__)
StudyUID = Annotated[str, Path(description="Study Instance UID (0020,000D)")]
InstanceUID = Annotated[str, Path(description="SOP Instance UID (0008,0018)")]

router = APIRouter(tags=["STOW-RS"], dependencies=[Depends(require(Role.WRITE))])

#: Instances being stored at once per request, and their most bytes; more parts wait in
#: the socket. A store is mostly waiting for fdatasync and the index commit, so several at
#: once share the disk's flushes (and the archive's group commit) instead of queueing.
IN_FLIGHT = 8
IN_FLIGHT_BYTES = 256 << 20
_STORES = ThreadPoolExecutor(max_workers=16, thread_name_prefix="medbridge-stow")
_JSON_TYPES = ("application/dicom+json", "application/json")


class FailureReason:
    """FailureReason (0008,1197) values (PS3.4 B.2.3 and PS3.7 C statuses)."""

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    OUT_OF_RESOURCES = 0xA700
    DOES_NOT_MATCH = 0xA900
    CANNOT_UNDERSTAND = 0xC000


@dataclass(frozen=True)
class _Outcome:
    sop_class: str
    sop_instance: str
    study: str
    series: str
    failure: int | None = None
    reason: str = ""


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every instance stored (durable).",
        "content": {
            DICOM_JSON: {"schema": {"type": "object"}},
            DICOM_XML: {"schema": {"type": "string"}},
        },
    },
    202: {"description": "Some instances stored, some failed (FailedSOPSequence)."},
    400: {"description": "The body is not the multipart message announced, or is empty."},
    401: {"description": "A bearer token is required."},
    403: {"description": "The token's role may not store."},
    406: {"description": "Accept names neither DICOM JSON nor DICOM XML."},
    409: {"description": "No instance stored (FailedSOPSequence says why)."},
    413: {"description": "The body is over the server's max_body."},
    415: {"description": "Not multipart/related of application/dicom or dicom+json."},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            'multipart/related; type="application/dicom"': {
                "schema": {"type": "string", "format": "binary"}
            },
            'multipart/related; type="application/dicom+json"': {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    }
}


@router.post(
    "/studies",
    summary="Store instances",
    response_class=Response,
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def store_instances(request: Request) -> Response:
    """STOW-RS Store Instances (PS3.18 10.5): instances of any studies."""
    return await _store(request, None)


@router.post(
    "/studies/{study}",
    summary="Store instances of one study",
    response_class=Response,
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def store_study_instances(request: Request, study: StudyUID) -> Response:
    """STOW-RS Store Instances into the study the URL names; others fail (0xA900)."""
    if not is_valid_uid(study):
        raise QueryError(f"malformed Study Instance UID {study!r} in the URL")
    return await _store(request, study)


async def _store(request: Request, study: str | None) -> Response:
    media = choose(request, (DICOM_JSON, DICOM_XML))
    config: ServerConfig = request.app.state.config
    archive: Archive = request.app.state.archive
    json_mode, boundary = _content_type(request.headers.get("content-type", ""))
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit():
        if int(length) > config.max_body:
            raise HTTPException(413, f"the body ({length} bytes) is over {config.max_body}")
        if int(length) == 0:
            raise HTTPException(400, "the body is empty: send one part per instance")
    body = _limited(request.stream(), config.max_body)
    try:
        if json_mode:
            outcomes = await _store_json(archive, iter_parts(body, boundary), study)
        else:
            outcomes = await _store_parts(archive, iter_parts(body, boundary), study)
    except MultipartError as exc:
        raise HTTPException(400, str(exc)) from None
    if not outcomes:
        raise HTTPException(400, "the multipart body holds no part")
    caller = getattr(request.state, "caller", "anonymous")
    stored = [o for o in outcomes if o.failure is None]
    # the audit trail names the studies a request touched (main's web/audit.py reads it)
    request.state.audit_studies = sorted({o.study for o in stored})
    LOGGER.info(
        "STOW-RS by %s: %d stored, %d failed", caller, len(stored), len(outcomes) - len(stored)
    )
    base = dicomweb_base(request)
    answer = _response_dataset(outcomes, study, base)
    status = 200 if len(stored) == len(outcomes) else 202 if stored else 409
    if media == DICOM_XML:
        return Response(to_xml(answer).encode(), status, media_type=DICOM_XML)
    return Response(json.dumps(answer).encode(), status, media_type=DICOM_JSON)


def _content_type(header: str) -> tuple[bool, str]:
    """(JSON metadata mode?, boundary) of a STOW request's Content-Type."""
    kind, sub, params = parse_media_type(header)
    if (kind, sub) != ("multipart", "related"):
        raise HTTPException(
            415,
            f"Content-Type {header or '(none)'!r}: STOW-RS takes multipart/related; "
            'type="application/dicom" (or type="application/dicom+json" with bulk data)',
        )
    part_type = params.get("type", "application/dicom").lower()
    if part_type not in ("application/dicom", *_JSON_TYPES):
        raise HTTPException(415, f"multipart/related of type {part_type!r} is not stored")
    boundary = params.get("boundary", "")
    if not boundary:
        raise HTTPException(400, "the Content-Type has no boundary parameter")
    return part_type in _JSON_TYPES, boundary


async def _limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise HTTPException(413, f"the body is over {limit} bytes")
        if chunk:
            yield chunk


def _store_one(archive: Archive, data: bytes, study: str | None) -> _Outcome:
    """Store one instance; every failure becomes an outcome with its FailureReason."""
    try:
        values = header_values(data)
    except InvalidDicomError as exc:
        return _Outcome("", "", "", "", FailureReason.CANNOT_UNDERSTAND, str(exc))
    keys = (
        values["SOPClassUID"],
        values["SOPInstanceUID"],
        values["StudyInstanceUID"],
        values["SeriesInstanceUID"],
    )
    if study is not None and values["StudyInstanceUID"] != study:
        reason = f"instance of study {values['StudyInstanceUID']}, not of {study}"
        return _Outcome(*keys, FailureReason.DOES_NOT_MATCH, reason)
    try:
        archive.store(data)
    except DuplicateInstance as exc:
        return _Outcome(*keys, FailureReason.DUPLICATE_SOP_INSTANCE, str(exc))
    except InvalidDicomError as exc:
        return _Outcome(*keys, FailureReason.CANNOT_UNDERSTAND, str(exc))
    except StorageError as exc:
        return _Outcome(*keys, FailureReason.OUT_OF_RESOURCES, str(exc))
    except MedbridgeError as exc:
        return _Outcome(*keys, FailureReason.PROCESSING_FAILURE, str(exc))
    return _Outcome(*keys)


async def _store_parts(
    archive: Archive, parts: AsyncIterator[Part], study: str | None
) -> list[_Outcome]:
    """Store each ``application/dicom`` part, `IN_FLIGHT` at a time, in part order."""
    loop = asyncio.get_running_loop()
    results: list[asyncio.Future[_Outcome]] = []
    pending: set[asyncio.Future[_Outcome]] = set()
    sizes: dict[asyncio.Future[_Outcome], int] = {}
    try:
        async for part in parts:
            kind, sub, _params = parse_media_type(part.content_type or "application/dicom")
            if (kind, sub) != ("application", "dicom"):
                done: asyncio.Future[_Outcome] = loop.create_future()
                reason = f"a part of type {part.content_type!r}, not application/dicom"
                done.set_result(_Outcome("", "", "", "", FailureReason.CANNOT_UNDERSTAND, reason))
                results.append(done)
                continue
            while pending and (
                len(pending) >= IN_FLIGHT
                or sum(sizes[f] for f in pending) + len(part.body) > IN_FLIGHT_BYTES
            ):
                _done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            future = loop.run_in_executor(_STORES, _store_one, archive, part.body, study)
            results.append(future)
            pending.add(future)
            sizes[future] = len(part.body)
    finally:
        # stores already started finish (and are durable) even when the body breaks off
        if pending:
            await asyncio.wait(pending)
    return [f.result() for f in results]


async def _store_json(
    archive: Archive, parts: AsyncIterator[Part], study: str | None
) -> list[_Outcome]:
    """Store the datasets of a metadata part with the bulk data parts they refer to."""
    metadata: list[dict[str, Any]] | None = None
    bulk: dict[str, Part] = {}
    async for part in parts:
        kind, sub, _params = parse_media_type(part.content_type)
        if metadata is None and f"{kind}/{sub}" in _JSON_TYPES:
            try:
                metadata = metadata_array(part)
            except InvalidDicomError as exc:
                raise HTTPException(400, str(exc)) from None
            continue
        for name in ("content-location", "content-id"):
            if part.headers.get(name):
                bulk[part.headers[name].strip("<>")] = part
    if metadata is None:
        raise HTTPException(400, "no application/dicom+json part holds the metadata")
    loop = asyncio.get_running_loop()

    def build_and_store(dataset: dict[str, Any]) -> _Outcome:
        try:
            data = instances_from_json(dataset, bulk)
        except InvalidDicomError as exc:
            return _Outcome("", "", "", "", FailureReason.CANNOT_UNDERSTAND, str(exc))
        return _store_one(archive, data, study)

    futures = [loop.run_in_executor(_STORES, build_and_store, d) for d in metadata]
    return list(await asyncio.gather(*futures))


def _response_dataset(outcomes: list[_Outcome], study: str | None, base: str) -> dict[str, Any]:
    """The Store Instances Response Module (PS3.18 10.5.3) as DICOM JSON."""
    ds = Dataset()
    studies = {o.study for o in outcomes if o.failure is None}
    target = study or (studies.pop() if len(studies) == 1 else None)
    if target:
        ds.RetrieveURL = f"{base}/studies/{target}"
    referenced, failed = [], []
    for o in outcomes:
        item = Dataset()
        item.ReferencedSOPClassUID = o.sop_class
        item.ReferencedSOPInstanceUID = o.sop_instance
        if o.failure is None:
            item.RetrieveURL = (
                f"{base}/studies/{o.study}/series/{o.series}/instances/{o.sop_instance}"
            )
            referenced.append(item)
        else:
            item.FailureReason = o.failure
            failed.append(item)
            LOGGER.info("STOW-RS failed %s: 0x%04X %s", o.sop_instance or "?", o.failure, o.reason)
    if referenced:
        ds.ReferencedSOPSequence = referenced
    if failed:
        ds.FailedSOPSequence = failed
    return ds.to_json_dict()

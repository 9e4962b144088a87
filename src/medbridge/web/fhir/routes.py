"""FHIR R4 routes under ``/fhir``: metadata, ImagingStudy, Patient and Endpoint.

Read (``GET /fhir/ImagingStudy/{id}``) and search (``GET /fhir/ImagingStudy?...``) answer
from the archive's index at request time, so an instance stored a moment ago over DIMSE
or STOW-RS is in the next answer. Searches page with ``_count`` and the Bundle's
``next`` link (``_offset``); unknown parameters are ignored and left out of the
``self`` link, as FHIR's search page allows, unless ``Prefer: handling=strict`` asks for
a 400. Every error is an OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from medbridge import __version__
from medbridge.archive import Archive
from medbridge.archive.catalog import PatientFilter, StudyFilter, find_patients, find_studies
from medbridge.errors import MedbridgeError
from medbridge.server.config import Role
from medbridge.web.access import require
from medbridge.web.errors import status_for
from medbridge.web.fhir import params
from medbridge.web.fhir.params import FhirError
from medbridge.web.fhir.resources import (
    ENDPOINT_ID,
    endpoint,
    imaging_study,
    patient,
    patient_key_from_id,
)

__all__ = ["FHIR_JSON", "install", "router"]

FHIR_JSON = "application/fhir+json"
FHIR_ROOT = "/fhir"

router = APIRouter(prefix=FHIR_ROOT, tags=["FHIR"], dependencies=[Depends(require(Role.READ))])


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def _outcome(status: int, code: str, diagnostics: str) -> FhirResponse:
    severity = "error" if status >= 400 else "information"
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
    return FhirResponse(body, status_code=status)


_CODES = {
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
    406: "not-supported", 413: "too-costly", 415: "not-supported", 422: "invalid",
}  # fmt: skip


def install(app: FastAPI) -> None:
    """Mount the routes and answer errors under ``/fhir`` as OperationOutcome."""
    app.include_router(router)

    async def on_fhir_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FhirError)
        return _outcome(exc.status, exc.code, exc.diagnostics)

    async def on_http_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(FHIR_ROOT):
            return await http_exception_handler(request, exc)
        response = _outcome(
            exc.status_code, _CODES.get(exc.status_code, "processing"), str(exc.detail)
        )
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    app.add_exception_handler(FhirError, on_fhir_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _accept_json(request: Request) -> None:
    """406 unless the client takes FHIR JSON (``_format`` first, then Accept)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if fmt not in ("json", FHIR_JSON, "application/json"):
            raise FhirError(406, "not-supported", f"_format={fmt}: only JSON is served")
        return
    accept = request.headers.get("accept", "*/*").lower()
    if not any(kind in accept for kind in (FHIR_JSON, "application/json", "*/*", "application/*")):
        raise FhirError(406, "not-supported", f"Accept: {accept}: only application/fhir+json")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _answer(request: Request, build: Callable[[], dict[str, Any]]) -> FhirResponse:
    _accept_json(request)
    try:
        body = await run_in_threadpool(build)
    except MedbridgeError as exc:
        status = status_for(exc)
        raise FhirError(status, _CODES.get(status, "processing"), str(exc)) from exc
    return FhirResponse(jsonable_encoder(body))


# -- capability ----------------------------------------------------------------------


@router.get("/metadata", summary="CapabilityStatement", response_class=FhirResponse)
async def metadata(request: Request) -> FhirResponse:
    """What this FHIR server offers: read and search of ImagingStudy, Patient, Endpoint."""

    def build() -> dict[str, Any]:
        return params.capability_statement(_base(request), __version__)

    return await _answer(request, build)


# -- ImagingStudy --------------------------------------------------------------------


@router.get("/ImagingStudy/{resource_id}", response_class=FhirResponse)
async def read_imaging_study(request: Request, resource_id: str) -> FhirResponse:
    """One study (its id is the Study Instance UID) with series and instances."""
    uid = params.valid_id(resource_id)
    archive: Archive = request.app.state.archive

    def build() -> dict[str, Any]:
        _total, found = find_studies(archive.index, StudyFilter(study_uids=(uid,)), limit=1)
        if not found:
            raise FhirError(404, "not-found", f"ImagingStudy/{uid} is not in this archive")
        return imaging_study(found[0])

    return await _answer(request, build)


@router.get("/ImagingStudy", response_class=FhirResponse)
async def search_imaging_study(request: Request) -> FhirResponse:
    """Search studies: patient, subject:Patient.identifier, identifier, started,
    modality, _lastUpdated, _id; paged by _count and _offset."""
    query = params.parse_study_search(request)
    archive: Archive = request.app.state.archive

    def build() -> dict[str, Any]:
        total, found = find_studies(
            archive.index, query.filter, limit=query.count, offset=query.offset
        )
        resources = [imaging_study(s) for s in found]
        return _bundle(
            request, "ImagingStudy", query.used, query.count, query.offset, total, resources
        )

    return await _answer(request, build)


# -- Patient -------------------------------------------------------------------------


@router.get("/Patient/{resource_id}", response_class=FhirResponse)
async def read_patient(request: Request, resource_id: str) -> FhirResponse:
    """One patient, by the id ImagingStudy.subject references."""
    rid = params.valid_id(resource_id)
    archive: Archive = request.app.state.archive
    key = patient_key_from_id(rid)
    where = PatientFilter(patient_key=key) if key is not None else PatientFilter(patient_id=rid)

    def build() -> dict[str, Any]:
        _total, found = find_patients(archive.index, where, limit=1)
        if not found:
            raise FhirError(404, "not-found", f"Patient/{rid} is not in this archive")
        return patient(found[0])

    return await _answer(request, build)


@router.get("/Patient", response_class=FhirResponse)
async def search_patient(request: Request) -> FhirResponse:
    """Search patients: _id, identifier, name (family, given), birthdate, gender."""
    query = params.parse_patient_search(request)
    archive: Archive = request.app.state.archive

    def build() -> dict[str, Any]:
        total, found = find_patients(
            archive.index, query.filter, limit=query.count, offset=query.offset
        )
        resources = [patient(p) for p in found]
        return _bundle(request, "Patient", query.used, query.count, query.offset, total, resources)

    return await _answer(request, build)


# -- Endpoint ------------------------------------------------------------------------


@router.get("/Endpoint/{resource_id}", response_class=FhirResponse)
async def read_endpoint(request: Request, resource_id: str) -> FhirResponse:
    """The DICOMweb endpoint every ImagingStudy references."""
    if resource_id != ENDPOINT_ID:
        raise FhirError(404, "not-found", f"Endpoint/{resource_id[:64]} is not known here")
    return await _answer(request, lambda: endpoint(f"{_base(request)}/dicom-web"))


@router.get("/Endpoint", response_class=FhirResponse)
async def search_endpoint(request: Request) -> FhirResponse:
    """All endpoints (one: DICOMweb)."""
    resource = endpoint(f"{_base(request)}/dicom-web")
    return await _answer(request, lambda: _bundle(request, "Endpoint", [], 1, 0, 1, [resource]))


# -- bundles -------------------------------------------------------------------------


def _bundle(
    request: Request,
    kind: str,
    used: list[tuple[str, str]],
    count: int,
    offset: int,
    total: int,
    resources: list[dict[str, Any]],
) -> dict[str, Any]:
    """A searchset Bundle with self, next and previous links that keep the search."""
    base = f"{_base(request)}{FHIR_ROOT}"

    def link(relation: str, at: int) -> dict[str, str]:
        query = urlencode([*used, ("_count", str(count)), ("_offset", str(at))])
        return {"relation": relation, "url": f"{base}/{kind}?{query}"}

    links = [link("self", offset)]
    if offset + count < total:
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }

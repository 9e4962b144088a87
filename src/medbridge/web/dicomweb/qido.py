"""QIDO-RS: search for studies, series and instances (PS3.18 10.6).

Six resources, one handler: ``/studies``, ``/series``, ``/instances`` and the nested
``/studies/{study}/series``, ``/studies/{study}/instances``,
``/studies/{study}/series/{series}/instances``. The query string is read by
`medbridge.web.dicomweb._qido_params`, matched and paged in SQL by
`medbridge.archive.search`, and written by `medbridge.web.dicomweb._qido_render`.

Answers are ``application/dicom+json`` (an array; ``[]`` with 200 when nothing matches,
which dicomweb-client and viewers read as "no results") or, on request, ``multipart/
related; type="application/dicom+xml"`` (one PS3.19 document per result; 204 when there
is none). ``X-Total-Count`` carries the number of matches whatever the page, so a paging
UI can draw its pager; a ``limit`` that cuts the answer adds ``Warning: 299 ...
"There are additional results that can be requested"`` (PS3.18 8.3.4.4). An answer
longer than one page of rows is streamed: rows come from one cursor a page at a time
and go out as JSON array chunks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse

from medbridge.archive import Archive, Level
from medbridge.archive.search import Page
from medbridge.errors import StorageError
from medbridge.server.config import Role
from medbridge.web.access import require
from medbridge.web.dicomweb._negotiate import DICOM_JSON, DICOM_XML, MULTIPART_XML, choose
from medbridge.web.dicomweb._qido_params import QidoQuery, parse_query
from medbridge.web.dicomweb._qido_render import Renderer
from medbridge.web.dicomweb._urls import dicomweb_base

__all__ = ["PAGE_ROWS", "router"]
StudyUID = Annotated[str, Path(description="Study Instance UID (0020,000D)")]
SeriesUID = Annotated[str, Path(description="Series Instance UID (0020,000E)")]
InstanceUID = Annotated[str, Path(description="SOP Instance UID (0008,0018)")]

router = APIRouter(tags=["QIDO-RS"], dependencies=[Depends(require(Role.READ))])

#: Rows fetched and written at a time; an answer within one page is sent whole.
PAGE_ROWS = 1000


def _parameters(level: Level) -> list[dict[str, Any]]:
    """OpenAPI descriptions of the query parameters (PS3.18 8.3.4, Table 8.3.4-1)."""
    examples = {
        Level.STUDY: [
            "PatientName",
            "PatientID",
            "StudyDate",
            "AccessionNumber",
            "ModalitiesInStudy",
            "StudyInstanceUID",
        ],
        Level.SERIES: ["Modality", "SeriesInstanceUID", "SeriesNumber", "StudyDate"],
        Level.IMAGE: ["SOPInstanceUID", "SOPClassUID", "InstanceNumber"],
    }[level]
    params: list[dict[str, Any]] = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "At most this many results (paged in SQL).",
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "description": "Skip this many results first.",
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "fuzzymatching",
            "in": "query",
            "required": False,
            "description": "Match person names ignoring case and accents, word by word.",
            "schema": {"type": "boolean"},
        },
        {
            "name": "includefield",
            "in": "query",
            "required": False,
            "description": "Extra attributes to return (keyword or hex tag; comma-separated"
            " or repeated), or `all`.",
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
        },
    ]
    for keyword in examples:
        params.append(
            {
                "name": keyword,
                "in": "query",
                "required": False,
                "description": f"Matching key {keyword} (PS3.4 C.2.2.2: single value, "
                "UID list, wildcard * ?, range a-b). Any DICOM keyword or hex "
                "tag is accepted as a key.",
                "schema": {"type": "string"},
            }
        )
    return params


def _responses() -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The matches (an empty array when none).",
            "content": {
                DICOM_JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
                MULTIPART_XML: {"schema": {"type": "string"}},
            },
            "headers": {
                "X-Total-Count": {
                    "description": "Matches in all pages",
                    "schema": {"type": "integer"},
                },
                "Warning": {
                    "description": "299: cut by limit, or keys ignored",
                    "schema": {"type": "string"},
                },
            },
        },
        204: {"description": "No match (multipart XML answers only)."},
        400: {"description": "Malformed query: unknown attribute, bad UID, date, number."},
        401: {"description": "A bearer token is required."},
        403: {"description": "The token's role may not search."},
        406: {"description": "Accept names no media type offered."},
    }


Handler = Callable[..., Response]


def _route(path: str, level: Level, summary: str) -> Callable[[Handler], Handler]:
    return router.get(
        path,
        summary=summary,
        response_class=Response,
        responses=_responses(),
        openapi_extra={"parameters": _parameters(level)},
    )


@_route("/studies", Level.STUDY, "Search for studies")
def search_studies(request: Request) -> Response:
    """QIDO-RS Search for Studies (PS3.18 10.6.1, Table 10.6.3-3 attributes)."""
    return _search(request, Level.STUDY, {})


@_route("/series", Level.SERIES, "Search for series")
def search_series(request: Request) -> Response:
    """QIDO-RS Search for Series across all studies (study attributes included)."""
    return _search(request, Level.SERIES, {})


@_route("/instances", Level.IMAGE, "Search for instances")
def search_instances(request: Request) -> Response:
    """QIDO-RS Search for Instances across all studies and series."""
    return _search(request, Level.IMAGE, {})


@_route("/studies/{study}/series", Level.SERIES, "Search for a study's series")
def search_study_series(request: Request, study: StudyUID) -> Response:
    """QIDO-RS Search for Series of one study."""
    return _search(request, Level.SERIES, {"StudyInstanceUID": study})


@_route("/studies/{study}/instances", Level.IMAGE, "Search for a study's instances")
def search_study_instances(request: Request, study: StudyUID) -> Response:
    """QIDO-RS Search for Instances of one study (series attributes included)."""
    return _search(request, Level.IMAGE, {"StudyInstanceUID": study})


@_route("/studies/{study}/series/{series}/instances", Level.IMAGE, "Search for a series' instances")
def search_series_instances(request: Request, study: StudyUID, series: SeriesUID) -> Response:
    """QIDO-RS Search for Instances of one series of one study."""
    return _search(request, Level.IMAGE, {"StudyInstanceUID": study, "SeriesInstanceUID": series})


def _scope(fixed: dict[str, str]) -> tuple[Level, ...]:
    if "SeriesInstanceUID" in fixed:
        return (Level.STUDY, Level.SERIES)
    if "StudyInstanceUID" in fixed:
        return (Level.STUDY,)
    return ()


def _search(request: Request, level: Level, fixed: dict[str, str]) -> Response:
    media = choose(request, (DICOM_JSON, MULTIPART_XML))
    query = parse_query(request.query_params.multi_items(), level, fixed)
    archive: Archive = request.app.state.archive
    base = dicomweb_base(request)
    renderer = Renderer(
        level, _scope(fixed), query.include, query.include_all, base, archive.storage.open
    )
    search = replace(query.search, columns=tuple(renderer.columns))
    pages = archive.search(search, page_size=PAGE_ROWS)
    try:
        first = next(pages, None)
        rows = len(first.rows) if first is not None else 0
        complete = rows < PAGE_ROWS
        limit, offset = search.limit, search.offset
        if complete and (rows or not offset) and (limit is None or rows < limit):
            total = offset + rows
        else:
            total = archive.search_count(search)
    except sa.exc.SQLAlchemyError as exc:
        pages.close()
        raise StorageError(f"search failed in the index: {exc}") from exc
    headers = {"X-Total-Count": str(total)}
    warnings = _warnings(request, query, total)
    if warnings:
        headers["Warning"] = ", ".join(warnings)
    if complete:
        pages.close()
        chunks: Iterator[Page] = iter([first] if first is not None else [])
    else:
        chunks = _chained(first, pages)
    if media == MULTIPART_XML:
        if total == 0 or rows == 0:
            pages.close()
            return Response(status_code=204, headers=headers)
        boundary = uuid.uuid4().hex
        headers["Content-Type"] = f'multipart/related; type="{DICOM_XML}"; boundary={boundary}'
        return _answer(_xml_parts(renderer, chunks, boundary), complete, headers)
    return _answer(_json_array(renderer, chunks), complete, headers, DICOM_JSON)


def _answer(
    body: Iterator[bytes], complete: bool, headers: dict[str, str], media: str | None = None
) -> Response:
    if complete:
        return Response(b"".join(body), headers=headers, media_type=media)
    return StreamingResponse(body, headers=headers, media_type=media)


def _chained(first: Page | None, rest: Generator[Page, None, None]) -> Iterator[Page]:
    try:
        if first is not None:
            yield first
        yield from rest
    finally:
        rest.close()


def _json_array(renderer: Renderer, pages: Iterator[Page]) -> Iterator[bytes]:
    opened = False
    for page in pages:
        objects = renderer.render(page)
        if not objects:
            continue
        yield (("," if opened else "[") + ",".join(objects)).encode()
        opened = True
    yield b"]" if opened else b"[]"


def _xml_parts(renderer: Renderer, pages: Iterator[Page], boundary: str) -> Iterator[bytes]:
    from medbridge.web.dicomweb._xml import to_xml

    head = f"--{boundary}\r\nContent-Type: {DICOM_XML}\r\n\r\n".encode()
    for page in pages:
        parts = [head + to_xml(json.loads(obj)).encode() + b"\r\n" for obj in renderer.render(page)]
        yield b"".join(parts)
    yield f"--{boundary}--\r\n".encode()


def _warnings(request: Request, query: QidoQuery, total: int) -> list[str]:
    agent = request.url.netloc or "medbridge"
    out = []
    search = query.search
    if search.limit is not None and search.offset + search.limit < total:
        out.append(f'299 {agent} "There are additional results that can be requested"')
    if query.ignored:
        names = ", ".join(dict.fromkeys(query.ignored))
        out.append(
            f'299 {agent} "The following attributes are not supported as matching keys '
            f'and were ignored: {names}"'
        )
    return out

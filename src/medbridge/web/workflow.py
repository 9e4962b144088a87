"""JSON routes of the workflow services: worklist, MPPS, storage commitment, print.

The same state the DIMSE door serves (`medbridge.archive.worklist`, ``.mpps``,
``.commitment``, ``.printing``), for an RIS or a dashboard:

=======  ==================================  =====  =====================================
method   path                                role   what
=======  ==================================  =====  =====================================
GET      /api/worklist                       read   steps with state (?state, station, date)
POST     /api/worklist                       write  schedule DICOM JSON item(s) (PS3.18 F)
DELETE   /api/worklist/{id}                  admin  cancel a scheduled step
GET      /api/mpps                           read   performed steps (?state)
GET      /api/mpps/{uid}                     read   one, as DICOM JSON, with series held
POST     /api/mpps                           write  create IN PROGRESS (DICOM JSON body)
POST     /api/mpps/{uid}                     write  update / complete / discontinue
GET      /api/commitments                    read   storage commitment requests
GET      /api/print                          read   printed films
GET      /api/print/{film_box_uid}.{png|pdf} read   a printed film's page
=======  ==================================  =====  =====================================

A refusal of the MPPS state machine keeps its meaning: unknown instance 404, a step
that exists already or is final 409, other invalid requests 400 (with the DICOM status
in the message).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydicom.uid import generate_uid
from starlette.concurrency import run_in_threadpool

from medbridge.archive import Archive, is_valid_uid
from medbridge.archive.commitment import CommitmentStore
from medbridge.archive.mpps import MppsStore
from medbridge.archive.printing import PrintStore
from medbridge.archive.worklist import Worklist, item_from_json
from medbridge.errors import ServiceRequestError
from medbridge.server.config import Role
from medbridge.web.access import require

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["workflow"])

_JsonObject = Annotated[dict[str, Any], Body()]
_HTTP_FOR_STATUS = {0x0112: 404, 0x0111: 409, 0x0110: 409}


def _archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


def _uid(value: str) -> str:
    """A UID from the URL, checked (PS3.5 9.1): 400 otherwise, never a path."""
    if not is_valid_uid(value):
        raise HTTPException(400, f"{value[:80]!r} is not a UID (PS3.5 9.1)")
    return value


def _refused(exc: ServiceRequestError) -> HTTPException:
    return HTTPException(
        _HTTP_FOR_STATUS.get(exc.status, 400), f"{exc.reason} (DICOM status 0x{exc.status:04X})"
    )


@router.get("/worklist", dependencies=[Depends(require(Role.READ))])
async def list_worklist(
    request: Request,
    state: str | None = Query(None, description="SCHEDULED, IN PROGRESS, COMPLETED, ..."),
    station: str | None = Query(None, description="Scheduled Station AE Title."),
    date: str | None = Query(None, description="YYYYMMDD or YYYYMMDD-YYYYMMDD."),
) -> list[dict[str, Any]]:
    """The scheduled steps with their states and performed series."""
    wl = Worklist(_archive(request).index)
    entries = await run_in_threadpool(wl.entries, state=state, station=station, date=date)
    return [e.summary() for e in entries]


@router.post("/worklist", status_code=201, dependencies=[Depends(require(Role.WRITE))])
async def add_worklist(
    request: Request, body: Annotated[dict[str, Any] | list[dict[str, Any]], Body()]
) -> dict[str, list[int]]:
    """Schedule one item, or a list, each in DICOM JSON as ``findscu -W`` receives it."""
    items = [item_from_json(doc) for doc in (body if isinstance(body, list) else [body])]
    wl = Worklist(_archive(request).index)
    ids = [await run_in_threadpool(wl.add, item) for item in items]
    return {"ids": ids}


@router.delete("/worklist/{step}", dependencies=[Depends(require(Role.ADMIN))])
async def cancel_worklist(request: Request, step: int) -> dict[str, Any]:
    """Cancel a scheduled step (it stops answering worklist queries)."""
    await run_in_threadpool(Worklist(_archive(request).index).cancel, step)
    return {"id": step, "State": "CANCELLED"}


@router.get("/mpps", dependencies=[Depends(require(Role.READ))])
async def list_mpps(request: Request, state: str | None = None) -> list[dict[str, Any]]:
    """Every performed procedure step with its state."""
    entries = await run_in_threadpool(MppsStore(_archive(request).index).entries, state=state)
    return [e.summary() for e in entries]


@router.get("/mpps/{uid}", dependencies=[Depends(require(Role.READ))])
async def get_mpps(request: Request, uid: str) -> dict[str, Any]:
    """One step as DICOM JSON, and per performed series the instances reported and held."""
    uid = _uid(uid)
    store = MppsStore(_archive(request).index)
    try:
        entry = await run_in_threadpool(store.get, uid)
    except ServiceRequestError as exc:
        raise _refused(exc) from None
    held = await run_in_threadpool(store.series_held, uid)
    return {
        **entry.summary(),
        "Dataset": entry.dataset.to_json_dict(),
        "SeriesHeld": {k: {"reported": r, "held": h} for k, (r, h) in held.items()},
    }


@router.post("/mpps", status_code=201, dependencies=[Depends(require(Role.WRITE))])
async def create_mpps(request: Request, body: _JsonObject) -> dict[str, str]:
    """Create a step IN PROGRESS (as N-CREATE); returns its new SOP Instance UID."""
    ds = item_from_json(body)
    uid = generate_uid()
    store = MppsStore(_archive(request).index)
    caller = f"http:{request.state.caller}"[:16]  # the column holds an AE title's 16
    try:
        await run_in_threadpool(store.create, uid, ds, calling_ae=caller)
    except ServiceRequestError as exc:
        raise _refused(exc) from None
    return {"SOPInstanceUID": uid, "State": "IN PROGRESS"}


@router.post("/mpps/{uid}", dependencies=[Depends(require(Role.WRITE))])
async def set_mpps(request: Request, uid: str, body: _JsonObject) -> dict[str, Any]:
    """Update a step (as N-SET): attributes, or its state to COMPLETED/DISCONTINUED."""
    uid = _uid(uid)
    store = MppsStore(_archive(request).index)
    try:
        merged = await run_in_threadpool(store.set, uid, item_from_json(body))
    except ServiceRequestError as exc:
        raise _refused(exc) from None
    return {"SOPInstanceUID": uid, "State": str(merged.PerformedProcedureStepStatus)}


@router.get("/commitments", dependencies=[Depends(require(Role.READ))])
async def list_commitments(request: Request) -> list[dict[str, Any]]:
    """Storage commitment requests: pending or reported, with their results."""
    return await run_in_threadpool(CommitmentStore(_archive(request)).entries)


def _print_store(request: Request) -> PrintStore:
    archive = _archive(request)
    return PrintStore(archive.index, archive.data_dir)


@router.get("/print", dependencies=[Depends(require(Role.READ))])
async def list_print(request: Request) -> list[dict[str, Any]]:
    """Printed films, each with the URLs of its PNG and PDF page."""
    films = await run_in_threadpool(_print_store(request).films)
    out = []
    for film in films:
        row = film.summary()
        row.pop("PNG")
        row.pop("PDF")
        row["png"] = f"/api/print/{film.film_box_uid}.png"
        row["pdf"] = f"/api/print/{film.film_box_uid}.pdf"
        out.append(row)
    return out


@router.get("/print/{name}", dependencies=[Depends(require(Role.READ))])
async def get_print(request: Request, name: str) -> FileResponse:
    """A printed film's page, ``{film_box_uid}.png`` or ``.pdf``."""
    uid, _, kind = name.rpartition(".")
    if kind not in ("png", "pdf"):
        raise HTTPException(404, f"{name}: ask for FILM_BOX_UID.png or .pdf")
    uid = _uid(uid)
    try:
        path = await run_in_threadpool(_print_store(request).film_file, uid, kind)
    except ServiceRequestError as exc:
        raise _refused(exc) from None
    if not path.is_file():
        raise HTTPException(404, f"the {kind.upper()} of film box {uid} is missing")
    media = "image/png" if kind == "png" else "application/pdf"
    return FileResponse(path, media_type=media)

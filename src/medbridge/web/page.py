"""The web page: ``/`` serves a small app (plain HTML, CSS and JS modules, no build
chain) that finds studies (QIDO-RS), shows them (WADO-RS frames drawn in a canvas,
thumbnails), uploads (STOW-RS) and downloads; and the two downloads the standard has
no route for: a study as a DICOM zip and a series as NIfTI, either optionally
de-identified with the archive's key (``deid_key`` in the config).

The page speaks to the same routes as any client, with the session cookie of
``POST /login`` (`medbridge.web.session`) instead of a bearer token, so it can do exactly
what its user's role allows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from medbridge.archive import Archive
from medbridge.archive.locate import StoredInstance, locate
from medbridge.archive.storage import is_valid_uid
from medbridge.errors import ArchiveError, ConversionError, QueryError
from medbridge.server.config import Role, ServerConfig
from medbridge.web.access import require

__all__ = ["install"]

STATIC = Path(str(files("medbridge.web") / "static"))

router = APIRouter(tags=["page"])


def install(app: FastAPI) -> None:
    """Serve the page at ``/``, its files under ``/static``, and the download routes."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(router)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index() -> HTMLResponse:
    """The page (it logs in by itself when the door needs a user)."""
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


def _policy(config: ServerConfig):  # type: ignore[no-untyped-def]
    """The archive's de-identification: PS3.15 Basic Profile under its configured key."""
    from medbridge.deid.policy import Policy

    if not config.deid_key:
        raise QueryError(
            "no de-identification key is configured (deid_key in [server]): "
            "downloads can only be of the stored files"
        )
    return Policy(key=config.deid_key.encode(), dates="shift")


def _files(archive: Archive, study: str, series: str | None) -> list[StoredInstance]:
    for name, uid in (("Study Instance UID", study), ("Series Instance UID", series)):
        if uid is not None and not is_valid_uid(uid):
            raise QueryError(f"invalid {name} {uid[:80]!r}: not a PS3.5 9.1 UID")
    return locate(archive, study, series)


def _zip_folder(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(folder).as_posix())


def _answer(work: Path, archive_name: str) -> FileResponse:
    return FileResponse(
        work / "answer.zip",
        media_type="application/zip",
        filename=archive_name,
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )


def _study_zip(archive: Archive, config: ServerConfig, study: str, deidentify: bool) -> Path:
    items = _files(archive, study, None)
    work = Path(tempfile.mkdtemp(prefix="medbridge-download-"))
    try:
        content = work / "content"
        content.mkdir()
        if deidentify:
            from medbridge.deid.runner import anonymize_paths

            summary = anonymize_paths([i.path for i in items], content, _policy(config), jobs=1)
            if summary.count("written") == 0:
                raise ArchiveError(f"no instance of study {study} could be de-identified")
        else:
            for item in items:
                target = content / item.series_instance_uid / f"{item.sop_instance_uid}.dcm"
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(item.path, target)
        _zip_folder(content, work / "answer.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work


def _series_nifti(
    archive: Archive, config: ServerConfig, study: str, series: str, deidentify: bool
) -> Path:
    from medbridge.convert import ConvertOptions, convert_files

    items = _files(archive, study, series)
    work = Path(tempfile.mkdtemp(prefix="medbridge-nifti-"))
    try:
        options = ConvertOptions(compress=True, template="%p_%s", threads=1)
        if deidentify:
            from medbridge.deid.deidentify import deidentify as deid

            policy = _policy(config)
            options = ConvertOptions(
                compress=True, template="%p_%s", threads=1, deidentify=lambda ds: deid(ds, policy)
            )
        source = work / "dicom"
        source.mkdir()
        for n, item in enumerate(items):
            os.symlink(item.path, source / f"{n:06d}.dcm")
        out = work / "nifti"
        report = convert_files([source], out, options)
        if not report.outputs:
            reasons = "; ".join(s.reason for s in report.skipped) or "no image series"
            raise ConversionError(f"series {series} cannot be converted to NIfTI: {reasons}")
        _zip_folder(out, work / "answer.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work


@router.get(
    "/api/studies/{study}/download",
    summary="A study as a zip of DICOM files, optionally de-identified",
    dependencies=[Depends(require(Role.READ))],
    response_class=FileResponse,
)
async def download_study(
    request: Request, study: str, deidentify: bool = Query(False)
) -> FileResponse:
    """The stored files (``<series>/<instance>.dcm``), or their PS3.15 de-identified
    copies under the archive's key (``<study>/<series>/<instance>.dcm``)."""
    archive: Archive = request.app.state.archive
    work = await run_in_threadpool(
        _study_zip, archive, request.app.state.config, study, deidentify
    )
    return _answer(work, f"study-{study}{'-deid' if deidentify else ''}.zip")


@router.get(
    "/api/studies/{study}/series/{series}/nifti",
    summary="A series as NIfTI (.nii.gz) with its BIDS sidecar, optionally de-identified",
    dependencies=[Depends(require(Role.READ))],
    response_class=FileResponse,
)
async def download_nifti(
    request: Request, study: str, series: str, deidentify: bool = Query(False)
) -> FileResponse:
    """The series converted as ``medbridge convert -z y`` converts it (dcm2niix parity),
    zipped with its sidecar (and bval/bvec for diffusion)."""
    archive: Archive = request.app.state.archive
    work = await run_in_threadpool(
        _series_nifti, archive, request.app.state.config, study, series, deidentify
    )
    return _answer(work, f"series-{series}{'-deid' if deidentify else ''}-nifti.zip")

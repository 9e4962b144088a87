"""The HTTP door's ASGI app: one factory over one `Archive`.

Routes live in one module per service (``dicomweb`` QIDO-RS, WADO-RS, STOW-RS under
``/dicom-web``, as Orthanc roots them, so viewer configurations carry over); ``/fhir``
and ``/`` are kept for FHIR and the web page. Cross-cutting concerns sit here: errors
(`medbridge.web.errors`), CORS, the cross-origin isolation headers a viewer's MPR needs,
and the request-body limit. Access is per route (`medbridge.web.access`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from medbridge import __version__
from medbridge.archive import Archive
from medbridge.server.config import ServerConfig
from medbridge.web.audit import AuditMiddleware
from medbridge.web.errors import install_error_handlers

__all__ = ["DICOMWEB_ROOT", "create_app"]

#: Where DICOMweb lives (PS3.18 leaves the base URL to the origin server).
DICOMWEB_ROOT = "/dicom-web"


def create_app(archive: Archive, config: ServerConfig | None = None) -> FastAPI:
    """Build the HTTP door's app over `archive`.

    The app keeps `archive` and `config` in ``app.state``; it never opens or closes the
    archive, which belongs to the caller (``medbridge serve``, or a test).
    """
    config = config or ServerConfig(data_dir=archive.data_dir)
    app = FastAPI(
        title="medbridge",
        version=__version__,
        summary="DICOMweb (QIDO-RS, WADO-RS, STOW-RS) over a medbridge archive",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.archive = archive
    app.state.config = config
    install_error_handlers(app)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Accept", "Content-Type", "Range"],
            expose_headers=["Warning", "X-Total-Count", "Content-Range", "Content-Location"],
        )
    if config.cross_origin_isolation:
        app.middleware("http")(_isolate)
    # JSON answers (QIDO-RS, FHIR) gzip'ed when the client accepts it; pixel data and
    # DICOM parts are already as small as they get, and compressing them costs the CPU
    # that WADO-RS throughput needs
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=6,
        exclude_content_types=(
            *DEFAULT_EXCLUDED_CONTENT_TYPES,
            "multipart/*",
            "image/*",
            "application/dicom",
            "application/octet-stream",
        ),
    )
    app.add_middleware(AuditMiddleware, audit=archive.audit, config=config)
    app.get("/health", tags=["health"], summary="Whether the index and storage answer")(_health)
    # the route modules import this package's helpers: import them last
    from medbridge.web import dicomweb, fhir, page, session, workflow

    app.include_router(dicomweb.router, prefix=DICOMWEB_ROOT)
    app.include_router(session.router)
    app.include_router(workflow.router)  # /api/worklist, /api/mpps, /api/print, ...
    fhir.install(app)
    page.install(app)
    return app


def _health(request: Request) -> dict[str, str]:
    """For load balancers: 200 when this node's index and storage answer, else 503."""
    archive: Archive = request.app.state.archive
    return {"status": archive.health()}


async def _isolate(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """COOP/COEP: a viewer's SharedArrayBuffer (MPR in OHIF) needs an isolated page."""
    response = await call_next(request)
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Embedder-Policy"] = "require-corp"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response

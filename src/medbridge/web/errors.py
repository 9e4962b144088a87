"""medbridge's errors as HTTP answers: one status per class, the reason in the body.

Starlette finds a handler by the exception's MRO, so one handler per base class covers
the tree of `medbridge.errors`. Every answer is JSON ``{"detail": reason}`` (FastAPI's
own shape for its validation errors) so a client reads one format for every refusal.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from medbridge.errors import (
    ArchiveError,
    DuplicateInstance,
    InvalidDicomError,
    MedbridgeError,
    NotFoundError,
    QueryError,
    StorageError,
    UnsupportedTransferSyntax,
)

__all__ = ["STATUS", "install_error_handlers", "status_for"]

LOGGER = logging.getLogger(__name__)

#: HTTP status per error class, most specific first (the first isinstance match wins).
STATUS: tuple[tuple[type[MedbridgeError], int], ...] = (
    (NotFoundError, 404),
    (DuplicateInstance, 409),
    (QueryError, 400),
    (InvalidDicomError, 400),
    (UnsupportedTransferSyntax, 406),
    (StorageError, 503),
    (ArchiveError, 400),
    (MedbridgeError, 400),
)


def status_for(exc: MedbridgeError) -> int:
    """The HTTP status that answers `exc`."""
    return next(code for cls, code in STATUS if isinstance(exc, cls))


async def _answer(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MedbridgeError)
    status = status_for(exc)
    log = LOGGER.warning if status >= 500 else LOGGER.info
    log("%s %s: %d %s", request.method, request.url.path, status, exc)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every `MedbridgeError` a route raises with its status and reason."""
    app.add_exception_handler(MedbridgeError, _answer)

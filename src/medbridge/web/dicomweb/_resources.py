"""What every WADO-RS route does first: validate the path's UIDs and find the files.

UIDs from the URL are input, never paths (DESIGN.md principle 7): a malformed one is a
400 naming it, before the index is asked; an unknown one, or an instance asked for
under a study or series it is not in, is a 404 (`medbridge.archive.locate`).
"""

from __future__ import annotations

from fastapi import Request

from medbridge.archive import Archive, is_valid_uid
from medbridge.archive.derived import DerivedFiles
from medbridge.archive.locate import StoredInstance, locate
from medbridge.errors import QueryError

__all__ = ["archive_of", "base_url", "derived_of", "find", "gzip_accepted"]

_NAMES = ("Study Instance UID", "Series Instance UID", "SOP Instance UID")


def archive_of(request: Request) -> Archive:
    """The archive the app serves."""
    archive: Archive = request.app.state.archive
    return archive


def derived_of(request: Request) -> DerivedFiles:
    """The derived files (metadata caches) beside the archive's studies."""
    return DerivedFiles(archive_of(request).storage)


def find(
    request: Request, study: str, series: str | None = None, instance: str | None = None
) -> list[StoredInstance]:
    """Validate the UIDs of a WADO-RS path and return the instances it names.

    Raises
    ------
    QueryError
        400: a UID is not a PS3.5 9.1 UID.
    NotFoundError
        404: nothing is stored under these UIDs.
    """
    for name, uid in zip(_NAMES, (study, series, instance), strict=True):
        if uid is not None and not is_valid_uid(uid):
            raise QueryError(f"invalid {name} {uid[:80]!r}: not a PS3.5 9.1 UID")
    return locate(archive_of(request), study, series, instance)


def base_url(request: Request) -> str:
    """The DICOMweb root of this request (what precedes ``/studies/`` in its URL).

    dicomweb-client sends a Host header without the port; when Host names no port, the
    port is not the scheme's default and no proxy says it forwarded the request
    (``X-Forwarded-*``), the port the request reached is added, so BulkDataURIs work.
    """
    path = request.url.path
    cut = path.find("/studies/")
    root = path[:cut] if cut >= 0 else path
    netloc = request.url.netloc
    server = request.scope.get("server")
    forwarded = any(k.startswith("x-forwarded-") or k == "forwarded" for k in request.headers)
    if server and ":" not in netloc.rpartition("]")[2] and not forwarded:
        port = int(server[1]) if server[1] is not None else None
        default = 443 if request.url.scheme == "https" else 80
        if port is not None and port != default:
            netloc = f"{netloc}:{port}"
    return f"{request.url.scheme}://{netloc}{root}"


def gzip_accepted(request: Request) -> bool:
    """Whether Accept-Encoding allows gzip (RFC 9110 12.5.3; q=0 refuses)."""
    header = request.headers.get("accept-encoding", "")
    for entry in header.split(","):
        name, _, params = entry.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False

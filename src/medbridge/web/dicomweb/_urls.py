"""This server's DICOMweb root as a client can reach it, for RetrieveURL and the like.

The URL comes from the request's Host header (RFC 9110 7.2), which is right behind a
reverse proxy. One common client gets it wrong: dicomweb-client sets ``Host`` to the
bare host name, dropping the port, so ``http://127.0.0.1:8080`` would come back as
``http://127.0.0.1``. When the Host has no port, no proxy header says the request was
forwarded, and the socket's port is not the scheme's default, the socket's port is
added back.
"""

from __future__ import annotations

from fastapi import Request

__all__ = ["DICOMWEB_ROOT", "dicomweb_base"]

DICOMWEB_ROOT = "/dicom-web"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PROXY_HEADERS = ("forwarded", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-for")


def dicomweb_base(request: Request) -> str:
    """``scheme://host[:port][root_path]/dicom-web`` of `request`'s server."""
    url = request.base_url
    server = request.scope.get("server")
    forwarded = any(name in request.headers for name in _PROXY_HEADERS)
    if url.port is None and server and not forwarded:
        port = server[1]
        if port and port != _DEFAULT_PORTS.get(url.scheme):
            url = url.replace(port=port)
    return str(url).rstrip("/") + DICOMWEB_ROOT

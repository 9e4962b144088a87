"""Every request to the HTTP door into the audit trail, allowed or refused.

A pure ASGI middleware (no buffering of streamed answers): it notes the status when the
answer starts and records one event when the request ends, naming the caller (the
token's or user's name that `medbridge.web.access` put in ``request.state.caller``),
the door (``dicomweb``, ``fhir``, ``web``), the studies the path names (and those a
route adds to ``state.audit_studies``, as STOW-RS does for what it stored) and the
outcome: 0 for success, 4 for a refused or bad request, 8 when the server failed.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medbridge.archive.audit import AuditEvent, AuditLog, Outcome
from medbridge.server.config import ServerConfig
from medbridge.web.access import token_for

__all__ = ["AuditMiddleware", "classify"]

_STUDY = re.compile(r"/studies/([0-9.]{1,64})(?:/|$)")
_RESOURCE = re.compile(r"/(studies|series|instances)/?$")


def classify(method: str, path: str) -> tuple[AuditEvent, str] | None:
    """The audit event of a request and its door; None for what is not audited."""
    if path.startswith("/dicom-web"):
        door = "dicomweb"
        if method == "DELETE":
            return AuditEvent.STUDY_DELETED, door
        if method == "POST":
            return AuditEvent.INSTANCES_TRANSFERRED, door
        if _RESOURCE.search(path):
            return AuditEvent.QUERY, door
        return AuditEvent.INSTANCES_ACCESSED, door
    if path.startswith("/fhir"):
        return (AuditEvent.QUERY if method == "GET" else AuditEvent.PATIENT_RECORD), "fhir"
    if path.startswith("/api/") and path != "/api/me":
        if "/download" in path or "/export" in path:
            return AuditEvent.EXPORT, "web"
        return (AuditEvent.QUERY if method == "GET" else AuditEvent.ORDER_RECORD), "web"
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _outcome(status: int) -> Outcome:
    if status < 400:
        return Outcome.SUCCESS
    return Outcome.MINOR_FAILURE if status < 500 else Outcome.SERIOUS_FAILURE


class AuditMiddleware:
    """Record each audited request in `audit` once it has been answered."""

    def __init__(self, app: ASGIApp, audit: AuditLog, config: ServerConfig) -> None:
        self.app = app
        self.audit = audit
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = classify(scope["method"], scope["path"])
        if kind is None:
            await self.app(scope, receive, send)
            return
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self._record(scope, kind, status)

    def _record(self, scope: Scope, kind: tuple[AuditEvent, str], status: int) -> None:
        state: dict[str, Any] = scope.get("state", {})
        studies = set(_STUDY.findall(scope["path"]))
        studies.update(state.get("audit_studies", ()))
        client = scope.get("client")
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        self.audit.record(
            kind[0],
            door=kind[1],
            user=str(state.get("caller") or self._token_name(scope)),
            outcome=_outcome(status),
            address=client[0] if client else None,
            studies=studies,
            detail=f"{scope['method']} {path[:500]} -> {status}",
        )

    def _token_name(self, scope: Scope) -> str:
        """The caller of a request no route identified (an unknown path): its token."""
        token = token_for(self.config, _header(scope, b"authorization"))
        return token.name if token is not None else "anonymous"

"""Who may use the HTTP door: one access model for DICOMweb, FHIR and the page.

A caller proves who it is in one of two ways:

- ``Authorization: Bearer <token>``: a token from the config (``[tokens.NAME]``), what
  DICOMweb and FHIR clients, scripts and viewers send;
- the session cookie a person gets from ``POST /login`` (users of
  `medbridge.archive.accounts`, managed with ``medbridge user``). A request that changes
  anything (POST, PUT, PATCH, DELETE) with a session must also carry the session's CSRF
  token in ``X-CSRF-Token`` (the page reads it from the ``medbridge_csrf`` cookie), so
  another site cannot make the browser act for its user.

When neither tokens nor users are configured the door is open, which
`medbridge.server.process` allows only on loopback. A route states the role it needs
with ``Depends(require(Role.WRITE))``; the caller's name travels in
``request.state.caller`` for the log and the audit trail.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from fastapi import HTTPException, Request

from medbridge.archive import Archive
from medbridge.archive.accounts import has_users, session_for
from medbridge.server.config import Role, ServerConfig, Token

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "caller_role", "require", "token_for"]

SESSION_COOKIE = "medbridge_session"
CSRF_COOKIE = "medbridge_csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_USERS_TTL = 5.0  # seconds a "are there users?" answer is reused


def token_for(config: ServerConfig, header: str | None) -> Token | None:
    """Return the configured token an ``Authorization: Bearer ...`` header carries."""
    if not header:
        return None
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    secret = secret.strip()
    for token in config.tokens:
        # constant time: the comparison must not tell how much of a guess was right
        if hmac.compare_digest(token.secret.encode(), secret.encode()):
            return token
    return None


def _users_configured(request: Request, archive: Archive) -> bool:
    """Whether the index holds users, asked at most every few seconds per node."""
    state = request.app.state
    cached: tuple[float, bool] | None = getattr(state, "users_configured", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > _USERS_TTL:
        cached = (now, has_users(archive.index))
        state.users_configured = cached
    return cached[1]


def caller_role(request: Request) -> tuple[str, Role] | None:
    """Who is calling and with which role; None for an anonymous caller of a closed door.

    An open door (no tokens, no users) makes everyone an ``anonymous`` admin.

    Raises
    ------
    HTTPException
        403 for a session request that changes something without its CSRF token.
    """
    config: ServerConfig = request.app.state.config
    archive: Archive = request.app.state.archive
    token = token_for(config, request.headers.get("authorization"))
    if token is not None:
        return token.name, token.role
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = session_for(archive.index, cookie, request.headers.get("x-csrf-token"))
        if found is not None:
            user, csrf_ok = found
            if request.method not in _SAFE_METHODS and not csrf_ok:
                raise HTTPException(403, "missing or wrong X-CSRF-Token for this session")
            return user.name, Role(user.role)
    if not config.tokens and not _users_configured(request, archive):
        return "anonymous", Role.ADMIN
    return None


def require(role: Role) -> Callable[[Request], None]:
    """A FastAPI dependency: 401 without credentials, 403 when the role is too low."""

    def check(request: Request) -> None:
        who = caller_role(request)
        if who is None:
            request.state.caller = "anonymous"
            raise HTTPException(
                401,
                "log in, or send a bearer token (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": 'Bearer realm="medbridge"'},
            )
        name, held = who
        request.state.caller = name
        if not held.allows(role):
            raise HTTPException(403, f"{name!r} has role {held}, {role} needed")

    return check

"""Logging in and out of the page: ``POST /login``, ``POST /logout``, ``GET /api/me``.

A successful login sets two cookies: the session (HttpOnly, so page scripts cannot read
it) and the CSRF token (readable by the page, which echoes it in ``X-CSRF-Token``).
Both are SameSite=Strict, and Secure when the door speaks HTTPS. Logins, failed ones
included, go to the audit trail as "User Authentication".
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from medbridge.archive import Archive
from medbridge.archive.accounts import SESSION_LIFETIME, check_password, end_session, open_session
from medbridge.archive.audit import AuditEvent, Outcome
from medbridge.web.access import CSRF_COOKIE, SESSION_COOKIE, caller_role

__all__ = ["router"]

router = APIRouter(tags=["session"])


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _credentials(request: Request) -> tuple[str, str]:
    """``username`` and ``password`` from a form post or a JSON body (400 otherwise)."""
    body = await request.body()
    if len(body) > 4096:
        raise HTTPException(413, "a login body holds a user name and a password only")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            fields = json.loads(body)
            if not isinstance(fields, dict):
                raise ValueError("not an object")
        elif kind == "application/x-www-form-urlencoded":
            fields = {k: v[0] for k, v in parse_qs(body.decode(), strict_parsing=False).items()}
        else:
            raise HTTPException(415, "send the login as a form or as JSON")
        return str(fields["username"]), str(fields["password"])
    except (KeyError, ValueError, UnicodeDecodeError):
        raise HTTPException(400, "a login needs the fields username and password") from None


@router.post(
    "/login",
    summary="Log in: username and password as a form post or JSON",
    responses={401: {"description": "wrong user name or password"}},
)
async def login(request: Request, response: Response) -> dict[str, str]:
    """Check the password; on success set the session and CSRF cookies."""
    username, password = await _credentials(request)
    return await run_in_threadpool(_login, request, response, username, password)


def _login(request: Request, response: Response, username: str, password: str) -> dict[str, str]:
    archive: Archive = request.app.state.archive
    user = check_password(archive.index, username, password)
    if user is None:
        archive.audit.record(
            AuditEvent.USER_AUTHENTICATION,
            door="web",
            user=username,
            outcome=Outcome.MINOR_FAILURE,
            address=_client(request),
            detail="login refused",
        )
        raise HTTPException(401, "wrong user name or password")
    session = open_session(archive.index, user)
    secure = request.url.scheme == "https"
    age = int(SESSION_LIFETIME.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, session.token, max_age=age, httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, session.csrf, max_age=age, httponly=False, samesite="strict", secure=secure
    )
    archive.audit.record(
        AuditEvent.USER_AUTHENTICATION,
        door="web",
        user=user.name,
        address=_client(request),
        detail="login",
    )
    return {"user": user.name, "role": user.role, "csrf": session.csrf}


@router.post("/logout", summary="End this browser's session")
def logout(request: Request, response: Response) -> dict[str, str]:
    """Forget the session server-side and clear both cookies."""
    archive: Archive = request.app.state.archive
    token = request.cookies.get(SESSION_COOKIE)
    who = caller_role(request) if token else None  # checks CSRF for a live session
    if token:
        end_session(archive.index, token)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    if who is not None:
        archive.audit.record(
            AuditEvent.USER_AUTHENTICATION,
            door="web",
            user=who[0],
            address=_client(request),
            detail="logout",
        )
    return {"status": "logged out"}


@router.get("/api/me", summary="Who this request is, and with which role")
def me(request: Request) -> dict[str, str | None]:
    """The caller's name and role, or 401 (the page asks this to decide what to show)."""
    who = caller_role(request)
    if who is None:
        raise HTTPException(401, "not logged in")
    return {"user": who[0], "role": str(who[1])}

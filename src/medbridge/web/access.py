"""Who may use the HTTP door: bearer tokens from the config, each with a `Role`.

When the config names no token the door is open, which `medbridge.server` allows only on
loopback (or with ``insecure``). A route states the role it needs with ``Depends(
require(Role.WRITE))``; the caller's token name travels in ``request.state.caller`` so
the log can say who stored or deleted what.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import HTTPException, Request

from medbridge.server.config import Role, ServerConfig, Token

__all__ = ["require", "token_for"]


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


def require(role: Role) -> Callable[[Request], None]:
    """A FastAPI dependency: 401 without a known token, 403 when its role is too low."""

    def check(request: Request) -> None:
        config: ServerConfig = request.app.state.config
        if not config.tokens:
            request.state.caller = "anonymous"
            return
        token = token_for(config, request.headers.get("authorization"))
        if token is None:
            raise HTTPException(
                401,
                "a bearer token is required (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": 'Bearer realm="medbridge"'},
            )
        if not token.role.allows(role):
            raise HTTPException(403, f"token {token.name!r} has role {token.role}, {role} needed")
        request.state.caller = token.name

    return check

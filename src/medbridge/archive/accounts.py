"""People who may use the archive: users with a role, their passwords and web sessions.

Kept in the archive's index (SQLite or PostgreSQL) so every node of a cluster knows the
same users and the same sessions: a node that dies takes no one's login with it.
Passwords are stored as scrypt hashes (the standard library's, memory-hard, salted);
session and CSRF tokens as SHA-256 digests, so a copy of the index opens no session.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from medbridge.archive.index import Index, metadata
from medbridge.errors import ArchiveError, NotFoundError

__all__ = [
    "ROLES",
    "Session",
    "User",
    "add_user",
    "check_password",
    "end_session",
    "has_users",
    "hash_password",
    "list_users",
    "open_session",
    "remove_user",
    "session_for",
    "verify_password",
]

#: The roles a person may have, least to most; each includes the ones before it.
ROLES = ("viewer", "uploader", "admin")

SESSION_LIFETIME = timedelta(hours=12)
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")

user_table = sa.Table(
    "app_user",
    metadata,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

session_table = sa.Table(
    "web_session",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), nullable=False, index=True),
    sa.Column("csrf_sha256", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class User:
    """A person known to the archive."""

    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class Session:
    """A logged-in browser: the user, and the tokens only its cookie and page hold."""

    user: User
    token: str
    csrf: str
    expires_at: datetime


def hash_password(password: str, *, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    """An scrypt hash ``scrypt$n$r$p$salt$digest`` (hex), what the index keeps."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches an `hash_password` hash (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def _role(role: str) -> str:
    value = {"read": "viewer", "write": "uploader"}.get(role, role)
    if value not in ROLES:
        raise ArchiveError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return value


def add_user(index: Index, name: str, password: str, role: str) -> User:
    """Add a user, or change an existing user's password and role.

    Raises
    ------
    ArchiveError
        If the name is not 1-64 letters, digits or ``._@-``, the role unknown, or the
        password shorter than 8 characters.
    """
    if not _NAME.match(name):
        raise ArchiveError(f"invalid user name {name!r}: 1-64 letters, digits or ._@-")
    if len(password) < 8:
        raise ArchiveError("a password needs at least 8 characters")
    values = {
        "name": name,
        "role": _role(role),
        "password_hash": hash_password(password),
        "created_at": datetime.now(UTC),
    }
    with index.write() as conn:
        updated = conn.execute(
            user_table.update()
            .where(user_table.c.name == name)
            .values(role=values["role"], password_hash=values["password_hash"])
        ).rowcount
        if not updated:
            conn.execute(user_table.insert().values(**values))
        # a new password ends the user's open sessions
        conn.execute(session_table.delete().where(session_table.c.user_name == name))
    return User(name, str(values["role"]), values["created_at"])  # type: ignore[arg-type]


def remove_user(index: Index, name: str) -> None:
    """Remove a user and end their sessions.

    Raises
    ------
    NotFoundError
        If there is no such user.
    """
    with index.write() as conn:
        gone = conn.execute(user_table.delete().where(user_table.c.name == name)).rowcount
        conn.execute(session_table.delete().where(session_table.c.user_name == name))
    if not gone:
        raise NotFoundError(f"no user {name!r}")


def list_users(index: Index) -> list[User]:
    """Every user, by name."""
    with index.read() as conn:
        rows = conn.execute(
            sa.select(user_table.c.name, user_table.c.role, user_table.c.created_at).order_by(
                user_table.c.name
            )
        )
        return [User(name, role, created) for name, role, created in rows]


def has_users(index: Index) -> bool:
    """Whether any user is configured (then the HTTP door demands a login)."""
    with index.read() as conn:
        return conn.execute(sa.select(user_table.c.pk).limit(1)).first() is not None


def check_password(index: Index, name: str, password: str) -> User | None:
    """The user if `password` is theirs, else None (same work for unknown names)."""
    with index.read() as conn:
        row = conn.execute(
            sa.select(user_table.c.role, user_table.c.password_hash, user_table.c.created_at)
            .where(user_table.c.name == name)
        ).first()
    if row is None:
        verify_password(password, _dummy_hash())  # unknown names cost what known ones do
        return None
    role, stored, created = row
    return User(name, role, created) if verify_password(password, stored) else None


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(index: Index, user: User) -> Session:
    """Start a session for `user`; the returned tokens exist only in the answer."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + SESSION_LIFETIME
    with index.write() as conn:
        conn.execute(session_table.delete().where(session_table.c.expires_at < datetime.now(UTC)))
        conn.execute(
            session_table.insert().values(
                token_sha256=_digest(token),
                user_name=user.name,
                csrf_sha256=_digest(csrf),
                expires_at=expires,
            )
        )
    return Session(user, token, csrf, expires)


def session_for(index: Index, token: str, csrf: str | None = None) -> tuple[User, bool] | None:
    """The user of a live session and whether `csrf` is that session's CSRF token."""
    now = datetime.now(UTC)
    with index.read() as conn:
        row = conn.execute(
            sa.select(
                user_table.c.name,
                user_table.c.role,
                user_table.c.created_at,
                session_table.c.csrf_sha256,
                session_table.c.expires_at,
            )
            .join(user_table, user_table.c.name == session_table.c.user_name)
            .where(session_table.c.token_sha256 == _digest(token))
        ).first()
    if row is None:
        return None
    name, role, created, csrf_sha, expires = row
    if expires.tzinfo is None:  # SQLite hands back naive datetimes
        expires = expires.replace(tzinfo=UTC)
    if expires < now:
        return None
    csrf_ok = csrf is not None and hmac.compare_digest(_digest(csrf), csrf_sha)
    return User(name, role, created), csrf_ok


def end_session(index: Index, token: str) -> None:
    """Log a session out (a missing session is not an error)."""
    with index.write() as conn:
        conn.execute(session_table.delete().where(session_table.c.token_sha256 == _digest(token)))

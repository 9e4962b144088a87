"""Keyed, deterministic UID remapping (PS3.15 E.1.1 action U, E.3.9).

A UID is replaced by ``2.25.<n>`` where ``n`` is a UUID built from HMAC-SHA256(key, UID),
as PS3.5 B.2 allows for UUID-derived UIDs. The same UID and key give the same new UID in
every file, run and machine, so references (Referenced SOP Instance UID, Frame of
Reference UID, ...) stay consistent inside and across files without any shared state; and
without the key the mapping can be neither reversed nor recomputed.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["is_well_known", "remap_uid"]

_STANDARD_ROOT = "1.2.840.10008."


def is_well_known(uid: str) -> bool:
    """Whether ``uid`` is defined by the standard (SOP classes, transfer syntaxes, ...).

    Such UIDs name kinds of things, not instances, and carry no identity; PS3.15 keeps
    them, so remapping leaves them alone.
    """
    return uid.startswith(_STANDARD_ROOT)


def remap_uid(uid: str, key: bytes) -> str:
    """Return the pseudonymous UID for ``uid`` under ``key``.

    Parameters
    ----------
    uid:
        The original UID; trailing padding (NUL or space) is ignored.
    key:
        The secret key of the :class:`~medbridge.deid.policy.Policy`.

    Returns
    -------
    str
        ``2.25.`` and the decimal value of an RFC 9562 version-8 UUID taken from the
        HMAC, at most 44 characters. Well-known UIDs and empty values come back unchanged.
    """
    uid = uid.strip("\0 ")
    if not uid or is_well_known(uid):
        return uid
    digest = hmac.new(key, b"uid:" + uid.encode("ascii", "replace"), hashlib.sha256).digest()
    n = int.from_bytes(digest[:16], "big")
    n = (n & ~(0xF << 76)) | (0x8 << 76)  # version 8: custom
    n = (n & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return f"2.25.{n}"

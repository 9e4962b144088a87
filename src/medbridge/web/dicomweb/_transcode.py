"""Whole instances in another transfer syntax, for WADO-RS retrieval (PS3.18 8.7.3.5).

The archive keeps files as received; a client that does not accept the stored syntax
gets the instance decoded to Explicit VR Little Endian (the default of
``application/dicom``, PS3.18 8.7.3.5.2) or Implicit VR Little Endian, by pydicom with
the installed decoders. Other targets would need an encoder per syntax and lossy
choices the standard leaves to the server; they are refused (406) unless stored so.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from pydicom import dcmread
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID

from medbridge.errors import StorageError, UnsupportedTransferSyntax

__all__ = [
    "EXPLICIT_LE",
    "IMPLICIT_LE",
    "TRANSCODE_TARGETS",
    "can_deliver",
    "transcoded",
]

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
#: The syntaxes medbridge converts any decodable instance to.
TRANSCODE_TARGETS = frozenset({EXPLICIT_LE, IMPLICIT_LE})


def _convertible(stored: str) -> bool:
    """Whether pydicom can rewrite a file of syntax `stored` as native little endian."""
    if stored in (EXPLICIT_LE, IMPLICIT_LE, DEFLATED_LE):
        return True
    syntax = UID(stored)
    if not syntax.is_compressed:
        return False  # big endian: pydicom does not swap pixel data on write
    try:
        return bool(get_decoder(syntax).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_deliver(stored: Iterable[str], target: str) -> bool:
    """Whether every syntax in `stored` can be answered in `target`."""
    return all(s == target or (target in TRANSCODE_TARGETS and _convertible(s)) for s in stored)


def transcoded(path: Path, target: str) -> bytes:
    """Return the Part 10 bytes of `path` rewritten in `target` (a native LE syntax).

    Raises
    ------
    UnsupportedTransferSyntax
        The file cannot be parsed or its pixel data decoded (406: not in `target`).
    StorageError
        The file cannot be read.
    """
    ds = None
    try:
        ds = dcmread(path)
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress(generate_instance_uid=False)  # the same instance, decoded
        ds.file_meta.TransferSyntaxUID = UID(target)
        out = io.BytesIO()
        ds.save_as(
            out, implicit_vr=target == IMPLICIT_LE, little_endian=True, enforce_file_format=True
        )
    except OSError as exc:
        raise StorageError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    except Exception as exc:  # pydicom and its plugins raise many types
        stored = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "")) if ds else ""
        raise UnsupportedTransferSyntax(
            stored,
            UID(stored).name if stored else "this file",
            path=path.name,
            hint=f"converting to {target}: {exc}"[:300],
        ) from exc
    return out.getvalue()

"""``multipart/related`` bodies (RFC 2387, PS3.18 8.6.1.2) for the DICOMweb client.

Reading streams: a WADO-RS answer of a large study arrives in chunks and each part is
handed on as soon as its closing delimiter is seen, so only one instance is in memory
at a time. Writing builds one STOW-RS request body from the files' bytes as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator

from medbridge.errors import ArchiveError

__all__ = ["boundary_of", "encode_parts", "iter_parts", "new_boundary"]


def new_boundary() -> str:
    """A boundary that cannot occur in DICOM bytes by chance (RFC 2046 5.1.1)."""
    return f"medbridge-{uuid.uuid4().hex}"


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type header.

    Raises
    ------
    ArchiveError
        If the header is not ``multipart/related`` or names no boundary.
    """
    media_type, *params = (p.strip() for p in content_type.split(";"))
    if media_type.lower() != "multipart/related":
        raise ArchiveError(f"expected a multipart/related answer, got {content_type!r}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise ArchiveError(f"multipart answer without a boundary: {content_type!r}")


def encode_parts(parts: Iterable[bytes], media_type: str, boundary: str) -> bytes:
    """One multipart/related body whose parts all have Content-Type `media_type`."""
    head = f"--{boundary}\r\nContent-Type: {media_type}\r\n\r\n".encode("ascii")
    chunks: list[bytes] = []
    for part in parts:
        chunks += [head, part, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)


def _headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def iter_parts(chunks: Iterable[bytes], boundary: str) -> Iterator[tuple[dict[str, str], bytes]]:
    """Yield ``(headers, body)`` of each part of a multipart body arriving as `chunks`.

    Header names are lower-cased. The preamble before the first delimiter and the
    epilogue after the closing one are ignored, as RFC 2046 says.

    Raises
    ------
    ArchiveError
        If the body ends before its closing delimiter, or a part has no blank line
        between its headers and its body.
    """
    delimiter = b"\r\n--" + boundary.encode("ascii")
    buf = bytearray(b"\r\n")  # the first delimiter may open the body without a CRLF
    search = 0
    in_part = False
    for chunk in chunks:
        buf += chunk
        while True:
            at = buf.find(delimiter, search)
            if at < 0:
                search = max(0, len(buf) - len(delimiter) + 1)
                break
            after = at + len(delimiter)
            if len(buf) < after + 2:
                search = at
                break  # need the two bytes after the delimiter
            closing = buf[after : after + 2] == b"--"
            line_end = buf.find(b"\r\n", after)
            if not closing and line_end < 0:
                search = at
                break
            if in_part:
                yield _split_part(bytes(buf[:at]))
            if closing:
                return
            del buf[: line_end + 2]
            search = 0
            in_part = True
    raise ArchiveError("multipart answer ended before its closing boundary")


def _split_part(part: bytes) -> tuple[dict[str, str], bytes]:
    if part.startswith(b"\r\n"):  # a part with no headers at all
        return {}, part[2:]
    end = part.find(b"\r\n\r\n")
    if end < 0:
        raise ArchiveError("multipart part without a blank line after its headers")
    return _headers(part[:end]), part[end + 4 :]

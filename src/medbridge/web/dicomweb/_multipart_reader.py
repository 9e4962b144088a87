"""Read a ``multipart/related`` request body part by part as it arrives (RFC 2046 5.1).

A STOW-RS body may be gigabytes of instances; the reader keeps at most the part being
received (plus one network chunk) in memory, and hands each part over as soon as its
closing delimiter is seen, so storing it can overlap receiving the next. Delimiters are
``CRLF--boundary``; the first may come without the CRLF, after an ignored preamble.
Anything that does not follow the grammar (no first delimiter, a part without a header
block, a body ending before the close delimiter, a header block over 16 KiB) is a
`MultipartError` naming what was wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from medbridge.errors import MedbridgeError

__all__ = ["MultipartError", "Part", "iter_parts"]

_MAX_HEADERS = 16 * 1024


class MultipartError(MedbridgeError, ValueError):
    """A request body is not the multipart message its Content-Type announces."""


@dataclass(frozen=True)
class Part:
    """One body part: its headers (names lower-cased) and its bytes."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class _Buffer:
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.data = bytearray()
        self.chunks = chunks
        self.eof = False

    async def more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = await self.chunks.__anext__()
        except StopAsyncIteration:
            self.eof = True
            return False
        self.data += chunk
        return True


async def iter_parts(chunks: AsyncIterator[bytes], boundary: str) -> AsyncIterator[Part]:
    """Yield the parts of a multipart body given as an async stream of chunks.

    Raises
    ------
    MultipartError
        If the body does not follow the multipart grammar.
    """
    if not boundary or len(boundary) > 200:
        raise MultipartError("the Content-Type has no usable boundary parameter")
    dash = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + dash
    buf = _Buffer(chunks)
    # the first delimiter: at the very start, or after a preamble and CRLF
    while True:
        if buf.data.startswith(dash):
            start = len(dash)
            break
        found = buf.data.find(delimiter)
        if found >= 0:
            start = found + len(delimiter)
            break
        if not await buf.more():
            raise MultipartError(f"the body holds no delimiter --{boundary}")
    del buf.data[:start]
    while True:
        # after a delimiter: "--" closes; else optional spaces, then CRLF
        while len(buf.data) < 2 and await buf.more():
            pass
        if buf.data[:2] == b"--":
            return
        while (eol := buf.data.find(b"\r\n")) < 0:
            if len(buf.data) > 1024 or not await buf.more():
                raise MultipartError("a delimiter line does not end with CRLF")
        if buf.data[:eol].strip(b" \t"):
            raise MultipartError("unexpected text after a boundary delimiter")
        del buf.data[: eol + 2]
        headers = await _headers(buf)
        scan = 0
        while (end := buf.data.find(delimiter, scan)) < 0:
            scan = max(0, len(buf.data) - len(delimiter))
            if not await buf.more():
                raise MultipartError("the body ends inside a part (no closing delimiter)")
        with memoryview(buf.data) as view:
            body = bytes(view[:end])  # one copy; the view is released before the del
        del buf.data[: end + len(delimiter)]
        yield Part(headers, body)


async def _headers(buf: _Buffer) -> dict[str, str]:
    if buf.data.startswith(b"\r\n"):
        del buf.data[:2]
        return {}
    while (end := buf.data.find(b"\r\n\r\n")) < 0:
        if len(buf.data) > _MAX_HEADERS or not await buf.more():
            raise MultipartError("a part's header block is missing or over 16 KiB")
    if end > _MAX_HEADERS:
        raise MultipartError("a part's header block is over 16 KiB")
    block = bytes(buf.data[:end]).decode("latin-1")
    del buf.data[: end + 4]
    headers: dict[str, str] = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise MultipartError(f"malformed part header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers

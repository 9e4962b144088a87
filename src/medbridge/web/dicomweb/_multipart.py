"""Streaming ``multipart/related`` answers (RFC 2387; PS3.18 8.6.1.2).

A WADO-RS study can hold thousands of instances, so the answer is a generator: each
part's header goes out with that part's bytes, read from the stored file straight into
one buffer, and nothing of the previous part is kept. A file larger than `CHUNK` is read
and sent in pieces. Generators are synchronous on purpose: Starlette runs each step in
its thread pool, so file reads never block the event loop.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from fastapi.responses import Response, StreamingResponse

from medbridge.errors import StorageError

__all__ = [
    "CHUNK",
    "Part",
    "file_chunks",
    "multipart_response",
    "new_boundary",
    "prefetched",
]

T = TypeVar("T")

#: Bytes read (and sent) at once from a stored file.
CHUNK = 8 << 20

#: One part: its Content-Type and its body (bytes, or a file to stream).
Part = tuple[str, "bytes | Path"]


def new_boundary() -> str:
    """A boundary no DICOM payload will contain by chance (128 random bits)."""
    return secrets.token_hex(16)


def file_chunks(path: Path, prefix: bytes = b"", suffix: bytes = b"") -> Iterator[memoryview]:
    """Yield `prefix`, the file's bytes and `suffix`, in as few buffers as the size allows.

    A file up to `CHUNK` is one buffer holding all three, so one part is one write.

    Raises
    ------
    StorageError
        The file cannot be read.
    """
    try:
        with open(path, "rb", buffering=0) as src:
            size = _size(src)
            first = min(size, CHUNK)
            buf = bytearray(len(prefix) + first + (len(suffix) if first == size else 0))
            buf[: len(prefix)] = prefix
            view = memoryview(buf)
            got = _read_into(src, view[len(prefix) : len(prefix) + first])
            if first == size:
                buf[len(prefix) + got :] = suffix
                yield view[: len(prefix) + got + len(suffix)]
                return
            yield view[: len(prefix) + got]
            while True:
                piece = src.read(CHUNK)
                if not piece:
                    break
                yield memoryview(piece)
            if suffix:
                yield memoryview(suffix)
    except OSError as exc:
        raise StorageError(f"cannot read {path.name}: {exc.strerror or exc}") from exc


def _size(src: io.FileIO) -> int:
    return os.fstat(src.fileno()).st_size


def _read_into(src: io.FileIO, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = src.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def part_header(boundary: str, content_type: str, extra: dict[str, str] | None = None) -> bytes:
    """The delimiter and headers that open one part."""
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def closing(boundary: str) -> bytes:
    """The close delimiter ending the body."""
    return f"--{boundary}--\r\n".encode("ascii")


def _flush(pending: list[tuple[bytes, bytes | Path, int]], tail: bytes) -> memoryview:
    """One buffer holding the pending parts (each header, body, CRLF) and `tail`."""
    total = sum(len(head) + size + 2 for head, _, size in pending) + len(tail)
    buf = bytearray(total)
    view = memoryview(buf)
    at = 0
    for head, body, size in pending:
        view[at : at + len(head)] = head
        at += len(head)
        if isinstance(body, bytes):
            view[at : at + size] = body
        else:
            with open(body, "rb", buffering=0) as src:
                got = _read_into(src, view[at : at + size])
            if got != size:
                raise OSError(f"{body.name} changed size while read ({got} of {size} bytes)")
        at += size
        view[at : at + 2] = b"\r\n"
        at += 2
    view[at:] = tail
    return view


def iter_parts(boundary: str, parts: Iterable[Part]) -> Iterator[bytes | memoryview]:
    """Yield the body of a multipart message made of `parts`, lazily.

    Small files (a CT slice is half a megabyte) cost more in per-write overhead (a
    thread hop, an event-loop turn, a socket call) than in copying, so parts are
    gathered until `CHUNK` bytes and read straight into one buffer of that size, each
    after its header; a larger file is streamed in pieces of its own.

    Raises
    ------
    StorageError
        A file cannot be read.
    """
    pending: list[tuple[bytes, bytes | Path, int]] = []
    held = 0
    try:
        for content_type, body in parts:
            head = part_header(boundary, content_type)
            size = len(body) if isinstance(body, bytes) else body.stat().st_size
            if size > CHUNK and isinstance(body, Path):
                if pending:
                    yield _flush(pending, b"")
                    pending, held = [], 0
                yield from file_chunks(body, head, b"\r\n")
                continue
            if held + size > CHUNK and pending:
                yield _flush(pending, b"")
                pending, held = [], 0
            pending.append((head, body, size))
            held += len(head) + size + 2
        yield _flush(pending, closing(boundary))
    except OSError as exc:
        raise StorageError(f"cannot read a stored file: {exc.strerror or exc}") from exc


async def prefetched(chunks: Iterator[T]) -> AsyncIterator[T]:
    """Yield `chunks`, reading the next one in a worker thread while this one is sent.

    Reading a batch from disk and writing the previous one to the socket then overlap:
    two threads work where one would alternate, which matters most on a busy machine.
    The iterator is closed (its files with it) however the answer ends.
    """
    loop = asyncio.get_running_loop()
    done = object()
    pending: asyncio.Future[Any] | None = loop.run_in_executor(None, next, chunks, done)
    try:
        while pending is not None:
            chunk = await pending
            if chunk is done:
                pending = None
                break
            pending = loop.run_in_executor(None, next, chunks, done)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            if pending is not None and not pending.done():  # a read still runs: close after
                pending.add_done_callback(lambda _: close())
            else:
                close()


def multipart_response(
    parts: Iterable[Part],
    media_type: str,
    *,
    transfer_syntax: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    eager: bool = False,
) -> Response:
    """A ``multipart/related; type="<media_type>"`` answer of `parts`, streamed, or
    built at once when `eager` (a few frames: no worker-thread hops per buffer)."""
    boundary = new_boundary()
    content_type = f'multipart/related; type="{media_type}"; boundary={boundary}'
    if transfer_syntax:
        content_type = (
            f'multipart/related; type="{media_type}"; '
            f"transfer-syntax={transfer_syntax}; boundary={boundary}"
        )
    if eager:
        body = b"".join(iter_parts(boundary, parts))  # one buffer for a few frames
        return Response(body, status_code=status_code, media_type=content_type, headers=headers)
    return StreamingResponse(
        prefetched(iter_parts(boundary, parts)),
        status_code=status_code,
        media_type=content_type,
        headers=headers,
    )

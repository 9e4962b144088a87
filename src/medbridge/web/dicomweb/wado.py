"""WADO-RS routes (PS3.18 10.4): instances, metadata and bulk data.

Studies, series and instances are retrieved as ``multipart/related;
type="application/dicom"`` (or ``application/zip``), streamed one stored file at a
time; files already in the negotiated transfer syntax are copied from disk into the
answer, the others converted one at a time (`_transcode`). ``/metadata`` is DICOM JSON
derived once per instance and per series (`_metadata`); ``/bulkdata`` serves the values
it points to, with HTTP Range. Frames, rendered images and thumbnails are in
`medbridge.web.dicomweb.wado_pixels`.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from pydicom import dcmread
from pydicom.dataset import Dataset

from medbridge.archive.locate import StoredInstance
from medbridge.errors import (
    InvalidDicomError,
    NotFoundError,
    QueryError,
    StorageError,
    UnsupportedTransferSyntax,
)
from medbridge.server.config import Role
from medbridge.web.access import require
from medbridge.web.dicomweb import wado_pixels
from medbridge.web.dicomweb._accept import MediaRange, choose
from medbridge.web.dicomweb._metadata import metadata_answer
from medbridge.web.dicomweb._multipart import (
    CHUNK,
    Part,
    closing,
    file_chunks,
    multipart_response,
    new_boundary,
    part_header,
    prefetched,
)
from medbridge.web.dicomweb._pixels import read_layout, stored_frame
from medbridge.web.dicomweb._resources import base_url, derived_of, find, gzip_accepted
from medbridge.web.dicomweb._transcode import EXPLICIT_LE, can_deliver, transcoded

__all__ = ["router"]

LOGGER = logging.getLogger(__name__)

router = APIRouter(tags=["WADO-RS"], dependencies=[Depends(require(Role.READ))])

AcceptHeader = Annotated[str | None, Header()]
DICOM_JSON = "application/dicom+json"
OCTET = "application/octet-stream"


# -- instances -------------------------------------------------------------------------


@dataclass(frozen=True)
class InstancesChoice:
    """How to answer a retrieval: `kind` multipart, single or zip; `target` None = as stored."""

    kind: str
    target: str | None


def _instances_offer(
    items: Sequence[StoredInstance], *, single: bool
) -> Callable[[MediaRange], InstancesChoice | None]:
    stored = {item.transfer_syntax_uid for item in items}

    def syntax(kind: str, requested: str | None) -> InstancesChoice | None:
        if requested == "*":
            return InstancesChoice(kind, None)
        target = requested or EXPLICIT_LE
        return InstancesChoice(kind, target) if can_deliver(stored, target) else None

    def offer(r: MediaRange) -> InstancesChoice | None:
        if r.media_type == "application/zip":
            return InstancesChoice("zip", None) if r.transfer_syntax in (None, "*") else None
        if r.media_type in ("multipart/related", "multipart/*"):
            if not r.related_matches("application/dicom"):
                return None
            return syntax("multipart", r.transfer_syntax)
        if r.media_type == "application/dicom":
            return syntax("single" if single else "multipart", r.transfer_syntax)
        if r.matches("multipart/related"):  # */*
            return syntax("multipart", None)
        return None

    return offer


def _dicom_parts(items: Sequence[StoredInstance], target: str | None) -> Iterator[Part]:
    """Each instance as a part; one that cannot be converted once the answer has begun
    is left out and logged (the status is sent; a single instance fails before, 406)."""
    for item in items:
        if target is None or item.transfer_syntax_uid == target:
            yield f"application/dicom; transfer-syntax={item.transfer_syntax_uid}", item.path
            continue
        try:
            data = transcoded(item.path, target)
        except UnsupportedTransferSyntax as exc:
            if len(items) == 1:
                raise
            LOGGER.warning("WADO-RS: %s left out: %s", item.sop_instance_uid, exc)
            continue
        yield f"application/dicom; transfer-syntax={target}", data


def _retrieve(
    request: Request, items: list[StoredInstance], accept: str | None, what: str
) -> Response:
    choice: InstancesChoice = choose(
        _accept_param(request, accept),
        _instances_offer(items, single=len(items) == 1),
        what=what,
    )
    if choice.kind == "zip":
        return StreamingResponse(
            prefetched(_zip_stream(items)),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="dicom.zip"'},
        )
    if choice.kind == "single":
        item = items[0]
        ts = choice.target or item.transfer_syntax_uid
        media = f"application/dicom; transfer-syntax={ts}"
        if choice.target is None or item.transfer_syntax_uid == choice.target:
            return StreamingResponse(file_chunks(item.path), media_type=media)
        return Response(transcoded(item.path, choice.target), media_type=media)
    return multipart_response(
        _dicom_parts(items, choice.target),
        "application/dicom",
        transfer_syntax=choice.target,
        eager=len(items) == 1,
    )


def _accept_param(request: Request, accept: str | None) -> str | None:
    """The ``accept`` query parameter overrides the header (PS3.18 8.3.3.1)."""
    return request.query_params.get("accept") or accept


@router.get("/studies/{study}", summary="Retrieve a study's instances")
def retrieve_study(request: Request, study: str, accept: AcceptHeader = None) -> Response:
    """All instances of a study (PS3.18 10.4.1.1.1)."""
    return _retrieve(request, find(request, study), accept, f"study {study}")


@router.get("/studies/{study}/series/{series}", summary="Retrieve a series' instances")
def retrieve_series(
    request: Request, study: str, series: str, accept: AcceptHeader = None
) -> Response:
    """All instances of a series."""
    return _retrieve(request, find(request, study, series), accept, f"series {series}")


@router.get("/studies/{study}/series/{series}/instances/{instance}", summary="Retrieve an instance")
def retrieve_instance(
    request: Request, study: str, series: str, instance: str, accept: AcceptHeader = None
) -> Response:
    """One instance."""
    items = find(request, study, series, instance)
    return _retrieve(request, items, accept, f"instance {instance}")


# -- zip -------------------------------------------------------------------------------


def _zip_stream(items: Sequence[StoredInstance]) -> Iterator[bytes | memoryview]:
    """A ZIP (stored, ZIP64, data descriptors) of the files, one file at a time.

    Written by hand rather than with ``zipfile`` so each file goes from disk to the
    answer in large buffers with its CRC computed on the way; no seeking is needed.
    """
    offset = 0
    central: list[bytes] = []
    for item in items:
        name = (
            f"{item.study_instance_uid}/{item.series_instance_uid}/{item.sop_instance_uid}.dcm"
        ).encode()
        local = _local_header(name)
        crc = 0
        size = 0
        first = True
        for body in file_chunks(item.path):
            crc = zlib.crc32(body, crc)
            size += len(body)
            yield (local + bytes(body)) if first else body
            first = False
        if first:  # empty file
            yield local
        descriptor = b"PK\x07\x08" + _u32(crc) + _u64(size) + _u64(size)
        yield descriptor
        central.append(_central_header(name, crc, size, offset))
        offset += len(local) + size + len(descriptor)
    directory = b"".join(central)
    end64 = (
        b"PK\x06\x06"
        + _u64(44)
        + _u16(45)
        + _u16(45)
        + _u32(0)
        + _u32(0)
        + _u64(len(central))
        + _u64(len(central))
        + _u64(len(directory))
        + _u64(offset)
    )
    locator = b"PK\x06\x07" + _u32(0) + _u64(offset + len(directory)) + _u32(1)
    end = (
        b"PK\x05\x06"
        + _u16(0)
        + _u16(0)
        + _u16(0xFFFF)
        + _u16(0xFFFF)
        + _u32(0xFFFFFFFF)
        + _u32(0xFFFFFFFF)
        + _u16(0)
    )
    yield directory + end64 + locator + end


def _u16(v: int) -> bytes:
    return v.to_bytes(2, "little")


def _u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def _u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def _local_header(name: bytes) -> bytes:
    # version 4.5 (ZIP64), flag 0x0808 (data descriptor, UTF-8 names), stored
    extra = _u16(0x0001) + _u16(16) + _u64(0) + _u64(0)
    return (
        b"PK\x03\x04"
        + _u16(45)
        + _u16(0x0808)
        + _u16(0)
        + _u16(0)
        + _u16(0x21)
        + _u32(0)
        + _u32(0xFFFFFFFF)
        + _u32(0xFFFFFFFF)
        + _u16(len(name))
        + _u16(len(extra))
        + name
        + extra
    )


def _central_header(name: bytes, crc: int, size: int, offset: int) -> bytes:
    extra = _u16(0x0001) + _u16(24) + _u64(size) + _u64(size) + _u64(offset)
    return (
        b"PK\x01\x02"
        + _u16(45)
        + _u16(45)
        + _u16(0x0808)
        + _u16(0)
        + _u16(0)
        + _u16(0x21)
        + _u32(crc)
        + _u32(0xFFFFFFFF)
        + _u32(0xFFFFFFFF)
        + _u16(len(name))
        + _u16(len(extra))
        + _u16(0)
        + _u16(0)
        + _u16(0)
        + _u32(0o100644 << 16)
        + _u32(0xFFFFFFFF)
        + name
        + extra
    )


# -- metadata --------------------------------------------------------------------------


def _metadata(
    request: Request, items: list[StoredInstance], accept: str | None, level: str
) -> Response:
    def offer(r: MediaRange) -> str | None:
        if r.media_type in (DICOM_JSON, "application/json") or r.matches(DICOM_JSON):
            return DICOM_JSON
        return None

    media = choose(_accept_param(request, accept), offer, what=f"{level} metadata")
    zipped = gzip_accepted(request)
    body = metadata_answer(
        derived_of(request), items, base_url(request), level=level, gzipped=zipped
    )
    headers = {"Vary": "Accept, Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=media, headers=headers)


@router.get("/studies/{study}/metadata", summary="A study's metadata (DICOM JSON)")
def study_metadata(request: Request, study: str, accept: AcceptHeader = None) -> Response:
    """Every instance's attributes, bulk values as BulkDataURIs (PS3.18 10.4.1.1.2)."""
    return _metadata(request, find(request, study), accept, "study")


@router.get("/studies/{study}/series/{series}/metadata", summary="A series' metadata")
def series_metadata(
    request: Request, study: str, series: str, accept: AcceptHeader = None
) -> Response:
    """Every instance's attributes of a series, precomputed (what a viewer asks first)."""
    return _metadata(request, find(request, study, series), accept, "series")


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/metadata",
    summary="An instance's metadata",
)
def instance_metadata(
    request: Request, study: str, series: str, instance: str, accept: AcceptHeader = None
) -> Response:
    """One instance's attributes."""
    return _metadata(request, find(request, study, series, instance), accept, "instance")


# -- bulk data -------------------------------------------------------------------------


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range as (start, stop), None for none or one to ignore.

    Raises
    ------
    HTTPException
        416 when the range lies beyond the value (RFC 9110 15.5.17).
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multiple ranges: answer the whole (RFC 9110 14.2)
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            start, stop = max(0, size - suffix), size
        else:
            start = int(first)
            stop = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size and first != "":
        raise HTTPException(
            416,
            f"range {header} is beyond the {size}-byte value",
            headers={"Content-Range": f"bytes */{size}"},
        )
    if stop <= start:
        return None  # an empty suffix, or last before first: not satisfiable as asked
    return start, min(stop, size)


def _element(ds: Dataset, tag_path: str) -> bytes:
    """The value of the element at `tag_path` (``TTTTTTTT[/item/TTTTTTTT...]``)."""
    pieces = tag_path.strip("/").split("/")
    if len(pieces) % 2 != 1:
        raise QueryError(f"bulk data path {tag_path[:80]!r}: tag[/item/tag...] expected")
    current: Dataset = ds
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if len(piece) != 8 or any(c not in "0123456789abcdefABCDEF" for c in piece):
                raise QueryError(f"bulk data path: {piece[:20]!r} is not a tag")
            tag = int(piece, 16)
            if tag not in current:
                raise NotFoundError(f"no element ({piece[:4]},{piece[4:]}) here")
            elem = current[tag]
            if i == len(pieces) - 1:
                value = elem.value
                if not isinstance(value, bytes | bytearray):
                    raise NotFoundError(f"({piece[:4]},{piece[4:]}) holds no bulk data")
                return bytes(value)
            if elem.VR != "SQ":
                raise NotFoundError(f"({piece[:4]},{piece[4:]}) is not a sequence")
            seq = elem.value
        else:
            if not piece.isdigit() or int(piece) >= len(seq):
                raise NotFoundError(f"no item {piece[:20]!r} in the sequence")
            current = seq[int(piece)]
    raise NotFoundError("empty bulk data path")


def _range_chunks(
    path: Path, start: int, stop: int, prefix: bytes, suffix: bytes
) -> Iterator[bytes]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise StorageError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    try:
        pos = start
        first = True
        while pos < stop or first:
            piece = os.pread(fd, min(CHUNK, stop - pos), pos) if pos < stop else b""
            pos += len(piece)
            done = pos >= stop or not piece
            yield (prefix if first else b"") + piece + (suffix if done else b"")
            first = False
            if done:
                break
    finally:
        os.close(fd)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag_path:path}",
    summary="A bulk data value of an instance",
)
def bulkdata(
    request: Request,
    study: str,
    series: str,
    instance: str,
    tag_path: str,
    accept: AcceptHeader = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The value a BulkDataURI of ``/metadata`` names, whole or a byte range.

    Pixel Data of a native instance is read from the file by offset; encapsulated Pixel
    Data is answered as its frames, in the stored syntax (one part per frame).
    """
    item = find(request, study, series, instance)[0]

    def offer(r: MediaRange) -> str | None:
        if r.media_type == "multipart/related":
            return "multipart" if r.related_matches(OCTET) else None
        if r.media_type == "application/octet-stream":
            return "single"
        return "multipart" if r.matches("multipart/related") else None

    kind = choose(_accept_param(request, accept), offer, what="bulk data")
    if tag_path.strip("/").upper() == "7FE00010":
        layout = read_layout(item.path)
        if layout.encapsulated or not layout.direct:
            ts = layout.transfer_syntax if layout.direct else EXPLICIT_LE
            parts = (
                (f"application/octet-stream; transfer-syntax={ts}", stored_frame(layout, i))
                for i in range(layout.frames)
            )
            return multipart_response(parts, "application/octet-stream", transfer_syntax=ts)
        path, offset, size = item.path, layout.value_offset, layout.value_length
        value: bytes | None = None
    else:
        try:
            ds = dcmread(item.path)
        except Exception as exc:  # pydicom raises many types
            raise InvalidDicomError(f"cannot parse: {exc}", path=item.path.name) from exc
        value = _element(ds, tag_path)
        path, offset, size = item.path, 0, len(value)
    span = _parse_range(range_, size)
    start, stop = span or (0, size)
    headers = {"Accept-Ranges": "bytes"}
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    media = f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"
    if kind == "single":
        if value is not None:
            return Response(
                value[start:stop], status_code=status, media_type=media, headers=headers
            )
        return StreamingResponse(
            _range_chunks(path, offset + start, offset + stop, b"", b""),
            status_code=status,
            media_type=media,
            headers=headers,
        )
    boundary = new_boundary()
    extra = {"Content-Range": headers["Content-Range"]} if span else None
    head = part_header(boundary, media, extra)
    tail = b"\r\n" + closing(boundary)
    body: Iterator[bytes] = (
        iter([head + value[start:stop] + tail])
        if value is not None
        else _range_chunks(path, offset + start, offset + stop, head, tail)
    )
    content_type = f'multipart/related; type="application/octet-stream"; boundary={boundary}'
    return StreamingResponse(body, status_code=status, media_type=content_type, headers=headers)


router.include_router(wado_pixels.router)

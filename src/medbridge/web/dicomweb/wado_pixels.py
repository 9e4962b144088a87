"""WADO-RS pixel routes: frames, rendered images and thumbnails (PS3.18 10.4, 8.3.5).

``/frames/{list}`` answers each listed frame as a part: as stored (a native frame's
bytes by offset, an encapsulated frame's fragments by the offset tables, never decoded)
when the Accept header allows the stored syntax, decoded to native little endian when
it asks ``application/octet-stream`` without ``transfer-syntax=*``. Cornerstone (OHIF's
loader) reads each part's ``transfer-syntax`` parameter to pick its decoder, so every
part carries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from medbridge.archive.locate import StoredInstance
from medbridge.errors import InvalidDicomError, NotFoundError, UnsupportedTransferSyntax
from medbridge.web.dicomweb._accept import FRAME_MEDIA_TYPES, MediaRange, choose
from medbridge.web.dicomweb._multipart import Part, multipart_response
from medbridge.web.dicomweb._pixels import (
    PixelLayout,
    frame_numbers,
    native_frame,
    read_layout,
    stored_frame,
)
from medbridge.web.dicomweb._render import (
    RENDER_TYPES,
    RenderOptions,
    parse_options,
    render,
    render_animation,
)
from medbridge.web.dicomweb._resources import find
from medbridge.web.dicomweb._transcode import EXPLICIT_LE, IMPLICIT_LE, can_deliver

__all__ = ["router"]

LOGGER = logging.getLogger(__name__)

router = APIRouter()

AcceptHeader = Annotated[str | None, Header()]
OCTET = "application/octet-stream"
#: Frames up to this many (uncompressed) bytes are answered at once, not streamed.
EAGER_BYTES = 16 << 20


# -- frames ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameChoice:
    """Parts' media type and syntax; `stored` True copies frames, False decodes them."""

    media_type: str
    transfer_syntax: str
    stored: bool
    multipart: bool = True


def _frame_offer(layout: PixelLayout, count: int) -> Callable[[MediaRange], FrameChoice | None]:
    stored = layout.transfer_syntax if layout.direct else EXPLICIT_LE
    native = not layout.encapsulated

    def octet(requested: str | None, multipart: bool) -> FrameChoice | None:
        if requested == "*" or requested == stored:
            return FrameChoice(OCTET, stored, True, multipart)
        decodable = native or can_deliver([layout.transfer_syntax], EXPLICIT_LE)
        if requested in (None, EXPLICIT_LE, IMPLICIT_LE) and decodable:
            return FrameChoice(OCTET, requested or EXPLICIT_LE, native, multipart)
        return None

    def image(media: str, requested: str | None, multipart: bool) -> FrameChoice | None:
        allowed = FRAME_MEDIA_TYPES[media]
        if stored in allowed and requested in (None, "*", stored):
            return FrameChoice(media, stored, True, multipart)
        return None

    def offer(r: MediaRange) -> FrameChoice | None:
        if r.media_type in ("multipart/related", "multipart/*"):
            kind = r.related_type or OCTET
            if kind in (OCTET, "*/*"):
                return octet(r.transfer_syntax, True)
            if kind in FRAME_MEDIA_TYPES:
                return image(kind, r.transfer_syntax, True)
            return None
        if count == 1 and r.media_type == OCTET:
            return octet(r.transfer_syntax, False)
        if count == 1 and r.media_type in FRAME_MEDIA_TYPES:
            return image(r.media_type, r.transfer_syntax, False)
        if r.matches("multipart/related"):
            return octet(None, True)
        return None

    return offer


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
    summary="Frames of an instance",
)
def retrieve_frames(
    request: Request,
    study: str,
    series: str,
    instance: str,
    frames: str,
    accept: AcceptHeader = None,
) -> Response:
    """The listed frames (1-based, comma separated), as stored or uncompressed."""
    item = find(request, study, series, instance)[0]
    numbers = frame_numbers(frames)
    layout = read_layout(item.path)
    frame_numbers(frames, layout.frames)
    choice: FrameChoice = choose(
        request.query_params.get("accept") or accept,
        _frame_offer(layout, len(numbers)),
        what=f"frames of {instance} (stored as {layout.transfer_syntax})",
    )
    read = stored_frame if choice.stored else native_frame
    part_type = f"{choice.media_type}; transfer-syntax={choice.transfer_syntax}"
    if not choice.multipart:
        return Response(read(layout, numbers[0] - 1), media_type=part_type)
    parts: Iterator[Part] = ((part_type, read(layout, n - 1)) for n in numbers)
    return multipart_response(
        parts,
        choice.media_type,
        transfer_syntax=choice.transfer_syntax,
        eager=len(numbers) * layout.frame_size <= EAGER_BYTES,
    )


# -- rendered --------------------------------------------------------------------------


def _render_offer(r: MediaRange) -> str | None:
    media = r.related_type if r.media_type == "multipart/related" else r.media_type
    if media is None:
        return "image/jpeg"
    if media in RENDER_TYPES:
        return media
    if media in ("*/*", "image/*"):
        return "image/jpeg"
    return None


def _media(request: Request, accept: str | None, what: str) -> str:
    header = request.query_params.get("accept") or accept
    media: str = choose(header, _render_offer, what=what)
    return media


def _options(request: Request) -> RenderOptions:
    q = request.query_params
    return parse_options(q.get("window"), q.get("viewport"), q.get("quality"))


def _image(body: bytes, media: str) -> Response:
    return Response(body, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


def _rendered_parts(
    items: Sequence[StoredInstance], media: str, options: RenderOptions
) -> Iterator[Part]:
    for item in items:
        try:
            layout = read_layout(item.path)
            image = render(layout, 0, media, options)
        except NotFoundError:
            continue  # no pixels (a report, a presentation state): nothing to render
        except (UnsupportedTransferSyntax, InvalidDicomError) as exc:
            LOGGER.warning("WADO-RS rendered: %s left out: %s", item.sop_instance_uid, exc)
            continue
        yield media, image


def _rendered_many(
    request: Request, items: list[StoredInstance], accept: str | None, what: str
) -> Response:
    media = _media(request, accept, what)
    options = _options(request)
    read_layout(items[0].path) if len(items) == 1 else None
    return multipart_response(_rendered_parts(items, media, options), media)


Window = Annotated[str | None, Query(description="center,width[,function]")]
Viewport = Annotated[str | None, Query(description="vw,vh[,sx,sy,sw,sh]")]
Quality = Annotated[str | None, Query(description="1-100 (JPEG)")]


@router.get("/studies/{study}/rendered", summary="A study rendered (first frames)")
def study_rendered(
    request: Request,
    study: str,
    accept: AcceptHeader = None,
    window: Window = None,
    viewport: Viewport = None,
    quality: Quality = None,
) -> Response:
    """Each instance's first frame rendered, one part per instance."""
    return _rendered_many(request, find(request, study), accept, f"study {study} rendered")


@router.get("/studies/{study}/series/{series}/rendered", summary="A series rendered")
def series_rendered(
    request: Request,
    study: str,
    series: str,
    accept: AcceptHeader = None,
    window: Window = None,
    viewport: Viewport = None,
    quality: Quality = None,
) -> Response:
    """Each instance's first frame rendered, one part per instance."""
    items = find(request, study, series)
    return _rendered_many(request, items, accept, f"series {series} rendered")


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/rendered",
    summary="An instance rendered (its first frame)",
)
def instance_rendered(
    request: Request,
    study: str,
    series: str,
    instance: str,
    accept: AcceptHeader = None,
    window: Window = None,
    viewport: Viewport = None,
    quality: Quality = None,
) -> Response:
    """The instance's first frame as JPEG or PNG; all its frames as an animated GIF."""
    item = find(request, study, series, instance)[0]
    media = _media(request, accept, f"instance {instance} rendered")
    options = _options(request)
    layout = read_layout(item.path)
    if media == "image/gif" and layout.frames > 1:
        return _image(render_animation(layout, options), media)
    return _image(render(layout, 0, media, options), media)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered",
    summary="Frames rendered",
)
def frames_rendered(
    request: Request,
    study: str,
    series: str,
    instance: str,
    frames: str,
    accept: AcceptHeader = None,
    window: Window = None,
    viewport: Viewport = None,
    quality: Quality = None,
) -> Response:
    """One frame as an image; several as one part each."""
    item = find(request, study, series, instance)[0]
    numbers = frame_numbers(frames)
    layout = read_layout(item.path)
    frame_numbers(frames, layout.frames)
    media = _media(request, accept, f"frames of {instance} rendered")
    options = _options(request)
    if len(numbers) == 1:
        return _image(render(layout, numbers[0] - 1, media, options), media)
    parts = ((media, render(layout, n - 1, media, options)) for n in numbers)
    return multipart_response(parts, media)


# -- thumbnails ------------------------------------------------------------------------


def _thumbnail(
    request: Request, items: list[StoredInstance], accept: str | None, frame: int | None = None
) -> Response:
    """The middle instance (its middle frame, or `frame`) as a small image."""
    media = _media(request, accept, "thumbnail")
    options = _options(request)
    middle = len(items) // 2
    failure: Exception | None = None
    for item in [*items[middle:], *items[:middle]]:
        try:
            layout = read_layout(item.path)
        except NotFoundError:
            continue
        index = frame - 1 if frame is not None else layout.frames // 2
        if index >= layout.frames:
            raise NotFoundError(f"frame {frame} requested of an instance of {layout.frames}")
        try:
            return _image(render(layout, index, media, options, thumbnail=True), media)
        except (UnsupportedTransferSyntax, InvalidDicomError) as exc:
            failure = exc  # another instance may show
    if failure is not None:
        raise failure
    raise NotFoundError("no instance here has pixel data to show")


@router.get("/studies/{study}/thumbnail", summary="A study's thumbnail")
def study_thumbnail(
    request: Request, study: str, accept: AcceptHeader = None, viewport: Viewport = None
) -> Response:
    """A small image of the study's middle instance."""
    return _thumbnail(request, find(request, study), accept)


@router.get("/studies/{study}/series/{series}/thumbnail", summary="A series' thumbnail")
def series_thumbnail(
    request: Request,
    study: str,
    series: str,
    accept: AcceptHeader = None,
    viewport: Viewport = None,
) -> Response:
    """A small image of the series' middle instance."""
    return _thumbnail(request, find(request, study, series), accept)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/thumbnail",
    summary="An instance's thumbnail",
)
def instance_thumbnail(
    request: Request,
    study: str,
    series: str,
    instance: str,
    accept: AcceptHeader = None,
    viewport: Viewport = None,
) -> Response:
    """A small image of the instance (its middle frame)."""
    return _thumbnail(request, find(request, study, series, instance), accept)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail",
    summary="A frame's thumbnail",
)
def frame_thumbnail(
    request: Request,
    study: str,
    series: str,
    instance: str,
    frames: str,
    accept: AcceptHeader = None,
    viewport: Viewport = None,
) -> Response:
    """A small image of the first listed frame."""
    items = find(request, study, series, instance)
    return _thumbnail(request, items, accept, frame_numbers(frames)[0])

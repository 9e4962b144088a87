"""Content negotiation for WADO-RS: what an ``Accept`` header asks for (PS3.18 8.7).

An Accept header is a list of media ranges, each with parameters (``type``,
``transfer-syntax``) and a quality ``q`` (RFC 9110 12.5.1). PS3.18 8.7.5 says the
origin server picks, among the ranges it can satisfy, the one of highest quality, ties
going to the first listed; a range with ``q=0`` is refused. When none can be satisfied
the answer is 406 (PS3.18 8.7.5, 8.7.6), with the reason.

The resource kinds differ in what they offer (PS3.18 Tables 8.7.3-2 to 8.7.3-5), so
each route asks `choose` with its own ``offer`` function, which returns what it would
send for one media range, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import HTTPException

__all__ = [
    "FRAME_MEDIA_TYPES",
    "MediaRange",
    "choose",
    "parse_accept",
]

T = TypeVar("T")

#: Media types of compressed frames and the transfer syntaxes each may carry, the
#: first being its default (PS3.18 Table 8.7.3-2; image/x-jls as cornerstone spells it).
FRAME_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
    ),
    "image/x-dicom-rle": ("1.2.840.10008.1.2.5",),
    "image/dicom-rle": ("1.2.840.10008.1.2.5",),
    "image/jls": ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),
    "image/x-jls": ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"),
    "image/jp2": ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"),
    "image/jpx": ("1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"),
    "image/jphc": (
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    ),
}


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header: ``type/subtype`` (lower case), parameters, q."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def related_type(self) -> str | None:
        """The ``type`` parameter of a ``multipart/related`` range (lower case)."""
        value = self.params.get("type")
        return value.lower() if value else None

    @property
    def transfer_syntax(self) -> str | None:
        """The ``transfer-syntax`` parameter (``*`` or a UID), if any."""
        return self.params.get("transfer-syntax")

    def related_matches(self, media_type: str) -> bool:
        """Whether the ``type`` parameter (absent, ``*/*``, ``x/*`` or exact) allows it."""
        related = self.related_type or "*/*"
        if related in ("*/*", media_type):
            return True
        return related.endswith("/*") and media_type.startswith(related[:-1])

    def matches(self, media_type: str) -> bool:
        """Whether this range covers `media_type` (``*/*`` and ``type/*`` included)."""
        if self.media_type in ("*/*", media_type):
            return True
        major, _, minor = self.media_type.partition("/")
        return minor == "*" and media_type.startswith(f"{major}/")


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header into ranges, best first (q, then order); q=0 dropped.

    No header (or an empty one) means ``*/*`` (RFC 9110 12.5.1).

    Raises
    ------
    HTTPException
        400 when a range is not ``type/subtype`` or a q value is not a number in [0, 1].
    """
    if header is None or not header.strip():
        return [MediaRange("*/*")]
    ranges: list[tuple[float, int, MediaRange]] = []
    for position, entry in enumerate(_split(header, ",")):
        pieces = [p.strip() for p in _split(entry, ";")]
        media_type = pieces[0].lower()
        if not media_type:
            continue
        if media_type.count("/") != 1 or " " in media_type:
            raise HTTPException(400, f"Accept: {pieces[0]!r} is not a media range")
        params: dict[str, str] = {}
        q = 1.0
        for piece in pieces[1:]:
            if not piece:
                continue
            name, _, value = piece.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"')
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    raise HTTPException(400, f"Accept: q={value!r} is not a number") from None
                if not 0.0 <= q <= 1.0:
                    raise HTTPException(400, f"Accept: q={value} is not between 0 and 1")
            else:
                params[name] = value
        if q > 0:
            ranges.append((-q, position, MediaRange(media_type, params, q)))
    ranges.sort(key=lambda item: (item[0], item[1]))
    return [r for _, _, r in ranges]


def choose(header: str | None, offer: Callable[[MediaRange], T | None], *, what: str) -> T:
    """Return what `offer` gives for the best range of `header` it can satisfy.

    Raises
    ------
    HTTPException
        406 naming `what` (the resource) and the header, when no range is satisfied.
    """
    for media_range in parse_accept(header):
        chosen = offer(media_range)
        if chosen is not None:
            return chosen
    raise HTTPException(406, f"cannot answer {what} in any media type of Accept: {header}")

"""Content negotiation for search and store answers (PS3.18 8.7.x, RFC 9110 12.5.1).

A client says what it accepts in ``Accept`` (or, as PS3.18 8.3.3.1 allows, in an
``accept`` query parameter, which wins); the server picks the first of its own offers
the client accepts, highest quality first. No acceptable offer is a 406 with the list of
offers, never a silent fallback (Orthanc answers a bad Accept with 400).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request

__all__ = ["DICOM_JSON", "DICOM_XML", "MULTIPART_XML", "MediaRange", "choose", "parse_accept"]

DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
MULTIPART_XML = 'multipart/related; type="application/dicom+xml"'

#: Media types a client may name for an offer: JSON for DICOM JSON, and the XML part
#: type alone for the multipart of XML parts.
_ALIASES = {
    DICOM_JSON: {("application", "dicom+json"), ("application", "json")},
    DICOM_XML: {("application", "dicom+xml"), ("application", "xml")},
    MULTIPART_XML: {("multipart", "related"), ("application", "dicom+xml")},
}


@dataclass(frozen=True)
class MediaRange:
    """One media range of an Accept header."""

    type: str
    subtype: str
    params: dict[str, str]
    q: float


def parse_media_type(text: str) -> tuple[str, str, dict[str, str]]:
    """``type/subtype; k=v`` → (type, subtype, params), lower-cased, quotes removed."""
    head, *rest = text.split(";")
    kind, _, sub = head.strip().lower().partition("/")
    params: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return kind, sub.strip(), params


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header, best first (stable among equal q)."""
    ranges = []
    for item in _split_outside_quotes(header):
        if not item.strip():
            continue
        kind, sub, params = parse_media_type(item)
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if kind and sub:
            ranges.append(MediaRange(kind, sub, params, q))
    return sorted(ranges, key=lambda r: -r.q)


def _split_outside_quotes(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return out


def _accepts(media: MediaRange, offer: str) -> bool:
    if media.q <= 0:
        return False
    if media.type == "*":
        return True
    names = _ALIASES[offer]
    if media.subtype == "*":
        return any(kind == media.type for kind, _ in names)
    if (media.type, media.subtype) not in names:
        return False
    if offer == MULTIPART_XML and media.type == "multipart":
        part = media.params.get("type", DICOM_XML)
        return part in (DICOM_XML, "application/xml")
    return True


def choose(request: Request, offers: Sequence[str]) -> str:
    """The offer to answer `request` with.

    Raises
    ------
    HTTPException
        406 when the client accepts none of `offers`.
    """
    header = request.query_params.get("accept") or request.headers.get("accept") or "*/*"
    for media in parse_accept(header):
        for offer in offers:
            if _accepts(media, offer):
                return offer
    raise HTTPException(
        406, f"cannot answer with any of Accept {header!r}; offered: {', '.join(offers)}"
    )

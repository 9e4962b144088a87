"""multipart/related reading and writing of the DICOMweb client (RFC 2387, RFC 2046 5.1)."""

from __future__ import annotations

import pytest

from medbridge.errors import ArchiveError
from medbridge.web._related import boundary_of, encode_parts, iter_parts

PARTS = [b"\x00DICM" * 1000, b"", b"\r\n--not-the-boundary\r\n", bytes(range(256)) * 40]


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class TestIterParts:
    @pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
    def test_round_trip_any_chunking(self, size):
        """Parts come back whole however the body is cut into chunks."""
        body = encode_parts(PARTS, "application/dicom", "b0und")
        got = list(iter_parts(chunked(body, size), "b0und"))
        assert [part for _headers, part in got] == PARTS
        assert all(h == {"content-type": "application/dicom"} for h, _part in got)

    def test_preamble_epilogue_and_padding(self):
        """Text before the first and after the last delimiter is ignored (RFC 2046)."""
        body = (
            b"preamble\r\n--xyz  \r\nContent-Type: application/dicom\r\n"
            b"Content-Location: /a\r\n\r\nONE\r\n--xyz\r\n\r\nTWO\r\n--xyz--\r\nepilogue"
        )
        got = list(iter_parts([body], "xyz"))
        assert got == [
            ({"content-type": "application/dicom", "content-location": "/a"}, b"ONE"),
            ({}, b"TWO"),
        ]

    def test_truncated_body_is_an_error(self):
        body = encode_parts([b"abc"], "application/dicom", "b")[:-8]
        with pytest.raises(ArchiveError, match="ended before its closing boundary"):
            list(iter_parts([body], "b"))


class TestBoundaryOf:
    def test_quoted_and_bare(self):
        assert boundary_of('multipart/related; type="application/dicom"; boundary="a b"') == "a b"
        assert boundary_of("Multipart/Related;boundary=xyz;type=application/dicom") == "xyz"

    @pytest.mark.parametrize("value", ["application/dicom", "multipart/related; type=x"])
    def test_refused(self, value):
        with pytest.raises(ArchiveError):
            boundary_of(value)

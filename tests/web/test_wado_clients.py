"""WADO-RS as real clients use it: OHIF's request sequence, and no request answered 5xx.

OHIF with ``imageRendering: "wadors"`` and ``thumbnailRendering: "thumbnail"`` asks,
after its QIDO queries, each series' metadata (gzip accepted), then every frame with
cornerstone's Accept and each instance's thumbnail through its bulk data call.
"""

from __future__ import annotations

import gzip

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.conftest import serve_archive
from web.pixels_data import all_instances, split_multipart

OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"


@pytest.fixture(scope="module")
def wado(tmp_path_factory):
    server = serve_archive(tmp_path_factory.mktemp("clients") / "var")
    server.stored = {}
    for item in all_instances():
        server.archive.store(item.data)
        server.stored[item.name] = item
    yield server
    server.door.stop()
    server.archive.close()


def test_ohif_sequence(wado):
    """Series metadata, then each instance's first frame and its thumbnail."""
    item = wado.stored["j2k"]
    with httpx.Client(base_url=wado.url, timeout=30) as http:
        _replay(http, wado, item)


def _replay(http, wado, item):
    r = http.get(
        f"/studies/{item.study}/series/{item.series}/metadata",
        headers={"Accept": "application/dicom+json", "Accept-Encoding": "gzip, deflate, br"},
    )
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    metadata = r.json()
    assert len(metadata) == 6
    for instance in metadata:
        sop = instance["00080018"]["Value"][0]
        stored = next(i.data for i in wado.stored.values() if i.sop == sop)
        path = f"/studies/{item.study}/series/{item.series}/instances/{sop}"
        r = http.get(f"{path}/frames/1", headers={"Accept": OHIF_FRAMES})
        assert r.status_code == 200, r.text
        ((headers, body),) = split_multipart(r.headers["content-type"], r.content)
        assert "transfer-syntax=1.2.840.10008.1.2" in headers["content-type"]
        assert body and body in stored  # frames are copied out of the stored file
        r = http.get(
            f"{path}/thumbnail",
            params={"accept": "image/jpeg"},
            headers={"Accept": 'multipart/related; type="image/jpeg"'},
        )
        assert r.status_code == 200
        assert r.content[:2] == b"\xff\xd8"


def test_metadata_gzip_body_is_the_json(wado):
    item = wado.stored["native"]
    url = f"{wado.url}/studies/{item.study}/series/{item.series}/metadata"
    raw = httpx.get(url, headers={"Accept-Encoding": "gzip"}).read()
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as r:
        packed = b"".join(r.iter_raw())
    assert gzip.decompress(packed) == raw


_MEDIA = st.sampled_from(
    [
        "*/*",
        "application/dicom",
        "application/zip",
        "application/octet-stream",
        "application/dicom+json",
        "multipart/related",
        "multipart/*",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/jls",
        "image/jp2",
        "image/*",
        "text/html",
        "x/y",
    ]
)
_PARAM = st.one_of(
    st.builds(lambda m: f'type="{m}"', _MEDIA),
    st.builds(lambda m: f"type={m}", _MEDIA),
    st.sampled_from(
        [
            "transfer-syntax=*",
            "transfer-syntax=1.2.840.10008.1.2.1",
            "transfer-syntax=1.2.840.10008.1.2.4.50",
            "transfer-syntax=1.2.840.10008.1.2.5",
            "transfer-syntax=",
            "q=0",
            "q=0.5",
            "q=1.5",
            "q=x",
            "charset=utf-8",
            '"',
            ";;",
        ]
    ),
)
_RANGE = st.builds(
    lambda ps: "; ".join(ps), st.lists(st.one_of(_MEDIA, _PARAM), min_size=1, max_size=4)
)
_ACCEPT = st.builds(lambda rs: ", ".join(rs), st.lists(_RANGE, min_size=0, max_size=3))
_SUFFIX = st.sampled_from(
    [
        "",
        "/metadata",
        "/rendered",
        "/thumbnail",
        "/frames/1",
        "/frames/2,1",
        "/frames/0",
        "/frames/x",
        "/frames/99",
        "/frames/1/rendered",
        "/frames/1/thumbnail",
        "/bulkdata/7FE00010",
        "/bulkdata/00420011",
        "/bulkdata/00400260/0/00420011",
        "/bulkdata/ZZ",
        "/bulkdata/00400260/9/00420011",
    ]
)
_QUERY = st.dictionaries(
    st.sampled_from(["window", "viewport", "quality", "accept"]),
    st.text(alphabet="0123456789,.-abx/*;= ", max_size=24),
    max_size=3,
)
_RANGE_HEADER = st.sampled_from([None, "bytes=0-9", "bytes=-5", "bytes=5-", "bytes=9-2", "x"])


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(
        [
            "native",
            "rle",
            "j2k",
            "bulk",
            "MR_small_bigendian.dcm",
            "SC_rgb_jpeg_dcmtk.dcm",
            "monochrome1",
        ]
    ),
    level=st.sampled_from(["study", "series", "instance"]),
    suffix=_SUFFIX,
    accept=_ACCEPT,
    query=_QUERY,
    byte_range=_RANGE_HEADER,
)
def test_no_request_is_answered_5xx(wado, name, level, suffix, accept, query, byte_range):
    """Any Accept, parameters and Range on any WADO-RS route: a 2xx, 4xx, never 5xx."""
    item = wado.stored[name]
    path = {
        "study": f"/studies/{item.study}",
        "series": f"/studies/{item.study}/series/{item.series}",
        "instance": item.path,
    }[level]
    headers = {"Accept": accept}
    if byte_range:
        headers["Range"] = byte_range
    r = httpx.get(f"{wado.url}{path}{suffix}", headers=headers, params=query, timeout=60)
    assert r.status_code < 500, (path + suffix, headers, query, r.text[:300])

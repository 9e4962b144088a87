"""No request makes QIDO-RS or STOW-RS answer 5xx (hypothesis over queries and bodies)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.factory import Spec, make_bytes

KEYS = st.sampled_from(
    [
        "PatientName",
        "PatientID",
        "StudyDate",
        "StudyTime",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "ModalitiesInStudy",
        "Modality",
        "SeriesNumber",
        "InstanceNumber",
        "Rows",
        "AccessionNumber",
        "00100010",
        "0020000D",
        "00400275.00400009",
        "includefield",
        "limit",
        "offset",
        "fuzzymatching",
        "accept",
        "PixelData",
        "AcquisitionDateTime",
    ]
)
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["*", "-", "20240101-", "-20240101", "1.2.3", "1.2,3.4", "all", "true"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.from_regex(r"[0-9*?\\\-.,^]{0,20}", fullmatch=True),
)
PATHS = st.sampled_from(
    [
        "/studies",
        "/series",
        "/instances",
        f"/studies/{Spec().study_uid}/series",
        f"/studies/{Spec().study_uid}/instances",
        f"/studies/{Spec().study_uid}/series/{Spec().series_uid}/instances",
    ]
)


@pytest.fixture(scope="module")
def http(web):
    with httpx.Client(base_url=web.url, timeout=30) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=PATHS,
    pairs=st.lists(st.tuples(KEYS, VALUES), max_size=4),
    accept=st.sampled_from(
        ["application/dicom+json", 'multipart/related; type="application/dicom+xml"', "*/*", "x/y"]
    ),
)
def test_search_never_5xx(http, path, pairs, accept):
    response = http.get(path, params=pairs, headers={"Accept": accept})
    assert response.status_code < 500, (path, pairs, response.text)
    if response.status_code == 200 and accept == "application/dicom+json":
        assert isinstance(response.json(), list)


INSTANCE = make_bytes(Spec(study=90))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    boundary=st.sampled_from(["b", "XyZ", "a" * 70]),
    pieces=st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from([b"--b", b"--XyZ", b"\r\n", b"\r\n\r\n", b"--", INSTANCE[:300]]),
            st.just(b"Content-Type: application/dicom\r\n\r\n"),
        ),
        max_size=8,
    ),
    part_type=st.sampled_from(["application/dicom", "application/dicom+json", "text/plain"]),
)
def test_store_never_5xx(web, boundary, pieces, part_type):
    response = httpx.post(
        f"{web.url}/studies/{Spec(study=90).study_uid}",
        content=b"".join(pieces),
        headers={"Content-Type": f'multipart/related; type="{part_type}"; boundary={boundary}'},
    )
    assert response.status_code < 500, response.text


UIDS = st.one_of(
    st.from_regex(r"[0-9.]{1,70}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20).filter(
        lambda t: "/" not in t and t not in (".", "..", "")
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(study=UIDS, series=UIDS)
def test_delete_never_5xx(http, study, series):
    """DELETE of unknown or malformed UIDs: 400 or 404, and the corpus stays whole."""
    from urllib.parse import quote

    path = f"/studies/{quote(study, safe='')}/series/{quote(series, safe='')}"
    assert http.delete(path).status_code in (400, 404, 405)
    assert http.get("/instances").headers["X-Total-Count"] == "13"

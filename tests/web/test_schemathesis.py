"""A schemathesis run over the door's own OpenAPI description: no request gets a 5xx.

schemathesis reads ``/openapi.json`` from the live door (the module's `web` fixture:
uvicorn over an archive holding the factory corpus) and generates requests for every
operation from the parameters and bodies the description declares, valid and not.
The issue's rule is that no request may make the server answer 5xx (PS3.18 gives a
4xx for every client mistake), so that is the one check. Examples are bounded and
derandomized so a run takes well under a minute and fails the same way twice.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

#: Paths the description must hold for the run to mean anything (PS3.18 10.4-10.6).
DICOMWEB_PATHS = [
    "/dicom-web/studies",
    "/dicom-web/series",
    "/dicom-web/instances",
    "/dicom-web/studies/{study}/series",
    "/dicom-web/studies/{study}/series/{series}/metadata",
    "/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
]


@pytest.fixture(scope="module")
def api_schema(web):
    return schemathesis.openapi.from_url(f"{web.base}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


def _normalized(path: str) -> str:
    """A path template with its parameter names blanked, to compare route shapes."""
    import re

    return re.sub(r"\{[^}]*\}", "{}", path)


def test_description_covers_dicomweb(web):
    """The OpenAPI document lists the DICOMweb routes (else the run below tests nothing)."""
    spec = httpx.get(f"{web.base}/openapi.json").json()
    paths = {_normalized(p) for p in spec["paths"]}
    missing = [p for p in DICOMWEB_PATHS if _normalized(p) not in paths]
    assert not missing, f"not in /openapi.json: {missing}"


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error(case, web):
    """Whatever schemathesis sends, the answer is not a 5xx."""
    response = case.call(base_url=web.base, timeout=20)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} {case.query or ''} -> "
        f"{response.status_code}: {response.text[:300]}"
    )

"""The HTTP door as a process part: listens, serves its OpenAPI, refuses to be exposed."""

from __future__ import annotations

import httpx
import pytest

from medbridge.errors import ArchiveError
from medbridge.server.config import Role, ServerConfig, Token
from medbridge.server.process import check_exposure


def test_openapi_and_docs(web):
    spec = httpx.get(f"{web.base}/openapi.json").json()
    assert spec["info"]["title"] == "medbridge"
    assert httpx.get(f"{web.base}/docs").status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.org"])
def test_open_door_beyond_loopback_refused(host):
    with pytest.raises(ArchiveError, match="--insecure"):
        check_exposure(ServerConfig(http_host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host):
    check_exposure(ServerConfig(http_host=host))


def test_tokens_or_insecure_allow_exposure():
    check_exposure(ServerConfig(http_host="0.0.0.0", insecure=True))
    check_exposure(ServerConfig(http_host="0.0.0.0", tokens=(Token("v", "secret", Role.READ),)))

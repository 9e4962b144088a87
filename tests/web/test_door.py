"""The HTTP door as a process part: listens, serves its OpenAPI, refuses to be exposed."""

from __future__ import annotations

import httpx
import pytest

from medbridge.archive import Archive
from medbridge.archive.accounts import add_user
from medbridge.errors import ArchiveError
from medbridge.server.config import Role, ServerConfig, Token
from medbridge.server.process import check_exposure


@pytest.fixture
def archive(tmp_path):
    with Archive(tmp_path / "var") as arc:
        yield arc


def test_openapi_and_docs(web):
    spec = httpx.get(f"{web.base}/openapi.json").json()
    assert spec["info"]["title"] == "medbridge"
    assert httpx.get(f"{web.base}/docs").status_code == 200


def test_health(web):
    assert httpx.get(f"{web.base}/health").json() == {"status": "ok"}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "example.org"])
def test_open_door_beyond_loopback_refused(host, archive):
    with pytest.raises(ArchiveError, match="--insecure"):
        check_exposure(ServerConfig(http_host=host), archive)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host, archive):
    check_exposure(ServerConfig(http_host=host), archive)


def test_tokens_users_or_insecure_allow_exposure(archive):
    check_exposure(ServerConfig(http_host="0.0.0.0", insecure=True), archive)
    token = Token("v", "secret", Role.READ)
    check_exposure(ServerConfig(http_host="0.0.0.0", tokens=(token,)), archive)
    add_user(archive.index, "alice", "correct horse", "viewer")
    check_exposure(ServerConfig(http_host="0.0.0.0"), archive)

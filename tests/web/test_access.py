"""One access model on the HTTP door: tokens, users with sessions and CSRF, the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from dimse.peers import medbridge
from medbridge.archive.accounts import add_user, hash_password, verify_password
from medbridge.archive.cli import user
from medbridge.server.config import Role, Token
from web.conftest import WebServer, serve_archive

TOKENS = (Token("reader", "r-secret", Role.READ), Token("boss", "a-secret", Role.ADMIN))


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[WebServer]:
    server = serve_archive(tmp_path / "var", tokens=TOKENS)
    add_user(server.archive.index, "alice", "alice-password", "viewer")
    add_user(server.archive.index, "root", "root-password", "admin")
    yield server
    server.door.stop()
    server.archive.close()


@contextmanager
def _login(server: WebServer, name: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base) as client:
        rsp = client.post("/login", data={"username": name, "password": password})
        assert rsp.status_code == 200, rsp.text
        yield client


def test_password_hashes() -> None:
    stored = hash_password("s3cret-pass")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret-pass", stored)
    assert not verify_password("s3cret-pasS", stored)
    assert not verify_password("x", "garbage")


def test_anonymous_is_refused_when_closed(closed: WebServer) -> None:
    rsp = httpx.get(f"{closed.base}/api/me")
    assert rsp.status_code == 401


def test_tokens_carry_their_roles(closed: WebServer) -> None:
    me = httpx.get(f"{closed.base}/api/me", headers={"Authorization": "Bearer r-secret"})
    assert me.json() == {"user": "reader", "role": "read"}
    wrong = httpx.get(f"{closed.base}/api/me", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_login_session_and_csrf(closed: WebServer) -> None:
    with _login(closed, "alice", "alice-password") as client:
        _session_and_csrf(closed, client)


def _session_and_csrf(closed: WebServer, client: httpx.Client) -> None:
    assert client.get("/api/me").json() == {"user": "alice", "role": "read"}
    cookie = client.cookies.get("medbridge_session")
    assert cookie and client.cookies.get("medbridge_csrf")
    # logging out changes state: without the CSRF header it is refused
    assert client.post("/logout").status_code == 403
    csrf = client.cookies.get("medbridge_csrf")
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    # the old cookie no longer opens anything, even replayed by hand
    replay = httpx.get(f"{closed.base}/api/me", cookies={"medbridge_session": cookie})
    assert replay.status_code == 401


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ({"username": "alice", "password": "wrong-password"}, "form", 401),
        ({"username": "nobody", "password": "alice-password"}, "form", 401),
        ({"username": "alice"}, "form", 400),
        ({"username": "alice", "password": "alice-password"}, "json", 200),
    ],
)
def test_login_answers(closed: WebServer, body: dict, kind: str, status: int) -> None:
    if kind == "form":
        rsp = httpx.post(f"{closed.base}/login", data=body)
    else:
        rsp = httpx.post(f"{closed.base}/login", json=body)
    assert rsp.status_code == status, rsp.text


def test_login_wrong_media_type(closed: WebServer) -> None:
    rsp = httpx.post(
        f"{closed.base}/login", content=b"alice", headers={"Content-Type": "text/plain"}
    )
    assert rsp.status_code == 415


def test_new_password_ends_sessions(closed: WebServer) -> None:
    with _login(closed, "alice", "alice-password") as client:
        add_user(closed.archive.index, "alice", "another-password", "viewer")
        assert client.get("/api/me").status_code == 401


def test_open_door_is_everyones(empty_web: WebServer) -> None:
    assert httpx.get(f"{empty_web.base}/api/me").json() == {"user": "anonymous", "role": "admin"}


def test_logins_are_audited(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    server = serve_archive(tmp_path / "var", audit_log=trail)
    try:
        add_user(server.archive.index, "alice", "alice-password", "viewer")
        httpx.post(f"{server.base}/login", data={"username": "alice", "password": "bad-bad-bad"})
        with _login(server, "alice", "alice-password"):
            pass
    finally:
        server.door.stop()
        server.archive.close()
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    auth = [e for e in events if e["event_code"] == "DCM 110114"]
    assert [(e["user"], e["outcome"], e["door"]) for e in auth] == [
        ("alice", 4, "web"),
        ("alice", 0, "web"),
    ]
    assert all(e["address"] == "127.0.0.1" for e in auth)


def _user(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(user, list(args), input=stdin)


def test_user_commands(tmp_path: Path) -> None:
    data = str(tmp_path / "var")
    add = _user("add", "bob", "--role", "uploader", "--password-stdin", "--data-dir", data,
                stdin="bob-password\n")  # fmt: skip
    assert add.exit_code == 0, add.output
    assert "user bob: uploader" in add.stdout
    assert _user("list", "--data-dir", data).stdout.startswith("bob\tuploader\t")
    short = _user("add", "eve", "--password-stdin", "--data-dir", data, stdin="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    assert _user("remove", "bob", "--data-dir", data).exit_code == 0
    gone = _user("remove", "bob", "--data-dir", data)
    assert gone.exit_code == 1 and "no user 'bob'" in gone.stderr
    assert gone.exception is None or isinstance(gone.exception, SystemExit)


def test_user_command_line() -> None:
    """The group is reachable from the main command (lazily imported)."""
    out = medbridge("user", "--help")
    assert out.returncode == 0 and "add" in out.stdout and "remove" in out.stdout


def test_requests_are_audited(tmp_path: Path) -> None:
    """Each DICOMweb request: who, which door, what study, the outcome; refusals too."""
    trail = tmp_path / "audit.jsonl"
    server = serve_archive(tmp_path / "var", audit_log=trail, tokens=TOKENS)
    try:
        reader = {"Authorization": "Bearer r-secret"}
        httpx.get(f"{server.url}/studies/1.2.3/metadata", headers=reader)
        httpx.get(f"{server.url}/studies?PatientID=X", headers=reader)
        httpx.get(f"{server.url}/studies/1.2.4/series")  # no token: refused
        httpx.get(f"{server.base}/health")  # not audited
    finally:
        server.door.stop()
        server.archive.close()
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [(e["event"], e["user"], e["studies"], e["door"]) for e in events] == [
        ("DICOM Instances Accessed", "reader", ["1.2.3"], "dicomweb"),
        ("Query", "reader", [], "dicomweb"),
        ("Query", "anonymous", ["1.2.4"], "dicomweb"),
    ]
    assert events[2]["outcome"] == 4 and events[2]["detail"].endswith("-> 401")
    assert (
        events[1]["detail"] == "GET /dicom-web/studies?PatientID=X -> " + events[1]["detail"][-3:]
    )

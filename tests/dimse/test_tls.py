"""Optional TLS (PS3.15 B.1): a server with a test certificate, our SCU as the client.

The certificates come from ``openssl`` (a CA and a server certificate for 127.0.0.1),
made fresh for the test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.factory import corpus
from conftest import require_tool
from dimse.conftest import stored_path
from dimse.peers import MedbridgeServer, medbridge, run

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """ca.pem, server.pem/.key and client-with-key.pem (CA-signed), made by openssl."""
    openssl = require_tool("openssl")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
         "ca.pem", "-days", "2", "-subj", "/CN=medbridge test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
         "server.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out",
         "client.csr", "-subj", "/CN=MEDBRIDGE-SCU"],
        ["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "client.pem", "-days", "2"],
    ]  # fmt: skip
    for step in steps:
        result = run([openssl, *step], cwd=folder)
        assert result.returncode == 0, result.stderr
    both = (folder / "client.pem").read_text() + (folder / "client.key").read_text()
    (folder / "client-with-key.pem").write_text(both)
    return folder


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, certificates) -> Iterator[MedbridgeServer]:
    work = tmp_path_factory.mktemp("tls-server")
    config = work / "medbridge.toml"
    config.write_text(
        f'[tls]\ncert = "{certificates / "server.pem"}"\nkey = "{certificates / "server.key"}"\n'
    )
    with MedbridgeServer(work / "var", config=config) as srv:
        yield srv


class TestTls:
    def test_ready_line_says_tls(self, tls_server):
        """The ready line tells that the DIMSE port speaks TLS."""
        assert ", TLS" in tls_server.log

    def test_echo_over_tls(self, tls_server, certificates):
        """medbridge echo --tls-ca gets 0x0000 over TLS."""
        result = medbridge(
            "echo", "--aec", "MEDBRIDGE", "--tls-ca", str(certificates / "ca.pem"),
            HOST, str(tls_server.port),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "status 0x0000" in result.stdout

    def test_send_over_tls_is_stored(self, tls_server, certificates, corpus_dir):
        """medbridge send --tls-ca stores every file of the corpus."""
        result = medbridge(
            "send", "--aec", "MEDBRIDGE", "--tls-ca", str(certificates / "ca.pem"),
            HOST, str(tls_server.port), str(corpus_dir),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"sent {len(corpus())}, failed 0" in result.stdout
        for spec in corpus():
            assert stored_path(tls_server.data_dir, spec.sop_uid).is_file()

    def test_plain_client_is_not_served(self, tls_server):
        """A client without TLS gets no association from a TLS port."""
        result = medbridge("echo", "--aec", "MEDBRIDGE", HOST, str(tls_server.port), timeout=90)
        assert result.returncode != 0

    def test_untrusted_server_is_refused(self, tls_server, tmp_path):
        """A client trusting another CA refuses the server's certificate."""
        other = tmp_path / "other.pem"
        made = run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             str(tmp_path / "other.key"), "-out", str(other), "-days", "2", "-subj", "/CN=x"],
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        result = medbridge(
            "echo", "--aec", "MEDBRIDGE", "--tls-ca", str(other), HOST, str(tls_server.port)
        )
        assert result.returncode != 0


@pytest.fixture(scope="module")
def mutual_tls_server(tmp_path_factory, certificates) -> Iterator[MedbridgeServer]:
    """A server that also demands a client certificate signed by the test CA."""
    work = tmp_path_factory.mktemp("mtls-server")
    config = work / "medbridge.toml"
    config.write_text(
        f'[tls]\ncert = "{certificates / "server.pem"}"\nkey = "{certificates / "server.key"}"\n'
        f'ca = "{certificates / "ca.pem"}"\n'
    )
    with MedbridgeServer(work / "var", config=config) as srv:
        yield srv


class TestMutualTls:
    def test_client_certificate_is_accepted(self, mutual_tls_server, certificates):
        """--tls-cert presents our certificate; the server that demands one answers."""
        result = medbridge(
            "echo", "--aec", "MEDBRIDGE", "--tls-ca", str(certificates / "ca.pem"),
            "--tls-cert", str(certificates / "client-with-key.pem"),
            HOST, str(mutual_tls_server.port),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def test_missing_client_certificate_is_refused(self, mutual_tls_server, certificates):
        """Without a client certificate the association fails."""
        result = medbridge(
            "echo", "--aec", "MEDBRIDGE", "--tls-ca", str(certificates / "ca.pem"),
            HOST, str(mutual_tls_server.port),
        )  # fmt: skip
        assert result.returncode != 0

    def test_certificate_without_ca_is_a_usage_error(self, certificates):
        """--tls-cert alone is refused before any connection, exit status 2."""
        result = medbridge(
            "echo", "--tls-cert", str(certificates / "client-with-key.pem"), HOST, "1"
        )
        assert result.returncode == 2
        assert "--tls-cert needs --tls-ca" in result.stderr

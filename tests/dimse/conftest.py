"""Fixtures of the DIMSE tests: medbridge servers as processes, and their data."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.factory import corpus, write_files
from dimse.peers import MedbridgeServer, need, pg_server, run, storescp  # noqa: F401


def dataset_body(data: bytes) -> bytes:
    """Return the bytes after the file meta group (what travelled over the wire)."""
    assert data[128:132] == b"DICM"
    (length,) = struct.unpack("<I", data[140:144])
    return data[144 + length :]


def stored_path(data_dir: Path, sop_uid: str) -> Path:
    """Where medbridge stored an instance (FileStorage.relpath_for), found by its name."""
    found = list(data_dir.glob(f"objects/*/*/{sop_uid}.dcm"))
    assert len(found) <= 1
    return found[0] if found else data_dir / "objects" / "missing" / f"{sop_uid}.dcm"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    write_files(folder, corpus())
    return folder


@pytest.fixture(scope="module")
def destination(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A storescp C-MOVE destination with AE title DEST: (port, folder)."""
    out = tmp_path_factory.mktemp("dest")
    with storescp(out, "DEST") as port:
        yield port, out


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path, destination: tuple[int, Path]
) -> Iterator[MedbridgeServer]:
    """A medbridge server that knows DEST and holds the corpus, sent by storescu."""
    need("storescu")
    work = tmp_path_factory.mktemp("server")
    config = work / "medbridge.toml"
    config.write_text(
        f'[server]\nae_title = "MEDBRIDGE"\n\n'
        f'[aes.DEST]\nae_title = "DEST"\nhost = "127.0.0.1"\nport = {destination[0]}\n'
    )
    with MedbridgeServer(work / "var", config=config) as srv:
        result = run(
            ["storescu", "-aec", "MEDBRIDGE", "+sd", "127.0.0.1", str(srv.port), str(corpus_dir)]
        )
        assert result.returncode == 0, result.stderr
        yield srv

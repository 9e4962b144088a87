"""Fixtures of the archive tests: an empty archive and one holding the small corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.factory import corpus, make_bytes
from medbridge.archive import Archive


@pytest.fixture
def empty_archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive(tmp_path / "var") as arc:
        yield arc


@pytest.fixture(scope="module")
def filled_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    with Archive(tmp_path_factory.mktemp("filled")) as arc:
        for spec in corpus():
            arc.store(make_bytes(spec))
        yield arc

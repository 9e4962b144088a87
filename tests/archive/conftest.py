"""Fixtures of the archive tests: an empty archive and one holding the small corpus.

The filled archive is built twice, on the default SQLite index and on a PostgreSQL
server the fixture starts, so every query test checks both SQL dialects.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.factory import corpus, make_bytes
from dimse.peers import fresh_database, pg_server  # noqa: F401 (a fixture)
from medbridge.archive import Archive

_databases = itertools.count()


@pytest.fixture
def empty_archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive(tmp_path / "var") as arc:
        yield arc


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled_archive(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Archive]:
    url = None
    if request.param == "postgresql":
        url = fresh_database(request.getfixturevalue("pg_server"), f"q{next(_databases)}")
    with Archive(tmp_path_factory.mktemp("filled"), index_url=url) as arc:
        for spec in corpus():
            arc.store(make_bytes(spec))
        yield arc

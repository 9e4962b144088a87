"""``archive migrate``: folder + SQLite → object store + PostgreSQL, resumable, checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.factory import corpus, make_bytes
from archive.objectstore import ObjectStore, object_store
from dimse.peers import fresh_database, medbridge
from medbridge.archive import Archive
from medbridge.archive.migrate import migrate


@pytest.fixture(scope="module")
def store() -> Iterator[ObjectStore]:
    with object_store() as running:
        yield running


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Archive]:
    with Archive(tmp_path / "src") as arc:
        for spec in corpus():
            arc.store(make_bytes(spec))
        yield arc


def _interrupt_after(n: int):  # type: ignore[no-untyped-def]
    def progress(done: int, total: int) -> None:
        if done == n:
            raise KeyboardInterrupt

    return progress


def test_folder_sqlite_to_s3_postgresql_resumes(
    source: Archive, store: ObjectStore, pg_server: str, tmp_path: Path
) -> None:
    url = fresh_database(pg_server, "migrate1")
    bucket = store.new_bucket()

    def destination() -> Archive:
        return Archive(
            tmp_path / "dst",
            index_url=url,
            storage_url=f"s3://{bucket}/a",
            s3=store.s3_options(),
        )

    with destination() as dst, pytest.raises(KeyboardInterrupt):
        migrate(source, dst, workers=1, on_progress=_interrupt_after(5))
    with destination() as dst:
        report = migrate(source, dst, workers=4)
        assert report.ok, report
        assert report.total == len(corpus())
        assert report.skipped >= 5
        assert report.copied + report.skipped == report.total
        for spec in corpus():
            assert dst.read(spec.sop_uid) == make_bytes(spec)
        # a third run finds everything there
        again = migrate(source, dst)
        assert again.skipped == again.total and again.copied == 0


def test_cli_migrate_and_back(source: Archive, store: ObjectStore, tmp_path: Path) -> None:
    """The command copies to S3 and back to a folder; both end byte for byte equal."""
    bucket = store.new_bucket()
    config = tmp_path / "s3.toml"
    config.write_text(
        "[server]\n"
        f'data_dir = "{tmp_path / "s3index"}"\n'
        f'storage_url = "s3://{bucket}/x"\n'
        f's3_endpoint_url = "{store.endpoint_url}"\n'
        's3_region = "us-east-1"\n'
        's3_access_key_id = "k"\n'
        's3_secret_access_key = "s"\n'
    )
    src_dir = source.data_dir
    out = medbridge("archive", "migrate", "--data-dir", str(src_dir), "--to-config", str(config))
    assert out.returncode == 0, out.stderr
    assert f"{len(corpus())} instances: {len(corpus())} copied" in out.stdout
    assert "every instance present, byte for byte" in out.stdout
    back = tmp_path / "back"
    out = medbridge("archive", "migrate", "--config", str(config), "--to-data-dir", str(back))
    assert out.returncode == 0, out.stderr
    check = medbridge("archive", "check", "--data-dir", str(back))
    assert check.returncode == 0, check.stdout + check.stderr
    with Archive(back) as arc:
        for spec in corpus():
            assert arc.read(spec.sop_uid) == make_bytes(spec)


def test_cli_migrate_needs_a_destination(tmp_path: Path) -> None:
    out = medbridge("archive", "migrate", "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert "--to-config" in out.stderr
    assert "Traceback" not in out.stderr

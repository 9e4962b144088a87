"""The archive on an S3-API object store (moto's server over real HTTP).

The same promises as on local files: a store returns only once the object is
confirmed, an interrupted upload leaves nothing visible, ``archive check`` finds what
disagrees, and reads (whole, ranged, streamed) return the bytes as received.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from archive.factory import Spec, corpus, make_bytes
from archive.objectstore import ObjectStore, object_store
from medbridge.archive import Archive, StoreOutcome, check
from medbridge.archive import s3 as s3_module
from medbridge.archive.s3 import S3Storage
from medbridge.errors import NotFoundError, StorageError


@pytest.fixture(scope="module")
def store() -> Iterator[ObjectStore]:
    with object_store() as running:
        yield running


@pytest.fixture
def s3_archive(tmp_path: Path, store: ObjectStore) -> Iterator[Archive]:
    bucket = store.new_bucket()
    with Archive(tmp_path / "var", storage_url=f"s3://{bucket}/pacs", s3=store.s3_options()) as arc:
        yield arc


def _study(arc: Archive, uid: str) -> list[Dataset]:
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE"
    ident.StudyInstanceUID = uid
    ident.SOPInstanceUID = ""
    return list(arc.find(ident))


def test_store_find_read_delete(s3_archive: Archive, store: ObjectStore) -> None:
    specs = corpus()
    blobs = {spec.sop_uid: make_bytes(spec) for spec in specs}
    for data in blobs.values():
        assert s3_archive.store(data).outcome is StoreOutcome.STORED
    assert isinstance(s3_archive.storage, S3Storage)
    # every object is in the bucket under the prefix, named as on local files
    keys = {
        o["Key"]
        for o in store.client().list_objects_v2(Bucket=s3_archive.storage.bucket)["Contents"]
    }
    assert len(keys) == len(blobs)
    assert all(k.startswith("pacs/objects/") and k.endswith(".dcm") for k in keys)
    for uid, data in blobs.items():
        assert s3_archive.read(uid) == data
    assert len(_study(s3_archive, specs[0].study_uid)) == sum(
        s.study_uid == specs[0].study_uid for s in specs
    )
    first = specs[0].sop_uid
    assert s3_archive.store(blobs[first]).outcome is StoreOutcome.IDENTICAL
    s3_archive.delete(first)
    with pytest.raises(NotFoundError):
        s3_archive.read(first)
    assert len(store.client().list_objects_v2(Bucket=s3_archive.storage.bucket)["Contents"]) == (
        len(blobs) - 1
    )


def test_refs_have_no_local_path_but_read(s3_archive: Archive) -> None:
    spec = Spec(size=64)
    data = make_bytes(spec)
    s3_archive.store(data)
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.StudyInstanceUID = spec.study_uid
    (ref,) = s3_archive.instances(ident)
    assert ref.path is None
    with s3_archive.storage.open(ref.relpath) as f:
        assert f.read() == data
    assert b"".join(s3_archive.storage.iter_chunks(ref.relpath, 1000)) == data
    assert s3_archive.storage.read_range(ref.relpath, 128, 4) == b"DICM"
    assert s3_archive.storage.size(ref.relpath) == len(data)
    with pytest.raises(StorageError, match="keeps no local files"):
        s3_archive.open(spec.sop_uid)


def test_large_instance_goes_up_in_parts(
    s3_archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the threshold the object is uploaded in parts and reads back whole."""
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)
    data = make_bytes(Spec(size=2048))  # 2048² × 2 bytes: 8 MiB of pixels
    assert len(data) > 6 << 20
    s3_archive.store(data)
    assert s3_archive.read(Spec(size=2048).sop_uid) == data
    stored = s3_archive.storage.read_range(s3_archive.locate(Spec().sop_uid), len(data) - 100, 100)
    assert stored == data[-100:]


def test_failed_part_leaves_nothing_visible(
    s3_archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part that fails aborts the upload: no object, no index row, no stray upload."""
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 << 20)
    storage = s3_archive.storage
    assert isinstance(storage, S3Storage)
    real = storage._client.upload_part
    calls = []

    def flaky(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise EndpointConnectionError(endpoint_url="http://store")
        return real(**kwargs)

    monkeypatch.setattr(storage._client, "upload_part", flaky)
    spec = Spec(size=2048)
    with pytest.raises(StorageError, match="cannot store"):
        s3_archive.store(make_bytes(spec))
    assert calls == [1, 2]
    with pytest.raises(NotFoundError):
        s3_archive.read(spec.sop_uid)
    assert list(storage.iter_files()) == []
    assert list(storage.stray_temp_files()) == []


def test_check_finds_and_repairs(s3_archive: Archive, store: ObjectStore) -> None:
    """Missing objects, unindexed objects and abandoned uploads are found and fixed."""
    specs = corpus()[:3]
    for spec in specs:
        s3_archive.store(make_bytes(spec))
    storage = s3_archive.storage
    assert isinstance(storage, S3Storage)
    client = store.client()
    gone = s3_archive.locate(specs[0].sop_uid)
    client.delete_object(Bucket=storage.bucket, Key=f"pacs/{gone}")
    extra = Spec(study=9, number=9)
    client.put_object(
        Bucket=storage.bucket,
        Key=f"pacs/{storage.relpath_for(extra.study_uid, extra.sop_uid)}",
        Body=make_bytes(extra),
    )
    # a node that died mid-upload: an upload begun and never completed
    client.create_multipart_upload(Bucket=storage.bucket, Key="pacs/objects/00/1.2/3.dcm")

    report = check(s3_archive)
    assert report.missing_files == [specs[0].sop_uid]
    assert len(report.unindexed_files) == 1
    assert len(report.temp_files) == 1
    assert not report.ok

    check(s3_archive, repair=True)
    after = check(s3_archive)
    assert after.ok, after
    assert s3_archive.read(extra.sop_uid) == make_bytes(extra)


def test_checksum_rot_is_found(s3_archive: Archive, store: ObjectStore) -> None:
    spec = Spec()
    s3_archive.store(make_bytes(spec))
    storage = s3_archive.storage
    assert isinstance(storage, S3Storage)
    rotten = bytearray(make_bytes(spec))
    rotten[-1] ^= 0xFF
    store.client().put_object(
        Bucket=storage.bucket, Key=f"pacs/{s3_archive.locate(spec.sop_uid)}", Body=bytes(rotten)
    )
    assert check(s3_archive).checksum_mismatches == [spec.sop_uid]
    assert (
        hashlib.sha256(s3_archive.read(spec.sop_uid)).hexdigest()
        != hashlib.sha256(make_bytes(spec)).hexdigest()
    )


def test_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot reach bucket s3://nope/"):
        Archive(
            tmp_path / "var",
            storage_url="s3://nope",
            s3={
                "endpoint_url": "http://127.0.0.1:9",
                "region": "us-east-1",
                "access_key_id": "x",
                "secret_access_key": "y",
            },
        )


@pytest.mark.parametrize("url", ["s3://", "ftp://host/x", "s3:///prefix"])
def test_bad_storage_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(StorageError, match="storage URL"):
        Archive(tmp_path / "var", storage_url=url)

"""Instances as objects in an S3-API object store (AWS S3, MinIO, Ceph RGW, Garage, ...).

The same contract as `FileStorage` (`medbridge.archive.storage.Storage`), so every door
works unchanged on it. Durability is the object store's: a PUT, or the completion of a
multipart upload, returns only once the object is written and readable, and an object
is never visible half-written; so `write` returning is the same promise as a local
file's fsync and rename. An upload interrupted by a crash leaves at most an incomplete
multipart upload, which is invisible to reads and which ``archive check`` lists (and
``--repair`` aborts).

Settings come from the ``s3://bucket/prefix`` URL plus the config's ``s3_endpoint_url``,
``s3_region`` and credentials, or boto3's standard sources (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``~/.aws/``...).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from medbridge.archive.storage import StoredFile, relpath_for, validate_relpath
from medbridge.errors import MissingDependencyError, StorageError

__all__ = ["S3Location", "S3Storage"]

LOGGER = logging.getLogger(__name__)

#: Objects above this size go up in parts (S3's parts are 5 MiB at least).
MULTIPART_THRESHOLD = 16 << 20
PART_SIZE = 8 << 20


@dataclass(frozen=True)
class S3Location:
    """Where the objects live: a bucket, a key prefix and how to reach the store."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Location:
        """Parse ``s3://bucket[/prefix]``; `options` give endpoint, region, keys.

        Raises
        ------
        StorageError
            If the URL is not ``s3://`` or names no bucket.
        """
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StorageError(f"storage URL {url!r}: expected s3://bucket[/prefix]")
        prefix = parts.path.strip("/")
        return cls(bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "", **options)


class S3Storage:
    """Instances as objects ``<prefix>objects/<h>/<study>/<sop>.dcm`` in one bucket."""

    def __init__(self, location: S3Location, *, cache_dir: Path | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is in the server extra
            raise MissingDependencyError("boto3", "S3 storage", "server") from exc
        self.location = location
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "medbridge-s3-cache"
        self.bucket = location.bucket
        self.prefix = location.prefix
        self._client = boto3.client(
            "s3",
            endpoint_url=location.endpoint_url,
            region_name=location.region,
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=location.secret_access_key,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=32,
                connect_timeout=10,
                read_timeout=60,
            ),
        )
        self._errors = _client_errors()
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            raise StorageError(f"cannot reach bucket {self.describe()}: {exc}") from exc

    def describe(self) -> str:
        """``s3://bucket/prefix`` and the endpoint, for the ready line and messages."""
        where = f" at {self.location.endpoint_url}" if self.location.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"

    def relpath_for(self, study_instance_uid: str, sop_instance_uid: str) -> str:
        """The instance's relative path, as `FileStorage.relpath_for` makes it."""
        return relpath_for(study_instance_uid, sop_instance_uid)

    def _key(self, relpath: str) -> str:
        return self.prefix + validate_relpath(relpath)

    def local_path(self, relpath: str) -> Path | None:
        """Objects have no local path; readers stream them (`open`, `read_range`)."""
        return None

    def local_root(self) -> Path:
        """This node's cache folder (derived files, fetched copies)."""
        return self.cache_dir

    def local_copy(self, relpath: str, sha256: str | None = None) -> Path:
        """A node-local copy of an object, fetched on first use, for readers that need
        a file (frame offsets, pydicom). Named by content digest, so a replaced object
        is fetched anew and a stale copy never read; written atomically."""
        name = sha256 or hashlib.sha256(relpath.encode()).hexdigest()
        if not all(c in "0123456789abcdef" for c in name) or len(name) != 64:
            raise StorageError(f"refusing cache name {name!r}")
        target = self.cache_dir / "objects" / name[:2] / f"{name}.dcm"
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with tmp.open("wb") as out:
                for chunk in self.iter_chunks(relpath):
                    out.write(chunk)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot cache {relpath} in {self.cache_dir}: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def write(
        self,
        relpath: str,
        chunks: bytes | list[bytes],
        *,
        sync_dir: bool = True,
        sha256: str | None = None,
    ) -> StoredFile:
        """Upload the bytes under `relpath`; returns once the store confirmed the object.

        Large objects go up in parts; a failed part aborts the upload so nothing is
        left behind. `sync_dir` is accepted for the common contract and means nothing
        here (a confirmed PUT is durable).

        Raises
        ------
        StorageError
            If the store refused or could not be reached; nothing is visible under
            `relpath` then (or the previous object still is).
        """
        pieces = [chunks] if isinstance(chunks, bytes | bytearray | memoryview) else chunks
        size = sum(len(p) for p in pieces)
        digest = sha256 or _sha256(pieces)
        key = self._key(relpath)
        metadata = {"sha256": digest}
        try:
            if size <= MULTIPART_THRESHOLD:
                body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                self._client.put_object(
                    Bucket=self.bucket, Key=key, Body=bytes(body), Metadata=metadata
                )
            else:
                self._multipart(key, pieces, metadata)
        except self._errors as exc:
            raise StorageError(f"cannot store {relpath} in {self.describe()}: {exc}") from exc
        return StoredFile(relpath=relpath, size=size, sha256=digest)

    def _multipart(self, key: str, pieces: list[bytes], metadata: dict[str, str]) -> None:
        upload = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, Metadata=metadata
        )
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, part in enumerate(_parts(pieces, PART_SIZE), start=1):
                answer = self._client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
                )
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except self._errors as exc:  # archive check lists it for --repair
                LOGGER.warning("cannot abort upload of %s: %s", key, exc)
            raise

    def sync_dir(self, relpath: str) -> None:
        """Nothing to do: an object store has no folder entries to flush."""

    def read(self, relpath: str) -> bytes:
        """Return the object's bytes.

        Raises
        ------
        StorageError
            If the object is missing or the store cannot be read.
        """
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(relpath))
            return bytes(answer["Body"].read())
        except self._errors as exc:
            raise StorageError(f"cannot read {relpath} from {self.describe()}: {exc}") from exc

    def read_range(self, relpath: str, start: int, length: int) -> bytes:
        """Return `length` bytes from offset `start` with one ranged GET."""
        if length <= 0:
            return b""
        try:
            answer = self._client.get_object(
                Bucket=self.bucket,
                Key=self._key(relpath),
                Range=f"bytes={start}-{start + length - 1}",
            )
            return bytes(answer["Body"].read())
        except self._errors as exc:
            raise StorageError(f"cannot read {relpath} from {self.describe()}: {exc}") from exc

    def open(self, relpath: str) -> IO[bytes]:
        """A readable, seekable file of the object (read whole: instances are small)."""
        return io.BytesIO(self.read(relpath))

    def iter_chunks(self, relpath: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream the object in chunks without holding it whole."""
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(relpath))
            yield from answer["Body"].iter_chunks(chunk_size)
        except self._errors as exc:
            raise StorageError(f"cannot read {relpath} from {self.describe()}: {exc}") from exc

    def size(self, relpath: str) -> int:
        """The object's size in bytes."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(relpath))
        except self._errors as exc:
            raise StorageError(f"cannot read {relpath} from {self.describe()}: {exc}") from exc
        return int(head["ContentLength"])

    def delete(self, relpath: str) -> None:
        """Remove an object; a missing object is not an error (S3 says so too)."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(relpath))
        except self._errors as exc:
            raise StorageError(f"cannot delete {relpath} in {self.describe()}: {exc}") from exc

    def iter_files(self) -> Iterator[str]:
        """Yield the relative path of every stored instance object."""
        paginator = self._client.get_paginator("list_objects_v2")
        start = len(self.prefix)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}objects/"):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                if key.endswith(".dcm"):
                    yield key[start:]

    def stray_temp_files(self) -> Iterator[str]:
        """Yield incomplete multipart uploads under the prefix (``key#upload-id``)."""
        paginator = self._client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}objects/"):
            for upload in page.get("Uploads", []):
                yield f"{upload['Key']}#{upload['UploadId']}"

    def remove_stray(self, name: str) -> None:
        """Abort an incomplete upload named as `stray_temp_files` names it."""
        key, _, upload_id = name.partition("#")
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except self._errors as exc:
            raise StorageError(f"cannot abort upload {name}: {exc}") from exc


def _sha256(pieces: list[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


def _parts(pieces: list[bytes], size: int) -> Iterator[bytes]:
    """Re-cut `pieces` into parts of `size` bytes (the last may be shorter)."""
    buffer = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while view:
            take = size - len(buffer)
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == size:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)


def _client_errors() -> tuple[type[BaseException], ...]:
    """botocore's error classes: a refusal (ClientError) and every transport failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)

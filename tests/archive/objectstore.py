"""An S3-API object store for the tests: moto's standalone server, a real HTTP endpoint.

moto's server speaks S3's HTTP protocol (signatures, multipart uploads, ranged GETs), so
boto3 in medbridge talks to it exactly as to AWS S3 or MinIO. It runs as its own process
on a free loopback port; each test takes a bucket of its own.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dimse.peers import free_port, wait_port

_buckets = itertools.count()

#: Credentials moto accepts (any); set so boto3 never looks for real ones.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "medbridge-test",
    "AWS_SECRET_ACCESS_KEY": "medbridge-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class ObjectStore:
    """A running S3 endpoint."""

    endpoint_url: str

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        """Create and return a bucket no other test uses."""
        name = f"medbridge-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def s3_options(self) -> dict[str, str | None]:
        """`Archive(s3=...)` for this endpoint."""
        return {
            "endpoint_url": self.endpoint_url,
            "region": "us-east-1",
            "access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }


@contextmanager
def object_store() -> Iterator[ObjectStore]:
    """Start moto's S3 server on a free port; stop it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    try:
        wait_port(port, proc=proc, timeout=60)  # type: ignore[arg-type]
        yield ObjectStore(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

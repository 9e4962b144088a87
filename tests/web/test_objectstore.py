"""The HTTP door on an object-store archive: STOW-RS, QIDO-RS and WADO-RS work as on files.

Retrieval reads the objects through node-local copies (frames, rendering, metadata)
or streams them; nothing is in the node's data folder but caches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread

from archive.factory import Spec, make_dataset
from archive.objectstore import ObjectStore, object_store
from web.conftest import WebServer, serve_archive


@pytest.fixture(scope="module")
def s3_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, ObjectStore]]:
    with object_store() as store:
        bucket = store.new_bucket()
        options = store.s3_options()
        server = serve_archive(
            tmp_path_factory.mktemp("s3web") / "var",
            storage_url=f"s3://{bucket}/web",
            s3_endpoint_url=options["endpoint_url"],
            s3_region=options["region"],
            s3_access_key_id=options["access_key_id"],
            s3_secret_access_key=options["secret_access_key"],
        )
        yield server, store
        server.door.stop()
        server.archive.close()


def test_stow_qido_wado_on_s3(s3_web: tuple[WebServer, ObjectStore]) -> None:
    server, store = s3_web
    client = DICOMwebClient(server.url)
    specs = [Spec(patient_id="S3P", study=900, number=n, size=32) for n in (1, 2, 3)]
    datasets = [make_dataset(s) for s in specs]
    client.store_instances(datasets)
    study = specs[0].study_uid
    found = client.search_for_instances(study_instance_uid=study)
    assert len(found) == 3
    for spec, original in zip(specs, datasets, strict=True):
        got = client.retrieve_instance(study, spec.series_uid, spec.sop_uid)
        assert got.PixelData == original.PixelData
    frames = client.retrieve_instance_frames(study, specs[0].series_uid, specs[0].sop_uid, [1])
    assert frames[0] == datasets[0].PixelData
    meta = client.retrieve_series_metadata(study, specs[0].series_uid)
    assert len(meta) == 3 and all("7FE00010" in m for m in meta)
    rendered = client.retrieve_instance_rendered(
        study, specs[0].series_uid, specs[0].sop_uid, media_types=("image/png",)
    )
    assert rendered[:8] == b"\x89PNG\r\n\x1a\n"
    # the bytes live in the bucket; the node's folder holds the index and caches only
    listed = store.client().list_objects_v2(Bucket=server.archive.storage.bucket)  # type: ignore[attr-defined]
    assert listed["KeyCount"] == 3
    assert not list(Path(server.data_dir).glob("objects/**/*.dcm"))
    assert (
        dcmread(server.archive.storage.open(server.archive.locate(specs[0].sop_uid))).SOPInstanceUID
        == specs[0].sop_uid
    )

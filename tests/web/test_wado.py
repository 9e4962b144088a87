"""WADO-RS retrieval, metadata and bulk data (PS3.18 10.4) through dicomweb-client.

The door serves the archive factory's corpus plus instances in every layout of
`pixels_data`; answers are compared with the bytes the archive stored.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient

from archive.factory import Spec, corpus, make_bytes, make_dataset
from dimse.peers import postgres_cluster
from medbridge.archive import Archive
from medbridge.server.config import Role, ServerConfig, Token
from medbridge.web.door import start
from web.conftest import WebServer, serve_archive
from web.pixels_data import all_instances, bundled, split_multipart

EXPLICIT = "1.2.840.10008.1.2.1"
DICOM = 'multipart/related; type="application/dicom"'


@pytest.fixture(scope="module")
def wado(tmp_path_factory):
    server = serve_archive(tmp_path_factory.mktemp("wado") / "var")
    for spec in corpus():
        server.archive.store(make_bytes(spec))
    stored = {}
    for item in all_instances():
        server.archive.store(item.data)
        stored[item.name] = item
    server.stored = stored
    yield server
    server.door.stop()
    server.archive.close()


@pytest.fixture(scope="module")
def client(wado):
    return DICOMwebClient(wado.url)


def get(wado, path, accept=None, **headers):
    if accept is not None:
        headers["Accept"] = accept
    return httpx.get(f"{wado.url}{path}", headers=headers, timeout=30)


def parts(response):
    return split_multipart(response.headers["content-type"], response.content)


def stored_bytes(wado, sop):
    return wado.archive.read(sop)


class TestRetrieve:
    def test_study_series_instance_with_dicomweb_client(self, wado, client):
        """dicomweb-client's retrieve_* get every instance, equal to the stored ones."""
        spec = Spec()
        study = client.retrieve_study(spec.study_uid)
        assert sorted(ds.SOPInstanceUID for ds in study) == sorted(
            s.sop_uid for s in corpus() if s.study == 1 and s.patient_id == "PAT1"
        )
        series = client.retrieve_series(spec.study_uid, spec.series_uid)
        assert [ds.InstanceNumber for ds in series] == [1, 2, 3]
        one = client.retrieve_instance(spec.study_uid, spec.series_uid, spec.sop_uid)
        expected = make_dataset(spec)
        assert one.PixelData == expected.PixelData
        assert one.PatientName == expected.PatientName

    def test_as_stored_bytes_are_the_stored_files(self, wado):
        """transfer-syntax=* sends each file exactly as the archive holds it."""
        item = wado.stored["j2k"]
        r = get(wado, f"/studies/{item.study}/series/{item.series}", f"{DICOM}; transfer-syntax=*")
        assert r.status_code == 200
        answer = parts(r)
        assert len(answer) == 6
        for _headers, body in answer:
            sop = pydicom.dcmread(io.BytesIO(body), stop_before_pixels=True).SOPInstanceUID
            assert body == stored_bytes(wado, sop)
        headers, _ = next(p for p in answer if p[1] == stored_bytes(wado, item.sop))
        assert headers["content-type"].endswith("transfer-syntax=1.2.840.10008.1.2.4.90")

    @pytest.mark.parametrize(
        "name",
        [
            "rle",
            "jpegls",
            "j2k",
            "rle-eot",
            "SC_rgb_rle.dcm",
            "SC_rgb_jpeg_gdcm.dcm",
            "JPEG2000.dcm",
            "JPEGLSNearLossless_16.dcm",
            "MR_small_implicit.dcm",
        ],
    )
    def test_default_decodes_to_explicit_little_endian(self, wado, client, name):
        """Explicit VR Little Endian asked, or no syntax: decoded, pixels equal."""
        item = wado.stored[name]
        ds = client.retrieve_instance(
            item.study, item.series, item.sop, media_types=(("application/dicom", EXPLICIT),)
        )
        assert ds.file_meta.TransferSyntaxUID == EXPLICIT
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == item.sop
        original = pydicom.dcmread(io.BytesIO(item.data))
        assert np.array_equal(ds.pixel_array, original.pixel_array)
        ((headers, body),) = parts(get(wado, item.path, DICOM))
        assert headers["content-type"] == f"application/dicom; transfer-syntax={EXPLICIT}"
        default = pydicom.dcmread(io.BytesIO(body))
        assert np.array_equal(default.pixel_array, original.pixel_array)

    def test_explicit_little_endian_stored_is_sent_untouched(self, wado):
        """An instance stored in the asked syntax is not rewritten."""
        spec = Spec()
        r = get(
            wado,
            f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/{spec.sop_uid}",
            f"{DICOM}; transfer-syntax={EXPLICIT}",
        )
        assert parts(r)[0][1] == stored_bytes(wado, spec.sop_uid)

    def test_other_syntax_when_stored_so(self, wado, client):
        """A compressed syntax is served when the instance is stored in it."""
        item = wado.stored["jpegls"]
        ds = client.retrieve_instance(
            item.study,
            item.series,
            item.sop,
            media_types=(("application/dicom", "1.2.840.10008.1.2.4.80"),),
        )
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"

    def test_syntax_it_cannot_produce_is_406(self, wado):
        """Asking JPEG baseline of an uncompressed instance: 406 with the reason."""
        spec = Spec()
        r = get(
            wado, f"/studies/{spec.study_uid}", f"{DICOM}; transfer-syntax=1.2.840.10008.1.2.4.50"
        )
        assert r.status_code == 406
        assert "Accept" in r.json()["detail"]

    def test_big_endian_cannot_be_converted(self, wado):
        """Big endian needs byte swapping pydicom does not do on write: 406, not 500."""
        item = wado.stored["MR_small_bigendian.dcm"]
        r = get(wado, item.path, DICOM)
        assert r.status_code == 406
        r = get(wado, item.path, f"{DICOM}; transfer-syntax=*")
        assert parts(r)[0][1] == stored_bytes(wado, item.sop)

    def test_q_values_pick_the_best_satisfiable(self, wado):
        """PS3.18 8.7.5: highest q first; an unsatisfiable entry passes to the next."""
        spec = Spec()
        path = f"/studies/{spec.study_uid}/series/{spec.series_uid}"
        r = get(
            wado,
            path,
            f"{DICOM}; transfer-syntax=1.2.840.10008.1.2.4.50; q=0.9, application/zip; q=0.5",
        )
        assert r.headers["content-type"] == "application/zip"
        r = get(wado, path, f"application/zip; q=0.4, {DICOM}; q=0.8")
        assert r.headers["content-type"].startswith("multipart/related")
        r = get(wado, path, f"{DICOM}; q=0, application/zip")
        assert r.headers["content-type"] == "application/zip"

    def test_zip_holds_the_stored_files(self, wado):
        """Accept: application/zip streams a ZIP of every file, as stored."""
        spec = Spec()
        r = get(wado, f"/studies/{spec.study_uid}", "application/zip")
        assert r.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == 5
        for name in names:
            sop = name.rsplit("/", 1)[1].removesuffix(".dcm")
            assert archive.read(name) == stored_bytes(wado, sop)

    def test_single_part_instance(self, wado):
        """Accept: application/dicom for one instance answers its bytes alone."""
        spec = Spec()
        r = get(
            wado,
            f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/{spec.sop_uid}",
            "application/dicom",
        )
        assert r.headers["content-type"].startswith("application/dicom")
        assert r.content == stored_bytes(wado, spec.sop_uid)


class TestErrors:
    @pytest.mark.parametrize(
        "path",
        [
            "/studies/1.2.x",
            "/studies/1.2/series/01.2",
            "/studies/1.2/series/1.3/instances/a",
            "/studies/1.2/series/1.3/instances/1.4/metadata",
            "/studies/..%5C..%5Cetc/metadata",
            "/studies/1.2/series/1.3/instances/1.4/frames/1",
            "/studies/" + "1" * 65,
            "/studies/1.2/series/1.3/thumbnail",
            "/studies/1.2/rendered",
        ],
    )
    def test_malformed_uid_is_400(self, wado, path):
        """UIDs are validated before anything is looked up."""
        bad = path.replace("1.2/", "1..2/", 1) if "x" not in path and "0" not in path else path
        r = get(wado, bad)
        assert r.status_code == 400, r.text
        assert "UID" in r.json()["detail"]

    def test_unknown_is_404(self, wado):
        spec = Spec()
        assert get(wado, "/studies/1.2.3").status_code == 404
        assert get(wado, f"/studies/{spec.study_uid}/series/1.2.3/metadata").status_code == 404
        r = get(wado, f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/1.2.3")
        assert r.status_code == 404

    def test_instance_under_the_wrong_series_is_404(self, wado):
        """An instance exists only under its own study and series."""
        spec, other = Spec(), Spec(series=2)
        r = get(
            wado, f"/studies/{spec.study_uid}/series/{other.series_uid}/instances/{spec.sop_uid}"
        )
        assert r.status_code == 404
        r = get(wado, f"/studies/1.2.3/series/{spec.series_uid}/instances/{spec.sop_uid}/metadata")
        assert r.status_code == 404

    @pytest.mark.parametrize(
        ("suffix", "accept"),
        [
            ("", "text/html"),
            ("/metadata", "application/dicom"),
            ("", "image/jpeg"),
            ("/metadata", 'multipart/related; type="application/dicom+xml"'),
        ],
    )
    def test_unsupported_accept_is_406(self, wado, suffix, accept):
        spec = Spec()
        r = get(wado, f"/studies/{spec.study_uid}{suffix}", accept)
        assert r.status_code == 406

    def test_malformed_accept_is_400(self, wado):
        spec = Spec()
        assert get(wado, f"/studies/{spec.study_uid}", "application/zip; q=x").status_code == 400

    def test_read_role_is_required(self, tmp_path):
        """With tokens configured, every WADO-RS route wants a read token."""
        tokens = (Token("viewer", "s3cret", Role.READ),)
        server = serve_archive(tmp_path / "var", tokens=tokens)
        try:
            spec = Spec()
            server.archive.store(make_bytes(spec))
            for suffix in ("", "/metadata", "/rendered", "/thumbnail"):
                r = httpx.get(f"{server.url}/studies/{spec.study_uid}{suffix}")
                assert r.status_code == 401, suffix
            r = httpx.get(
                f"{server.url}/studies/{spec.study_uid}/metadata",
                headers={"Authorization": "Bearer s3cret"},
            )
            assert r.status_code == 200
        finally:
            server.door.stop()
            server.archive.close()


class TestMetadata:
    def test_series_metadata_is_the_stored_attributes(self, wado, client):
        """retrieve_series_metadata: each instance's attributes, pixel data by URI."""
        spec = Spec()
        answer = client.retrieve_series_metadata(spec.study_uid, spec.series_uid)
        assert len(answer) == 3
        for item in answer:
            ds = pydicom.Dataset.from_json(item, bulk_data_uri_handler=lambda *_: b"")
            expected = make_dataset(Spec(number=int(ds.InstanceNumber)))
            assert ds.PatientName == expected.PatientName
            assert ds.ImagePositionPatient == expected.ImagePositionPatient
            assert "InlineBinary" not in item["7FE00010"]
            assert item["7FE00010"]["BulkDataURI"].startswith(wado.url)

    def test_study_and_instance_levels(self, wado, client):
        spec = Spec()
        assert len(client.retrieve_study_metadata(spec.study_uid)) == 5
        one = client.retrieve_instance_metadata(spec.study_uid, spec.series_uid, spec.sop_uid)
        assert one["00080018"]["Value"] == [spec.sop_uid]

    def test_bulk_values_become_uris_that_serve_them(self, wado, client):
        """Large OB values, top level and inside a sequence item, are served by URI."""
        item = wado.stored["bulk"]
        meta = client.retrieve_instance_metadata(item.study, item.series, item.sop)
        top = meta["00420011"]["BulkDataURI"]
        nested = meta["00400260"]["Value"][0]["00420011"]["BulkDataURI"]
        assert top.endswith("/bulkdata/00420011")
        assert nested.endswith("/bulkdata/00400260/0/00420011")
        ds = pydicom.dcmread(io.BytesIO(item.data))
        assert client.retrieve_bulkdata(top)[0] == ds[0x00420011].value
        assert client.retrieve_bulkdata(nested)[0] == ds[0x00400260][0][0x00420011].value

    def test_pixel_data_bulk_with_range(self, wado, client):
        """Native Pixel Data by its BulkDataURI, whole and as a byte range."""
        spec = Spec()
        meta = client.retrieve_instance_metadata(spec.study_uid, spec.series_uid, spec.sop_uid)
        uri = meta["7FE00010"]["BulkDataURI"]
        pixels = make_dataset(spec).PixelData
        assert client.retrieve_bulkdata(uri)[0] == pixels
        assert client.retrieve_bulkdata(uri, byte_range=(10, 19))[0] == pixels[10:20]
        r = httpx.get(uri, headers={"Accept": "application/octet-stream", "Range": "bytes=-8"})
        assert r.status_code == 206
        assert r.content == pixels[-8:]
        assert (
            r.headers["content-range"] == f"bytes {len(pixels) - 8}-{len(pixels) - 1}/{len(pixels)}"
        )
        r = httpx.get(
            uri, headers={"Accept": "application/octet-stream", "Range": f"bytes={len(pixels)}-"}
        )
        assert r.status_code == 416

    def test_encapsulated_pixel_data_bulk_is_its_frames(self, wado, client):
        item = wado.stored["rle"]
        meta = client.retrieve_instance_metadata(item.study, item.series, item.sop)
        frames = client.retrieve_bulkdata(meta["7FE00010"]["BulkDataURI"])
        ds = pydicom.dcmread(io.BytesIO(item.data))
        expected = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=3))
        assert frames == expected

    def test_unknown_bulk_path_is_404_and_malformed_400(self, wado):
        item = wado.stored["bulk"]
        assert get(wado, f"{item.path}/bulkdata/00100010").status_code == 404
        assert get(wado, f"{item.path}/bulkdata/00400260/7/00420011").status_code == 404
        assert get(wado, f"{item.path}/bulkdata/zz").status_code == 400

    def test_gzip_when_accepted(self, wado):
        spec = Spec()
        path = f"/studies/{spec.study_uid}/series/{spec.series_uid}/metadata"
        r = httpx.get(f"{wado.url}{path}", headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert len(r.json()) == 3
        r = httpx.get(f"{wado.url}{path}", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in r.headers

    def test_frames_are_never_gzipped(self, wado):
        spec = Spec()
        r = get(
            wado,
            f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/{spec.sop_uid}/frames/1",
            **{"Accept-Encoding": "gzip"},
        )
        assert "content-encoding" not in r.headers


class TestMetadataFollowsTheArchive:
    def test_store_replace_and_delete_change_the_answer(self, tmp_path):
        """The derived answer is keyed by content: a change is seen at once."""
        server = serve_archive(tmp_path / "var", duplicates="replace")
        server.archive.duplicates = server.archive.duplicates.REPLACE
        try:
            specs = [Spec(study=7, number=n) for n in (1, 2)]
            for spec in specs:
                server.archive.store(make_bytes(spec))
            client = DICOMwebClient(server.url)
            study, series = specs[0].study_uid, specs[0].series_uid

            def numbers():
                meta = client.retrieve_series_metadata(study, series)
                return sorted(m["00200013"]["Value"][0] for m in meta)

            def descriptions():
                meta = client.retrieve_series_metadata(study, series)
                return sorted(m["0008103E"]["Value"][0] for m in meta)

            assert numbers() == [1, 2]
            server.archive.store(make_bytes(Spec(study=7, number=3)))
            assert numbers() == [1, 2, 3]
            changed = Spec(study=7, number=2, extra={"SeriesDescription": "changed"})
            server.archive.store(make_bytes(changed))
            assert descriptions() == ["changed", "series 1", "series 1"]
            server.archive.delete(Spec(study=7, number=1).sop_uid)
            assert numbers() == [2, 3]
        finally:
            server.door.stop()
            server.archive.close()

    def test_answer_is_kept_in_the_storage(self, wado):
        """A second node over the same storage finds the derived files (no process cache)."""
        spec = Spec()
        path = f"/studies/{spec.study_uid}/series/{spec.series_uid}/metadata"
        first = get(wado, path, **{"Accept-Encoding": "identity"}).content
        derived = list(wado.data_dir.glob("objects/*/*/.derived/series-*"))
        assert derived, "no derived series answer written"
        (packed,) = [p for p in derived if p.name.endswith(".gz")]
        assert gzip.decompress(packed.read_bytes()) == first


class TestUndecodable:
    """JPEG-lossy.dcm (12-bit JPEG extended) defeats pylibjpeg-libjpeg: what cannot be
    decoded is a 406 for one instance and a logged omission inside a longer answer."""

    def test_single_instance_is_406_unless_as_stored(self, wado):
        item = wado.stored["JPEG-lossy.dcm"]
        r = get(wado, item.path, DICOM)
        assert r.status_code == 406
        assert "1.2.840.10008.1.2.4.51" in r.json()["detail"]
        r = get(wado, item.path, f"{DICOM}; transfer-syntax=*")
        assert parts(r)[0][1] == stored_bytes(wado, item.sop)

    def test_study_answer_leaves_it_out(self, tmp_path):
        server = serve_archive(tmp_path / "var")
        try:
            lossy, j2k = bundled(1, "JPEG-lossy.dcm"), bundled(2, "JPEG2000.dcm")
            for item in (lossy, j2k):
                server.archive.store(item.data)
            r = httpx.get(f"{server.url}/studies/{lossy.study}", headers={"Accept": DICOM})
            assert r.status_code == 200
            sops = [
                pydicom.dcmread(io.BytesIO(body), stop_before_pixels=True).SOPInstanceUID
                for _, body in parts(r)
            ]
            assert sops == [j2k.sop]
        finally:
            server.door.stop()
            server.archive.close()


class TestSharedIndex:
    def test_two_nodes_on_postgresql_share_metadata(self, tmp_path):
        """Two doors over one PostgreSQL index and one storage: a store through one is in
        the other's /metadata at once (the derived answers live in the storage)."""
        with postgres_cluster() as url:
            nodes = []
            try:
                for _ in range(2):
                    archive = Archive(tmp_path / "var", index_url=url)
                    config = ServerConfig(data_dir=tmp_path / "var", http_port=0)
                    nodes.append(WebServer(archive, start(config, archive), tmp_path / "var"))
                first, second = nodes
                specs = [Spec(study=8, number=n) for n in (1, 2, 3)]
                first.archive.store(make_bytes(specs[0]))
                first.archive.store(make_bytes(specs[1]))
                path = f"/studies/{specs[0].study_uid}/series/{specs[0].series_uid}/metadata"
                assert len(get(first, path).json()) == 2
                assert len(get(second, path).json()) == 2
                second.archive.store(make_bytes(specs[2]))
                assert len(get(first, path).json()) == 3
                first.archive.delete(specs[0].sop_uid)
                numbers = sorted(m["00200013"]["Value"][0] for m in get(second, path).json())
                assert numbers == [2, 3]
            finally:
                for node in nodes:
                    node.door.stop()
                    node.archive.close()

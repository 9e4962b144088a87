"""WADO-RS frames, rendered images and thumbnails (PS3.18 10.4, 8.3.5).

Frames asked as stored must be the stored fragments byte for byte (never decoded and
re-encoded); frames asked uncompressed must be the decoded pixels; rendered images are
checked against the window arithmetic of PS3.3 C.11.2.1.2.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.encaps import generate_frames

from archive.factory import Spec, make_dataset
from web.conftest import serve_archive
from web.pixels_data import FRAMES, SIZE, all_instances, split_multipart

OCTET = 'multipart/related; type="application/octet-stream"'
#: What OHIF (cornerstone's WADO-RS loader) sends for every frame.
OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"
ENCAPSULATED = ["rle", "jpegls", "j2k", "rle-no-bot", "rle-eot"]


@pytest.fixture(scope="module")
def wado(tmp_path_factory):
    server = serve_archive(tmp_path_factory.mktemp("pixels") / "var")
    server.stored = {}
    for item in all_instances():
        server.archive.store(item.data)
        server.stored[item.name] = item
    yield server
    server.door.stop()
    server.archive.close()


@pytest.fixture(scope="module")
def client(wado):
    return DICOMwebClient(wado.url)


def get(wado, path, header=None, **params):
    headers = {"Accept": header} if header else {}
    return httpx.get(f"{wado.url}{path}", headers=headers, params=params, timeout=30)


def dataset(item):
    return pydicom.dcmread(io.BytesIO(item.data))


def stored_frames(item):
    ds = dataset(item)
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1))))


def image(response):
    return np.asarray(Image.open(io.BytesIO(response.content)))


class TestFrames:
    @pytest.mark.parametrize("name", ENCAPSULATED)
    def test_compressed_frames_are_the_stored_fragments(self, wado, client, name):
        """transfer-syntax=*: each frame is copied from the file, equal to the stored one."""
        item = wado.stored[name]
        frames = client.retrieve_instance_frames(
            item.study,
            item.series,
            item.sop,
            [3, 1],
            media_types=(("application/octet-stream", "*"),),
        )
        expected = stored_frames(item)
        assert frames == [expected[2], expected[0]]

    @pytest.mark.parametrize("name", ENCAPSULATED)
    def test_uncompressed_frames_are_the_decoded_pixels(self, wado, client, name):
        """application/octet-stream without a syntax: decoded to native little endian."""
        item = wado.stored[name]
        frames = client.retrieve_instance_frames(item.study, item.series, item.sop, [2])
        expected = dataset(item).pixel_array[1]
        assert np.frombuffer(frames[0], "<u2").reshape(SIZE, SIZE).tolist() == expected.tolist()

    def test_native_frames_by_offset(self, wado, client):
        item = wado.stored["native"]
        frames = client.retrieve_instance_frames(item.study, item.series, item.sop, [1, 2, 3])
        pixels = dataset(item).PixelData
        size = SIZE * SIZE * 2
        assert frames == [pixels[i * size : (i + 1) * size] for i in range(FRAMES)]

    @pytest.mark.parametrize(
        ("name", "media", "syntax"),
        [
            ("jpegls", "image/jls", "1.2.840.10008.1.2.4.80"),
            ("j2k", "image/jp2", "1.2.840.10008.1.2.4.90"),
            ("rle", "image/x-dicom-rle", "1.2.840.10008.1.2.5"),
            ("SC_rgb_jpeg_dcmtk.dcm", "image/jpeg", "1.2.840.10008.1.2.4.50"),
            ("JPEG2000.dcm", "image/jp2", "1.2.840.10008.1.2.4.91"),
        ],
    )
    def test_compressed_media_types(self, wado, name, media, syntax):
        """PS3.18 Table 8.7.3-2: the stored syntax under its image media type."""
        item = wado.stored[name]
        r = get(wado, f"{item.path}/frames/1", f'multipart/related; type="{media}"')
        assert r.status_code == 200, r.text
        ((headers, body),) = split_multipart(r.headers["content-type"], r.content)
        assert headers["content-type"] == f"{media}; transfer-syntax={syntax}"
        assert body == stored_frames(item)[0]

    def test_image_type_of_another_syntax_is_406(self, wado):
        item = wado.stored["jpegls"]
        r = get(wado, f"{item.path}/frames/1", 'multipart/related; type="image/jp2"')
        assert r.status_code == 406

    def test_ohif_frame_request(self, wado):
        """OHIF's exact Accept: stored frames, each part naming its transfer syntax."""
        for name, syntax in [("j2k", "1.2.840.10008.1.2.4.90"), ("native", "1.2.840.10008.1.2.1")]:
            item = wado.stored[name]
            r = get(wado, f"{item.path}/frames/2", OHIF_FRAMES)
            assert r.status_code == 200
            ((headers, body),) = split_multipart(r.headers["content-type"], r.content)
            assert headers["content-type"] == f"application/octet-stream; transfer-syntax={syntax}"
            if name == "j2k":
                assert body == stored_frames(item)[1]

    @pytest.mark.parametrize("frames", ["0", "a", "1,,2", "-1", "1.5"])
    def test_bad_frame_numbers_are_400(self, wado, frames):
        item = wado.stored["native"]
        assert get(wado, f"{item.path}/frames/{frames}", OCTET).status_code == 400

    def test_frame_beyond_the_instance_is_404(self, wado):
        item = wado.stored["rle"]
        assert get(wado, f"{item.path}/frames/2,{FRAMES + 1}", OCTET).status_code == 404

    def test_big_endian_frames_are_swapped_to_little_endian(self, wado, client):
        item = wado.stored["MR_small_bigendian.dcm"]
        (frame,) = client.retrieve_instance_frames(item.study, item.series, item.sop, [1])
        expected = dataset(item).pixel_array
        assert np.frombuffer(frame, expected.dtype.newbyteorder("<")).tolist() == (
            expected.ravel().tolist()
        )

    def test_instance_without_pixels_has_no_frames(self, tmp_path):
        server = serve_archive(tmp_path / "var")
        try:
            ds = make_dataset(Spec(study=77))
            del ds.PixelData
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            server.archive.store(out.getvalue())
            spec = Spec(study=77)
            path = f"/studies/{spec.study_uid}/series/{spec.series_uid}/instances/{spec.sop_uid}"
            assert httpx.get(f"{server.url}{path}/frames/1").status_code == 404
            assert httpx.get(f"{server.url}{path}/rendered").status_code == 404
        finally:
            server.door.stop()
            server.archive.close()


class TestRendered:
    def test_window_from_the_query(self, wado, client):
        """window=c,w: PS3.3 C.11.2.1.2 linear, after Rescale (intercept -1024 here)."""
        item = wado.stored["native"]
        png = client.retrieve_instance_rendered(
            item.study,
            item.series,
            item.sop,
            media_types=("image/png",),
            params={"window": "0,2000,linear"},
        )
        got = np.asarray(Image.open(io.BytesIO(png)))
        values = dataset(item).pixel_array[0].astype(float) - 1024
        expected = np.clip((values - (0 - 0.5)) / (2000 - 1) + 0.5, 0, 1) * 255
        assert np.abs(got.astype(float) - np.rint(expected)).max() <= 1

    def test_window_from_the_file(self, wado):
        item = wado.stored["native"]
        got = image(get(wado, f"{item.path}/rendered", "image/png"))
        values = dataset(item).pixel_array[0].astype(float) - 1024
        expected = np.clip((values - (2048 - 0.5)) / (4096 - 1) + 0.5, 0, 1) * 255
        assert np.abs(got.astype(float) - np.rint(expected)).max() <= 1

    def test_monochrome1_is_inverted(self, wado):
        item = wado.stored["monochrome1"]
        got = image(get(wado, f"{item.path}/rendered", "image/png"))
        assert got[0, 0] > 250 and got[0, -1] < 5  # the ramp rises: white becomes black

    def test_colour_is_rgb(self, wado):
        for name in ("SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
            item = wado.stored[name]
            got = image(get(wado, f"{item.path}/rendered", "image/png"))
            expected = dataset(item).pixel_array  # pydicom converts YBR to RGB
            assert got.shape == expected.shape
            assert np.abs(got.astype(int) - expected.astype(int)).mean() < 3

    def test_palette_colour(self, wado):
        """PALETTE COLOR goes through its lookup tables (PS3.3 C.7.6.3.1.5)."""
        item = wado.stored["palette"]
        got = image(get(wado, f"{item.path}/rendered", "image/png"))
        assert got.shape == (SIZE, SIZE, 3)
        assert got[0, 3].tolist() == [24, 255 - 24, 0]

    def test_native_ybr_is_converted_once(self, wado):
        item = wado.stored["ybr"]
        got = image(get(wado, f"{item.path}/rendered", "image/png"))
        assert np.abs(got[5, 5].astype(int) - [200, 40, 90]).max() <= 2

    def test_multiframe_as_animated_gif(self, wado):
        item = wado.stored["rle"]
        r = get(wado, f"{item.path}/rendered", "image/gif")
        picture = Image.open(io.BytesIO(r.content))
        assert picture.format == "GIF"
        assert picture.n_frames == FRAMES

    def test_jpeg_with_quality_and_viewport(self, wado, client):
        item = wado.stored["CT_small.dcm"]
        small = client.retrieve_instance_rendered(
            item.study, item.series, item.sop, params={"viewport": "64,32", "quality": "20"}
        )
        picture = Image.open(io.BytesIO(small))
        assert picture.format == "JPEG"
        assert picture.size == (32, 32)  # 128x128 fitted into 64x32, aspect kept
        big = client.retrieve_instance_rendered(
            item.study, item.series, item.sop, params={"viewport": "64,32", "quality": "95"}
        )
        assert len(big) > len(small)

    def test_viewport_region(self, wado):
        """sx,sy,sw,sh select a source region, scaled into vw,vh."""
        item = wado.stored["monochrome1"]
        got = image(get(wado, f"{item.path}/rendered", "image/png", viewport="16,16,0,0,16,32"))
        assert got.shape == (16, 8)
        assert got[:, 0].min() > 200  # left half of an inverted rising ramp: bright

    def test_frame_rendered(self, wado, client):
        item = wado.stored["j2k"]
        jpeg = client.retrieve_instance_frames_rendered(
            item.study, item.series, item.sop, [3], media_types=("image/png",)
        )
        got = np.asarray(Image.open(io.BytesIO(jpeg)))
        values = dataset(item).pixel_array[2].astype(float) - 1024
        expected = np.clip((values - 2047.5) / 4095 + 0.5, 0, 1) * 255
        assert np.abs(got.astype(float) - np.rint(expected)).max() <= 1

    def test_series_and_study_rendered_are_one_part_per_instance(self, wado):
        item = wado.stored["native"]
        r = get(wado, f"/studies/{item.study}/series/{item.series}/rendered")
        answer = split_multipart(r.headers["content-type"], r.content)
        assert len(answer) == 6
        assert all(h["content-type"] == "image/jpeg" for h, _ in answer)
        r = get(wado, f"/studies/{item.study}/rendered", 'multipart/related; type="image/png"')
        assert len(split_multipart(r.headers["content-type"], r.content)) == 8

    @pytest.mark.parametrize(
        "params",
        [
            {"window": "1"},
            {"window": "a,b"},
            {"window": "1,0"},
            {"window": "1,2,cubic"},
            {"viewport": "0,10"},
            {"viewport": "1,2,3"},
            {"quality": "0"},
            {"quality": "x"},
            {"viewport": "10,10,500,500,10,10"},
        ],
    )
    def test_bad_parameters_are_400(self, wado, params):
        item = wado.stored["native"]
        r = get(wado, f"{item.path}/rendered", **params)
        assert r.status_code == 400, r.text

    def test_unsupported_media_type_is_406(self, wado):
        item = wado.stored["native"]
        assert get(wado, f"{item.path}/rendered", "image/tiff").status_code == 406
        assert get(wado, f"{item.path}/rendered", accept="image/tiff").status_code == 406
        assert (
            get(wado, f"{item.path}/rendered", "image/tiff", accept="image/png").status_code == 200
        )


class TestThumbnail:
    def test_levels(self, wado):
        item = wado.stored["native"]
        for path in (
            f"/studies/{item.study}/thumbnail",
            f"/studies/{item.study}/series/{item.series}/thumbnail",
            f"{item.path}/thumbnail",
            f"{item.path}/frames/2/thumbnail",
        ):
            r = get(wado, path)
            assert r.status_code == 200, path
            assert r.headers["content-type"] == "image/jpeg"
            assert max(Image.open(io.BytesIO(r.content)).size) <= 128

    def test_viewport_is_honoured(self, wado):
        item = wado.stored["CT_small.dcm"]
        r = get(wado, f"{item.path}/thumbnail", viewport="40,40")
        assert Image.open(io.BytesIO(r.content)).size == (40, 40)

    def test_ohif_thumbnail_request(self, wado):
        """OHIF (thumbnailRendering "thumbnail") asks ?accept=image/jpeg through its
        bulk data call, whose Accept is multipart; the answer is one JPEG."""
        item = wado.stored["CT_small.dcm"]
        r = get(
            wado,
            f"{item.path}/thumbnail",
            'multipart/related; type="image/jpeg"',
            accept="image/jpeg",
        )
        assert r.status_code == 200
        assert r.content[:2] == b"\xff\xd8"


def test_undecodable_frame_is_406_and_its_copy_served(wado):
    """Rendered or uncompressed frames need a decoder; the stored frame does not."""
    item = wado.stored["JPEG-lossy.dcm"]
    assert get(wado, f"{item.path}/rendered").status_code == 406
    assert get(wado, f"{item.path}/frames/1", OCTET).status_code == 406
    r = get(wado, f"{item.path}/frames/1", OHIF_FRAMES)
    assert split_multipart(r.headers["content-type"], r.content)[0][1] == stored_frames(item)[0]

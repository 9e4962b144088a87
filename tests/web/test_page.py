"""The web page in headless Chromium: log in, find studies, open one, view a series,
download (plain and de-identified, DICOM and NIfTI), upload by the file picker.

Pages run against a real door over a real archive; what the page shows is read from
the DOM and the canvas, and the downloads are fetched with the page's own session.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from archive.factory import Spec, corpus, make_bytes
from medbridge.archive.accounts import add_user
from web.browser import browser
from web.conftest import WebServer, serve_archive

VOLUME = [Spec(patient_id="VOL", patient_name="Volume^Vera", study=50, number=n, size=64,
               description="HEAD", modality="CT") for n in range(1, 11)]  # fmt: skip
EXTRA = [Spec(patient_id=f"P{n:02d}", patient_name=f"Many^P{n:02d}", study=100 + n, size=8)
         for n in range(24)]  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    server = serve_archive(tmp_path_factory.mktemp("page") / "var", deid_key="page-test-key")
    for spec in [*corpus(), *VOLUME, *EXTRA]:
        server.archive.store(make_bytes(spec))
    add_user(server.archive.index, "vera", "vera-password", "viewer")
    add_user(server.archive.index, "ulla", "ulla-password", "uploader")
    yield server
    server.door.stop()
    server.archive.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser() as launched:
        yield launched


def open_page(chromium, site: WebServer, user: str = "vera"):  # type: ignore[no-untyped-def]
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{site.base}/")
    page.wait_for_selector("#login-form", state="visible")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"{user}-password")
    page.click("#login-form button")
    page.wait_for_selector("#studies tbody tr")
    return page


def rows(page) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(
        "#studies tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))"
    )


def fetch_bytes(page, url: str) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    """GET `url` from inside the page (its cookies), as (status, body)."""
    status, b64 = page.evaluate(
        """async (url) => {
            const r = await fetch(url);
            const bytes = new Uint8Array(await r.arrayBuffer());
            let s = ""; for (const b of bytes) s += String.fromCharCode(b);
            return [r.status, btoa(s)];
        }""",
        url,
    )
    return status, base64.b64decode(b64)


def test_login_refuses_a_wrong_password(chromium, site) -> None:
    page = chromium.new_page()
    page.goto(f"{site.base}/")
    page.fill("input[name=username]", "vera")
    page.fill("input[name=password]", "wrong-password")
    page.click("#login-form button")
    page.wait_for_function("document.querySelector('#login-error').textContent.length > 0")
    assert "Wrong user name or password" in page.inner_text("#login-error")
    assert page.is_hidden("#search-view")
    page.close()


def test_search_and_paging(chromium, site) -> None:
    page = open_page(chromium, site)
    assert page.inner_text("#who") == "vera (read)"
    total = len(corpus_studies()) + 1 + len(EXTRA)
    assert page.inner_text("#page-info") == f"1-25 of {total}"
    assert len(rows(page)) == 25
    page.click("#next")
    page.wait_for_function("document.querySelector('#page-info').textContent.startsWith('26-')")
    assert len(rows(page)) == total - 25
    page.fill("input[name=PatientName]", "smith")
    page.click("#search-form button")
    page.wait_for_function("document.querySelector('#page-info').textContent === '1-2 of 2'")
    assert sorted(r[1] for r in rows(page)) == ["PAT2", "PAT3"]
    page.fill("input[name=PatientName]", "")
    page.select_option("select[name=ModalitiesInStudy]", "MR")
    page.click("#search-form button")
    page.wait_for_function("document.querySelector('#page-info').textContent === '1-1 of 1'")
    assert rows(page)[0][4] == "BRAIN"
    page.close()


def corpus_studies() -> set[str]:
    return {s.study_uid for s in corpus()}


def test_study_page_viewer_and_window(chromium, site) -> None:
    page = open_page(chromium, site)
    page.goto(f"{site.base}/#/study/{VOLUME[0].study_uid}")
    page.wait_for_selector("#series li img")
    assert "Volume, Vera" in page.inner_text("#study-title")
    page.wait_for_function("document.querySelector('#series li img').naturalWidth > 0")
    assert "VOL" in page.inner_text("#study-attributes")
    page.click("#series li img")
    page.wait_for_selector("#stage[data-slice]")
    assert page.get_attribute("#stage", "data-slice") == "6"  # the middle of 10
    assert "Im: 6 / 10" in page.inner_text("#overlay-br")
    lit = page.evaluate(
        """() => { const c = document.querySelector('#canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++;
                   return n; }"""
    )
    assert lit > 1000  # the slice is drawn, not a black stage
    page.mouse.move(640, 450)
    page.mouse.wheel(0, 120)
    page.wait_for_function("document.querySelector('#stage').dataset.slice === '7'")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("document.querySelector('#stage').dataset.slice === '5'")
    page.select_option("#presets", index=1)  # CT "Lung"
    page.wait_for_function("document.querySelector('#stage').dataset.window === '-600/1500'")
    box = page.locator("#stage").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 400, box["y"] + 260, steps=4)
    page.mouse.up()
    assert page.get_attribute("#stage", "data-window") != "-600/1500"
    assert "Pos: 0.0, 0.0, 5.0 mm" in page.inner_text("#overlay-br")
    page.screenshot(path=str(Path(site.data_dir).parent / "viewer.png"))
    page.close()


def test_downloads(chromium, site) -> None:
    page = open_page(chromium, site)
    study = Spec(study=3).study_uid
    status, body = fetch_bytes(page, f"/api/studies/{study}/download")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = z.namelist()
        assert len(names) == 4
        first = dcmread(io.BytesIO(z.read(names[0])))
        assert first.PatientName == "Smith^John"
    status, body = fetch_bytes(page, f"/api/studies/{study}/download?deidentify=true")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        deid = [dcmread(io.BytesIO(z.read(n))) for n in z.namelist()]
    assert len(deid) == 4
    assert all(ds.PatientName != "Smith^John" and ds.StudyInstanceUID != study for ds in deid)
    series = VOLUME[0].series_uid
    status, body = fetch_bytes(page, f"/api/studies/{VOLUME[0].study_uid}/series/{series}/nifti")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        kinds = sorted(Path(n).suffix for n in z.namelist())
    assert kinds == [".gz", ".json"]
    status, _ = fetch_bytes(page, "/api/studies/1.2.3.4/download")
    assert status == 404
    page.close()


def test_upload_by_the_file_picker(chromium, site, tmp_path) -> None:
    spec = Spec(patient_id="UP1", patient_name="Upload^Una", study=300, size=16)
    good = tmp_path / "good.dcm"
    good.write_bytes(make_bytes(spec))
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    page = open_page(chromium, site, "ulla")
    page.set_input_files("#upload-files", [str(good), str(bad)])
    page.wait_for_function(
        "document.querySelector('#upload-status').textContent.endsWith('of 2 files')"
    )
    assert page.inner_text("#upload-status") == "stored 1, failed 1 of 2 files"
    assert site.archive.read(spec.sop_uid) == make_bytes(spec)
    page.close()
    # a viewer may look but not store
    page = open_page(chromium, site, "vera")
    other = tmp_path / "other.dcm"
    other.write_bytes(make_bytes(Spec(patient_id="UP2", study=301, size=16)))
    page.set_input_files("#upload-files", [str(other)])
    page.wait_for_function("!document.querySelector('#error').hidden")
    assert "403" in page.inner_text("#error")
    page.close()

// The page: log in, find studies, look at one, view a series, upload and download.
// Views are sections of index.html switched by the location hash:
//   #/                  studies (search, paging, upload)
//   #/study/UID         one study: attributes, series thumbnails, downloads
//   #/view/STUDY/SERIES the viewer

import * as api from "./api.js";
import { Viewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const PAGE = 25;
const VIEWS = ["login-view", "search-view", "study-view", "viewer-view"];
let offset = 0;
let user = null;

function showView(id) {
  for (const view of VIEWS) $(view).hidden = view !== id;
}

function showError(err) {
  const box = $("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
  if (err && err.status === 401) start();
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

// -- search ------------------------------------------------------------------------------

function searchParams() {
  const form = new FormData($("search-form"));
  const params = { limit: PAGE, offset, fuzzymatching: "true",
    includefield: "StudyDescription,ModalitiesInStudy,NumberOfStudyRelatedSeries,NumberOfStudyRelatedInstances,AccessionNumber" };
  const name = form.get("PatientName").trim();
  if (name) params.PatientName = /[*?]/.test(name) ? name : `${name}*`;
  for (const key of ["PatientID", "ModalitiesInStudy", "AccessionNumber"]) {
    const v = String(form.get(key) || "").trim();
    if (v) params[key] = v;
  }
  const from = String(form.get("from") || "").replaceAll("-", "");
  const to = String(form.get("to") || "").replaceAll("-", "");
  if (from || to) params.StudyDate = `${from}-${to}`;
  return params;
}

async function search() {
  const { items, total } = await api.qido("/studies", searchParams());
  const body = $("studies").querySelector("tbody");
  body.innerHTML = "";
  for (const ds of items) {
    const tr = document.createElement("tr");
    const uid = api.value(ds, "StudyInstanceUID");
    tr.dataset.uid = uid;
    tr.append(
      cell(api.personName(api.value(ds, "PatientName"))),
      cell(api.value(ds, "PatientID")),
      cell(api.dicomDate(api.value(ds, "StudyDate"))),
      cell(api.values(ds, "ModalitiesInStudy").join(", ")),
      cell(api.value(ds, "StudyDescription")),
      cell(api.value(ds, "AccessionNumber")),
      cell(api.value(ds, "NumberOfStudyRelatedSeries")),
      cell(api.value(ds, "NumberOfStudyRelatedInstances")),
    );
    tr.onclick = () => { location.hash = `#/study/${uid}`; };
    body.append(tr);
  }
  const last = Math.min(offset + items.length, total);
  $("page-info").textContent = total ? `${offset + 1}-${last} of ${total}` : "no studies";
  $("prev").disabled = offset === 0;
  $("next").disabled = last >= total;
}

// -- upload ------------------------------------------------------------------------------

async function filesOf(entry) {
  if (entry.isFile) return [await new Promise((ok, ko) => entry.file(ok, ko))];
  const reader = entry.createReader();
  const found = [];
  for (;;) {
    const batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
    if (!batch.length) break;
    for (const child of batch) found.push(...await filesOf(child));
  }
  return found;
}

async function upload(files) {
  if (!files.length) return;
  const bar = $("upload-progress");
  const status = $("upload-status");
  bar.hidden = false;
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0; let stored = 0; let failed = 0;
  for (let i = 0; i < files.length; i += 20) {
    const batch = files.slice(i, i + 20);
    const size = batch.reduce((n, f) => n + f.size, 0);
    try {
      const answer = await api.stow(batch, (sent) => { bar.value = (done + Math.min(sent, size)) / total; });
      stored += answer.stored; failed += answer.failed;
    } catch (err) {
      failed += batch.length;
      showError(err);
    }
    done += size;
    bar.value = done / total;
    status.textContent = `stored ${stored}, failed ${failed} of ${files.length}`;
  }
  status.textContent = `stored ${stored}, failed ${failed} of ${files.length} files`;
  await search();
}

function bindUpload() {
  const zone = $("upload");
  zone.ondragover = (e) => { e.preventDefault(); zone.classList.add("over"); };
  zone.ondragleave = () => zone.classList.remove("over");
  zone.ondrop = async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const entries = [...e.dataTransfer.items].map((item) => item.webkitGetAsEntry()).filter(Boolean);
    const files = [];
    for (const entry of entries) files.push(...await filesOf(entry));
    await upload(files).catch(showError);
  };
  for (const id of ["upload-files", "upload-folder"]) {
    $(id).onchange = (e) => upload([...e.target.files]).catch(showError);
  }
}

// -- study -------------------------------------------------------------------------------

function downloadLinks(study) {
  const deid = $("deidentify").checked ? "?deidentify=true" : "";
  $("download-study").href = `/api/studies/${study}/download${deid}`;
  for (const a of document.querySelectorAll("a[data-nifti]")) {
    a.href = `/api/studies/${study}/series/${a.dataset.nifti}/nifti${deid}`;
  }
}

async function showStudy(study) {
  showView("study-view");
  const { items } = await api.qido("/studies", { StudyInstanceUID: study, includefield: "all" });
  if (!items.length) throw new Error(`study ${study} is not in the archive`);
  const ds = items[0];
  $("study-title").textContent =
    `${api.personName(api.value(ds, "PatientName"))} — ${api.value(ds, "StudyDescription") || "study"}`;
  const attrs = $("study-attributes");
  attrs.innerHTML = "";
  const rows = [
    ["Patient ID", api.value(ds, "PatientID")],
    ["Birth date", api.dicomDate(api.value(ds, "PatientBirthDate"))],
    ["Sex", api.value(ds, "PatientSex")],
    ["Study date", `${api.dicomDate(api.value(ds, "StudyDate"))} ${api.value(ds, "StudyTime")}`],
    ["Accession", api.value(ds, "AccessionNumber")],
    ["Referring", api.personName(api.value(ds, "ReferringPhysicianName"))],
    ["Modalities", api.values(ds, "ModalitiesInStudy").join(", ")],
    ["Series / images", `${api.value(ds, "NumberOfStudyRelatedSeries")} / ${api.value(ds, "NumberOfStudyRelatedInstances")}`],
    ["Study UID", study],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    attrs.append(dt, dd);
  }
  const { items: series } = await api.qido(`/studies/${study}/series`, {
    includefield: "SeriesDescription,NumberOfSeriesRelatedInstances,BodyPartExamined" });
  series.sort((a, b) => Number(api.value(a, "SeriesNumber", 0)) - Number(api.value(b, "SeriesNumber", 0)));
  const list = $("series");
  list.innerHTML = "";
  for (const s of series) {
    const uid = api.value(s, "SeriesInstanceUID");
    const li = document.createElement("li");
    li.dataset.uid = uid;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = `series ${api.value(s, "SeriesNumber")}`;
    img.src = `${api.DICOMWEB}/studies/${study}/series/${uid}/thumbnail?viewport=192,192`;
    img.onclick = () => { location.hash = `#/view/${study}/${uid}`; };
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `#${api.value(s, "SeriesNumber")} ${api.value(s, "Modality")} ` +
      `${api.value(s, "SeriesDescription")} (${api.value(s, "NumberOfSeriesRelatedInstances")})`;
    const actions = document.createElement("div");
    actions.className = "actions";
    const view = document.createElement("a");
    view.className = "button"; view.textContent = "View"; view.href = `#/view/${study}/${uid}`;
    const nifti = document.createElement("a");
    nifti.className = "button"; nifti.textContent = "NIfTI"; nifti.dataset.nifti = uid;
    actions.append(view, nifti);
    li.append(img, meta, actions);
    list.append(li);
  }
  $("deidentify").onchange = () => downloadLinks(study);
  downloadLinks(study);
}

// -- viewer ------------------------------------------------------------------------------

async function showViewer(study, series) {
  showView("viewer-view");
  $("back-to-study").href = `#/study/${study}`;
  const response = await api.request(`${api.DICOMWEB}/studies/${study}/series/${series}/metadata`, {
    headers: { Accept: "application/dicom+json" },
  });
  const metadata = await response.json();
  if (!metadata.length) throw new Error(`series ${series} has no instances`);
  $("series-title").textContent =
    `${api.value(metadata[0], "Modality")} ${api.value(metadata[0], "SeriesDescription")}`;
  $("stage").focus();
  return new Viewer({
    stage: $("stage"), canvas: $("canvas"), slider: $("slider"), presets: $("presets"),
    overlayTL: $("overlay-tl"), overlayBR: $("overlay-br"),
  }, study, series, metadata);
}

// -- routing and login -------------------------------------------------------------------

async function route() {
  showError(null);
  if (!user) return;
  const [, kind, a, b] = location.hash.split("/");
  try {
    if (kind === "study" && a) await showStudy(a);
    else if (kind === "view" && a && b) await showViewer(a, b);
    else { showView("search-view"); await search(); }
  } catch (err) {
    showError(err);
  }
}

async function start() {
  user = await api.me();
  $("logout").hidden = !user || user.user === "anonymous";
  $("who").textContent = user ? `${user.user} (${user.role})` : "";
  if (!user) { showView("login-view"); return; }
  await route();
}

function bind() {
  $("login-form").onsubmit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      await api.login(form.get("username"), form.get("password"));
      $("login-error").textContent = "";
      await start();
    } catch (err) {
      $("login-error").textContent = err.status === 401 ? "Wrong user name or password." : err.message;
    }
  };
  $("logout").onclick = async () => { await api.logout(); user = null; await start(); };
  $("search-form").onsubmit = (e) => {
    e.preventDefault();
    offset = 0;
    showError(null);
    search().catch(showError);
  };
  $("prev").onclick = () => { offset = Math.max(0, offset - PAGE); search().catch(showError); };
  $("next").onclick = () => { offset += PAGE; search().catch(showError); };
  bindUpload();
  window.addEventListener("hashchange", route);
}

bind();
start().catch(showError);

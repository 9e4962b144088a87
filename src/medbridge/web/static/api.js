// Talking to the archive: DICOMweb and the page's own routes, with the session cookie.
// Requests that change something carry the session's CSRF token (cookie medbridge_csrf).

export const DICOMWEB = "/dicom-web";

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)medbridge_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function request(url, { method = "GET", headers = {}, body } = {}) {
  const h = { ...headers };
  if (method !== "GET" && method !== "HEAD") h["X-CSRF-Token"] = csrfToken();
  const response = await fetch(url, { method, headers: h, body, credentials: "same-origin" });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const data = await response.json();
      detail = data.detail || (data.issue && data.issue[0].diagnostics) || detail;
    } catch (_) { /* not JSON */ }
    throw new HttpError(response.status, `${response.status}: ${detail}`);
  }
  return response;
}

export async function me() {
  try {
    return await (await request("/api/me")).json();
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  return (await request("/login", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body,
  })).json();
}

export async function logout() {
  await request("/logout", { method: "POST" });
}

// -- DICOM JSON (PS3.18 F.2) -------------------------------------------------------------

export const TAG = {
  PatientName: "00100010", PatientID: "00100020", PatientBirthDate: "00100030",
  PatientSex: "00100040", StudyDate: "00080020", StudyTime: "00080030",
  AccessionNumber: "00080050", ModalitiesInStudy: "00080061", Modality: "00080060",
  StudyDescription: "00081030", SeriesDescription: "0008103E", StudyInstanceUID: "0020000D",
  SeriesInstanceUID: "0020000E", SOPInstanceUID: "00080018", SeriesNumber: "00200011",
  InstanceNumber: "00200013", NumberOfStudyRelatedSeries: "00201206",
  NumberOfStudyRelatedInstances: "00201208", NumberOfSeriesRelatedInstances: "00201209",
  ReferringPhysicianName: "00080090", StudyID: "00200010", BodyPartExamined: "00180015",
  Rows: "00280010", Columns: "00280011", BitsAllocated: "00280100",
  PixelRepresentation: "00280103", RescaleSlope: "00281053", RescaleIntercept: "00281052",
  WindowCenter: "00281050", WindowWidth: "00281051", PhotometricInterpretation: "00280004",
  SamplesPerPixel: "00280002", NumberOfFrames: "00280008", ImagePositionPatient: "00200032",
  ImageOrientationPatient: "00200037", SliceLocation: "00201041", PixelSpacing: "00280030",
};

export function values(ds, keyword) {
  const element = ds[TAG[keyword]];
  return element && element.Value ? element.Value : [];
}

export function value(ds, keyword, fallback = "") {
  const v = values(ds, keyword)[0];
  if (v === undefined || v === null) return fallback;
  if (typeof v === "object" && "Alphabetic" in v) return v.Alphabetic;
  return v;
}

export function personName(pn) {
  return String(pn || "").replace(/\^+$/, "").replace(/\^/g, ", ").replace(/, , /g, ", ");
}

export function dicomDate(da) {
  return da && da.length === 8 ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6)}` : da || "";
}

export async function qido(path, params) {
  const query = new URLSearchParams(params);
  const response = await request(`${DICOMWEB}${path}?${query}`, {
    headers: { Accept: "application/dicom+json" },
  });
  const total = Number(response.headers.get("X-Total-Count") || "0");
  const text = await response.text();
  return { items: text ? JSON.parse(text) : [], total };
}

// -- multipart/related ------------------------------------------------------------------

function indexOf(haystack, needle, from) {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The bodies of a multipart/related answer, as Uint8Array views. */
export function multipartParts(buffer, contentType) {
  const match = contentType.match(/boundary="?([^";]+)"?/i);
  if (!match) throw new Error("multipart answer without a boundary");
  const bytes = new Uint8Array(buffer);
  const enc = new TextEncoder();
  const delimiter = enc.encode(`--${match[1]}`);
  const headerEnd = enc.encode("\r\n\r\n");
  const parts = [];
  let at = indexOf(bytes, delimiter, 0);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (bytes[start] === 45 && bytes[start + 1] === 45) break; // "--": the end
    const bodyStart = indexOf(bytes, headerEnd, start) + 4;
    const next = indexOf(bytes, delimiter, bodyStart);
    if (bodyStart < 4 || next < 0) break;
    parts.push(bytes.subarray(bodyStart, next - 2)); // the CRLF before the delimiter
    at = next;
  }
  return parts;
}

/** One decoded frame (little endian, native pixels) of an instance. */
export async function frame(study, series, instance, number) {
  const url = `${DICOMWEB}/studies/${study}/series/${series}/instances/${instance}/frames/${number}`;
  const response = await request(url, {
    headers: {
      Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
    },
  });
  const parts = multipartParts(await response.arrayBuffer(), response.headers.get("Content-Type"));
  if (!parts.length) throw new Error(`frame ${number} of ${instance}: empty answer`);
  return parts[0];
}

/** STOW-RS: store files in one request; calls progress(sentBytes, totalBytes). */
export function stow(fileList, progress) {
  const boundary = `medbridge-${Math.random().toString(16).slice(2)}${Date.now()}`;
  const pieces = [];
  for (const file of fileList) {
    pieces.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, file, "\r\n");
  }
  pieces.push(`--${boundary}--\r\n`);
  const body = new Blob(pieces);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${DICOMWEB}/studies`);
    xhr.setRequestHeader("Content-Type", `multipart/related; type="application/dicom"; boundary=${boundary}`);
    xhr.setRequestHeader("Accept", "application/dicom+json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.onprogress = (e) => progress(e.loaded, e.total);
    xhr.onerror = () => reject(new Error("the upload was interrupted"));
    xhr.onload = () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText || "{}"); } catch (_) { /* no body */ }
      const stored = ((answer["00081199"] || {}).Value || []).length;
      const failed = ((answer["00081198"] || {}).Value || []).length;
      if (xhr.status >= 400 && xhr.status !== 409) {
        reject(new HttpError(xhr.status, `${xhr.status}: ${answer.detail || xhr.statusText}`));
      } else {
        resolve({ stored, failed });
      }
    };
    xhr.send(body);
  });
}

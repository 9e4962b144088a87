// The slice viewer: WADO-RS frames decoded to native pixels, windowed in the page.
// Modality LUT (rescale), VOI window (linear, PS3.3 C.11.2.1.2), MONOCHROME1 inverted,
// RGB shown as is; zoom and pan by a canvas transform; pixel aspect from PixelSpacing.

import { TAG, frame, value, values } from "./api.js";

const PRESETS = {
  CT: [["Soft tissue", 40, 400], ["Lung", -600, 1500], ["Bone", 400, 1800],
       ["Brain", 40, 80], ["Abdomen", 60, 400], ["Mediastinum", 50, 350]],
  PT: [["SUV 0-5", 2.5, 5], ["SUV 0-10", 5, 10]],
};

function numberOf(ds, keyword, fallback) {
  const v = values(ds, keyword)[0];
  return v === undefined ? fallback : Number(v);
}

/** The slices of a series' metadata: each instance's frames, ordered along the normal. */
export function slicesOf(metadata) {
  const slices = [];
  for (const ds of metadata) {
    const frames = numberOf(ds, "NumberOfFrames", 1);
    for (let f = 1; f <= frames; f++) slices.push({ ds, frame: f });
  }
  const key = (s) => {
    const pos = values(s.ds, "ImagePositionPatient").map(Number);
    const ori = values(s.ds, "ImageOrientationPatient").map(Number);
    if (pos.length === 3 && ori.length === 6) {
      const n = [ori[1] * ori[5] - ori[2] * ori[4], ori[2] * ori[3] - ori[0] * ori[5],
                 ori[0] * ori[4] - ori[1] * ori[3]];
      return pos[0] * n[0] + pos[1] * n[1] + pos[2] * n[2];
    }
    return numberOf(s.ds, "InstanceNumber", 0) * 1e6 + s.frame;
  };
  slices.sort((a, b) => key(a) - key(b) || a.frame - b.frame);
  return slices;
}

export class Viewer {
  constructor(elements, study, series, metadata) {
    Object.assign(this, elements); // stage, canvas, slider, presets, overlayTL, overlayBR
    this.study = study;
    this.series = series;
    this.slices = slicesOf(metadata);
    this.cache = new Map();
    this.index = Math.floor(this.slices.length / 2);
    this.zoom = 1;
    this.pan = [0, 0];
    this.window = null;
    this.offscreen = document.createElement("canvas");
    const first = this.slices[0].ds;
    this.modality = value(first, "Modality");
    this.fillPresets();
    this.bind();
    this.slider.min = 1;
    this.slider.max = this.slices.length;
    this.show(this.index);
  }

  fillPresets() {
    const first = this.slices[0].ds;
    const options = [];
    const c = values(first, "WindowCenter")[0];
    const w = values(first, "WindowWidth")[0];
    if (c !== undefined && w !== undefined) options.push(["From the file", Number(c), Number(w)]);
    options.push(...(PRESETS[this.modality] || []));
    options.push(["Full range", null, null]);
    this.presets.innerHTML = "";
    for (const [name, center, width] of options) {
      const opt = document.createElement("option");
      opt.textContent = center === null ? name : `${name} (${center}/${width})`;
      opt.dataset.center = center === null ? "" : center;
      opt.dataset.width = width === null ? "" : width;
      this.presets.append(opt);
    }
    this.presets.selectedIndex = 0;
    this.applyPreset();
  }

  applyPreset() {
    const opt = this.presets.selectedOptions[0];
    this.window = opt && opt.dataset.center !== "" ?
      [Number(opt.dataset.center), Number(opt.dataset.width)] : null;
    this.render();
  }

  bind() {
    this.slider.oninput = () => this.show(Number(this.slider.value) - 1);
    this.presets.onchange = () => this.applyPreset();
    this.stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (e.ctrlKey) this.setZoom(this.zoom * (e.deltaY < 0 ? 1.15 : 1 / 1.15));
      else this.show(this.index + Math.sign(e.deltaY));
    }, { passive: false });
    this.stage.onkeydown = (e) => {
      const steps = { ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1,
                      PageUp: -10, PageDown: 10 };
      if (e.key in steps) this.show(this.index + steps[e.key]);
      else if (e.key === "Home") this.show(0);
      else if (e.key === "End") this.show(this.slices.length - 1);
      else if (e.key === "+" || e.key === "=") this.setZoom(this.zoom * 1.25);
      else if (e.key === "-") this.setZoom(this.zoom / 1.25);
      else if (e.key === "r") this.reset();
      else return;
      e.preventDefault();
    };
    let drag = null;
    this.stage.onpointerdown = (e) => {
      this.stage.focus();
      this.stage.setPointerCapture(e.pointerId);
      const panning = e.shiftKey || e.button === 1;
      drag = { x: e.clientX, y: e.clientY, panning, pan: [...this.pan],
               window: this.window || this.range() };
    };
    this.stage.onpointermove = (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (drag.panning) {
        this.pan = [drag.pan[0] + dx, drag.pan[1] + dy];
      } else {
        const scale = Math.max(drag.window[1], 1) / 300;
        this.window = [drag.window[0] + dy * scale, Math.max(1, drag.window[1] + dx * scale)];
      }
      this.render();
    };
    this.stage.onpointerup = () => { drag = null; };
    new ResizeObserver(() => this.render()).observe(this.stage);
  }

  reset() {
    this.zoom = 1;
    this.pan = [0, 0];
    this.presets.selectedIndex = 0;
    this.applyPreset();
  }

  setZoom(zoom) {
    this.zoom = Math.min(40, Math.max(0.05, zoom));
    this.render();
  }

  async pixels(i) {
    if (!this.cache.has(i)) {
      const s = this.slices[i];
      const sop = value(s.ds, "SOPInstanceUID");
      this.cache.set(i, frame(this.study, this.series, sop, s.frame).then((bytes) => ({
        bytes, ds: s.ds,
      })));
    }
    return this.cache.get(i);
  }

  async show(i) {
    this.index = Math.max(0, Math.min(this.slices.length - 1, i));
    this.slider.value = this.index + 1;
    const wanted = this.index;
    const data = await this.pixels(wanted);
    for (const near of [wanted + 1, wanted - 1]) {
      if (near >= 0 && near < this.slices.length) this.pixels(near);
    }
    if (wanted !== this.index) return; // the user moved on meanwhile
    this.current = data;
    this.stage.dataset.slice = String(this.index + 1);
    this.render();
  }

  typed(data) {
    const ds = data.ds;
    const bits = numberOf(ds, "BitsAllocated", 16);
    const signed = numberOf(ds, "PixelRepresentation", 0) === 1;
    const { buffer, byteOffset, byteLength } = data.bytes;
    const copy = buffer.slice(byteOffset, byteOffset + byteLength);
    if (bits === 8) return signed ? new Int8Array(copy) : new Uint8Array(copy);
    if (bits === 32) return signed ? new Int32Array(copy) : new Uint32Array(copy);
    return signed ? new Int16Array(copy) : new Uint16Array(copy);
  }

  range() {
    if (!this.current) return [0, 1];
    if (!this.current.range) {
      const px = this.typed(this.current);
      const slope = numberOf(this.current.ds, "RescaleSlope", 1);
      const intercept = numberOf(this.current.ds, "RescaleIntercept", 0);
      let lo = Infinity; let hi = -Infinity;
      for (let k = 0; k < px.length; k++) { if (px[k] < lo) lo = px[k]; if (px[k] > hi) hi = px[k]; }
      const a = lo * slope + intercept; const b = hi * slope + intercept;
      this.current.range = [(a + b) / 2, Math.max(1, b - a)];
    }
    return this.current.range;
  }

  render() {
    if (!this.current) return;
    const ds = this.current.ds;
    const rows = numberOf(ds, "Rows", 0);
    const cols = numberOf(ds, "Columns", 0);
    const samples = numberOf(ds, "SamplesPerPixel", 1);
    const photometric = value(ds, "PhotometricInterpretation", "MONOCHROME2");
    const image = new ImageData(cols, rows);
    const out = image.data;
    const px = this.typed(this.current);
    const [center, width] = this.window || this.range();
    if (samples === 3) {
      for (let k = 0, j = 0; k < rows * cols; k++, j += 3) {
        out[4 * k] = px[j]; out[4 * k + 1] = px[j + 1]; out[4 * k + 2] = px[j + 2]; out[4 * k + 3] = 255;
      }
    } else {
      const slope = numberOf(ds, "RescaleSlope", 1);
      const intercept = numberOf(ds, "RescaleIntercept", 0);
      const low = center - 0.5 - (width - 1) / 2;
      const span = Math.max(width - 1, 1);
      const invert = photometric === "MONOCHROME1";
      for (let k = 0; k < rows * cols; k++) {
        let g = ((px[k] * slope + intercept - low) / span) * 255;
        g = g < 0 ? 0 : g > 255 ? 255 : g;
        if (invert) g = 255 - g;
        out[4 * k] = out[4 * k + 1] = out[4 * k + 2] = g;
        out[4 * k + 3] = 255;
      }
    }
    this.offscreen.width = cols;
    this.offscreen.height = rows;
    this.offscreen.getContext("2d").putImageData(image, 0, 0);
    const spacing = values(ds, "PixelSpacing").map(Number);
    const aspect = spacing.length === 2 && spacing[1] > 0 ? spacing[0] / spacing[1] : 1;
    const W = this.stage.clientWidth; const H = this.stage.clientHeight;
    this.canvas.width = W;
    this.canvas.height = H;
    const fit = Math.min(W / cols, H / (rows * aspect)) * this.zoom;
    const ctx = this.canvas.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = fit < 2;
    const w = cols * fit; const h = rows * aspect * fit;
    ctx.drawImage(this.offscreen, (W - w) / 2 + this.pan[0], (H - h) / 2 + this.pan[1], w, h);
    this.overlay(center, width, fit);
  }

  overlay(center, width, fit) {
    const ds = this.current.ds;
    const pos = values(ds, "ImagePositionPatient").map(Number);
    const location = values(ds, "SliceLocation")[0];
    const where = pos.length === 3 ? `Pos: ${pos.map((v) => v.toFixed(1)).join(", ")} mm` :
      location !== undefined ? `Loc: ${Number(location).toFixed(1)} mm` : "";
    const number = value(ds, "InstanceNumber", "?");
    this.overlayTL.textContent = `${value(ds, "Modality")}  ${value(ds, "SeriesDescription")}`;
    this.overlayBR.textContent = [
      `Im: ${this.index + 1} / ${this.slices.length}  (#${number})`,
      where,
      `W: ${Math.round(width)}  L: ${Math.round(center)}`,
      `Zoom: ${Math.round(fit * 100)}%`,
    ].filter(Boolean).join("\n");
    this.stage.dataset.window = `${Math.round(center)}/${Math.round(width)}`;
  }
}

export { TAG };

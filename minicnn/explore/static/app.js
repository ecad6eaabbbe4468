// minicnn explore: the page. Plain JavaScript, no build step, no library.
//
// Every view has its own URL (the part after #), so a teacher can link to it:
//   #/image/test/1234             the image and its layers
//   #/image/test/1234/guided      an explanation of it (saliency, guided, deconv, smoothgrad,
//                                 gradcam, occlusion), options after "?": target, rule, randomized
//   #/unit/conv4/17               one unit, on the current image
//   #/classmodel/cat              a class model (or a unit: #/classmodel/conv4:17)
// The server computes everything; this file fetches, draws and routes.
"use strict";

const $ = (id) => document.getElementById(id);
const PIXELS = 8;                              // screen pixels per image pixel on the stage
const state = {
  info: null,
  image: { source: "test", id: "0" },         // the current image
  view: "layers",
  unit: null,                                  // {layer, channel}
  method: "guided", rule: "guided", target: "", randomized: "",
  occlusion: { y: 12, x: 12, size: 8, dragging: false, busy: false, pending: false },
  stream: null,                                // the class model's EventSource
  overlayBox: null,                            // [y0, y1, x0, x1] drawn on the stage
};

// ---------------------------------------------------------------- fetching

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({ error: `bad answer from ${url}` }));
  if (!response.ok) throw new Error(body.error || `${response.status} from ${url}`);
  return body;
}

function status(text, isError = false) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

function report(error) { status(error.message, true); }

function imagePath(image = state.image) { return `${image.source}/${image.id}`; }

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

// ---------------------------------------------------------------- routing

function parseHash() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent),
           params: new URLSearchParams(search || "") };
}

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function explainHash() {
  return `#/image/${imagePath()}/${state.method}` +
    query({ target: state.target, rule: state.method === "smoothgrad" ? state.rule : "",
            randomized: state.randomized });
}

async function route() {
  const { parts, params } = parseHash();
  delete document.body.dataset.route;       // set again when the view has been drawn
  try {
    if (parts[0] === "image" && parts.length >= 3) {
      await setImage({ source: parts[1], id: parts[2] });
      if (parts[3]) {
        state.method = parts[3];
        state.target = params.get("target") || "";
        state.randomized = params.get("randomized") || "";
        state.rule = METHOD_RULE[state.method] || params.get("rule") || state.rule;
        show("explain");
        await renderExplain();
      } else {
        show("layers");
        await renderLayers();
      }
    } else if (parts[0] === "unit" && parts.length === 3) {
      await setImage(state.image);
      state.unit = { layer: parts[1], channel: Number(parts[2]) };
      show("unit");
      await renderUnit();
    } else if (parts[0] === "classmodel") {
      await setImage(state.image);
      show("classmodel");
      setClassModelTarget(parts[1] || "0");
    } else {
      go(`#/image/${imagePath()}`);
    }
    status("");
  } catch (error) { report(error); }
  document.body.dataset.route = location.hash;
}

function show(view) {
  state.view = view;
  for (const name of ["layers", "unit", "explain", "classmodel"]) {
    $(`view-${name}`).hidden = name !== view;
    $(`nav-${name}`).classList.toggle("active", name === view);
  }
  if (view !== "classmodel" && state.stream) { state.stream.close(); state.stream = null; }
  if (view !== "unit") state.overlayBox = null;      // the unit view draws its own box
  updateNav();
  drawOverlay();
}

function updateNav() {
  $("nav-layers").href = `#/image/${imagePath()}`;
  $("nav-explain").href = explainHash();
  const unit = state.unit || { layer: state.info.layers[0].name, channel: 0 };
  $("nav-unit").href = `#/unit/${unit.layer}/${unit.channel}`;
}

// ---------------------------------------------------------------- the image and its classes

async function setImage(image) {
  const same = image.source === state.image.source && image.id === state.image.id;
  state.image = image;
  if (same && $("bars").childElementCount) return;
  $("current").src = `/api/image/${imagePath()}.png`;
  const p = await getJSON(`/api/predict/${imagePath()}`);
  state.prediction = p;
  $("caption").textContent = (image.source === "test" ? `test image ${image.id}` : "your upload") +
    (p.label ? `, ${/^[aeiou]/.test(p.label) ? "an" : "a"} ${p.label}` : "") + `: the net says ${p.predicted}`;
  const bars = $("bars");
  bars.replaceChildren();
  p.probabilities.forEach((prob, k) => {
    const row = document.createElement("div");
    row.className = "bar" + (p.classes[k] === p.label ? " label" : "");
    row.dataset.class = p.classes[k];
    row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="p"></span>`;
    row.querySelector(".name").textContent = p.classes[k];
    row.querySelector(".fill").style.width = `${(100 * prob).toFixed(1)}%`;
    row.querySelector(".p").textContent = prob.toFixed(3);
    bars.append(row);
  });
  if (image.source === "test") $("index-input").value = image.id;
  for (const t of $("thumbs").children) t.classList.toggle("current", image.source === "test" && t.dataset.id === image.id);
  state.overlayBox = null;
  drawOverlay();
  updateNav();
}

function pickImage(image) {
  // Layers and explanations name their image in the URL; the unit and class-model views keep theirs.
  if (state.view === "layers") go(`#/image/${image.source}/${image.id}`);
  else if (state.view === "explain") { state.image = image; go(explainHash()); }
  else setImage(image).then(() => state.view === "unit" && renderUnitValue()).catch(report);
}

async function loadThumbs() {
  const cls = $("class-select").value;
  const list = await getJSON(`/api/images${query({ class: cls, count: 40 })}`);
  const thumbs = $("thumbs");
  thumbs.replaceChildren();
  for (const i of list.indices) {
    const img = document.createElement("img");
    img.src = `/api/image/test/${i}.png`;
    img.alt = `test image ${i}`;
    img.dataset.id = String(i);
    img.addEventListener("click", () => pickImage({ source: "test", id: String(i) }));
    thumbs.append(img);
  }
}

async function upload(file) {
  $("upload-error").textContent = "";
  try {
    const response = await fetch("/api/upload", { method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `upload failed (${response.status})`);
    pickImage({ source: body.source, id: body.id });
  } catch (error) {
    $("upload-error").textContent = error.message;
  }
}

function setUpPicker() {
  for (const name of state.info.classes) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    $("class-select").append(option);
  }
  $("index-input").max = state.info.images - 1;
  $("class-select").addEventListener("change", () => loadThumbs().catch(report));
  $("show-index").addEventListener("click", () => pickImage({ source: "test", id: String($("index-input").value) }));
  $("index-input").addEventListener("keydown", (e) => e.key === "Enter" && $("show-index").click());
  $("random").addEventListener("click", async () => {
    try {
      const r = await getJSON(`/api/random${query({ class: $("class-select").value })}`);
      pickImage({ source: "test", id: String(r.index) });
    } catch (error) { report(error); }
  });
  $("file").addEventListener("change", (e) => e.target.files[0] && upload(e.target.files[0]));
  const drop = $("drop");
  for (const target of [drop, $("picker")]) {
    target.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    target.addEventListener("dragleave", () => drop.classList.remove("over"));
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
    });
  }
}

// ---------------------------------------------------------------- the stage's overlay

function drawOverlay() {
  const canvas = $("overlay");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  if (state.view === "explain" && state.method === "occlusion") {
    const o = state.occlusion;
    g.fillStyle = "rgba(128, 128, 128, 0.95)";
    g.fillRect(o.x * PIXELS, o.y * PIXELS, o.size * PIXELS, o.size * PIXELS);
    g.strokeStyle = "#fff";
    g.strokeRect(o.x * PIXELS + 0.5, o.y * PIXELS + 0.5, o.size * PIXELS - 1, o.size * PIXELS - 1);
  } else if (state.overlayBox) {
    const [y0, y1, x0, x1] = state.overlayBox;
    g.lineWidth = 2;
    g.strokeStyle = "#ffde00";
    g.strokeRect(x0 * PIXELS + 1, y0 * PIXELS + 1, (x1 - x0) * PIXELS - 2, (y1 - y0) * PIXELS - 2);
  }
}

function setUpOcclusionDrag() {
  const canvas = $("overlay");
  const move = (e) => {
    const o = state.occlusion;
    const rect = canvas.getBoundingClientRect();
    const px = (e.clientX - rect.left) * 32 / rect.width, py = (e.clientY - rect.top) * 32 / rect.height;
    o.x = Math.max(0, Math.min(32 - o.size, Math.round(px - o.size / 2)));
    o.y = Math.max(0, Math.min(32 - o.size, Math.round(py - o.size / 2)));
    drawOverlay();
    requestOcclusion();
  };
  canvas.addEventListener("pointerdown", (e) => {
    if (state.view !== "explain" || state.method !== "occlusion") return;
    state.occlusion.dragging = true;
    canvas.setPointerCapture(e.pointerId);
    move(e);
  });
  canvas.addEventListener("pointermove", (e) => state.occlusion.dragging && move(e));
  canvas.addEventListener("pointerup", () => { state.occlusion.dragging = false; });
}

async function requestOcclusion() {
  // one request at a time; a move during it asks again with the latest position
  const o = state.occlusion;
  if (o.busy) { o.pending = true; return; }
  o.busy = true;
  try {
    do {
      o.pending = false;
      const r = await getJSON(`/api/occlude/${imagePath()}` + query({ target: state.target,
        y: o.y, x: o.x, size: o.size, randomized: state.randomized }));
      $("occlusion-info").textContent =
        `p(${r.class}) = ${r.probability.toFixed(3)} with the square at (y ${r.y}, x ${r.x}); ` +
        `${r.base.toFixed(3)} without it. Drag the grey square over the image.`;
      $("occlusion-info").dataset.probability = r.probability;
    } while (o.pending);
  } catch (error) { report(error); } finally { o.busy = false; }
}

// ---------------------------------------------------------------- layers

async function renderLayers() {
  const box = $("layers");
  const image = imagePath();
  const layers = state.info.layers;
  const answers = await Promise.all(layers.map((l) => getJSON(`/api/activations/${image}/${l.name}`)));
  if (image !== imagePath()) return;                       // a newer image was picked meanwhile
  box.replaceChildren();
  layers.forEach((layer, i) => box.append(layerBlock(layer, answers[i])));
}

function decode(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function layerBlock(layer, answer) {
  const [C, H, W] = answer.shape;
  const values = decode(answer.data);
  const scale = Math.max(Math.abs(answer.min), Math.abs(answer.max), 1e-12);
  const block = document.createElement("div");
  block.className = "layer";
  block.innerHTML = `<h3>${layer.name} <small>${layer.kind}, ${C} x ${H} x ${W}</small></h3>`;
  const tiles = document.createElement("div");
  tiles.className = "tiles";
  block.append(tiles);
  const paint = (canvas, at) => {            // at(i) -> index into values of cell i
    const g = canvas.getContext("2d");
    const pixels = g.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < canvas.width * canvas.height; i++) {
      const v = at(i) === null ? 0 : values[at(i)] / scale;
      const bright = Math.round(255 * Math.min(1, Math.abs(v)));
      pixels.data.set(v >= 0 ? [bright, bright, bright, 255] : [0, bright >> 1, bright, 255], 4 * i);
    }
    g.putImageData(pixels, 0, 0);
  };
  if (H > 1 || W > 1) {
    const size = Math.max(W, 24) * (W <= 8 ? 4 : W <= 16 ? 2.5 : 1.6);
    for (let c = 0; c < C; c++) {
      const canvas = document.createElement("canvas");
      canvas.width = W; canvas.height = H;
      canvas.style.width = canvas.style.height = `${Math.round(size)}px`;
      canvas.dataset.layer = layer.name; canvas.dataset.channel = c;
      canvas.title = `${layer.name} channel ${c}`;
      paint(canvas, (i) => c * H * W + i);
      const where = (e) => {
        const y = Math.min(H - 1, Math.floor(e.offsetY * H / canvas.clientHeight));
        const x = Math.min(W - 1, Math.floor(e.offsetX * W / canvas.clientWidth));
        return [y, x];
      };
      canvas.addEventListener("mousemove", (e) => {
        const [y, x] = where(e);
        hover(layer, c, y, x, values[(c * H + y) * W + x]);
      });
      canvas.addEventListener("mouseleave", unhover);
      canvas.addEventListener("click", () => go(`#/unit/${layer.name}/${c}`));
      tiles.append(canvas);
    }
  } else {                                   // a fully connected layer: one cell per unit
    const columns = Math.min(C, 32), rows = Math.ceil(C / columns);
    const canvas = document.createElement("canvas");
    canvas.width = columns; canvas.height = rows;
    canvas.style.width = `${columns * 12}px`; canvas.style.height = `${rows * 12}px`;
    canvas.dataset.layer = layer.name;
    paint(canvas, (i) => (i < C ? i : null));
    const unitAt = (e) => Math.floor(e.offsetY * rows / canvas.clientHeight) * columns +
      Math.floor(e.offsetX * columns / canvas.clientWidth);
    canvas.addEventListener("mousemove", (e) => {
      const c = unitAt(e);
      if (c < C) hover(layer, c, 0, 0, values[c], state.info.classes.length === C && layer === state.info.layers.at(-1) ? state.info.classes[c] : "");
    });
    canvas.addEventListener("mouseleave", unhover);
    canvas.addEventListener("click", (e) => unitAt(e) < C && go(`#/unit/${layer.name}/${unitAt(e)}`));
    tiles.append(canvas);
  }
  return block;
}

function hover(layer, c, y, x, value, name = "") {
  const position = layer.spatial ? ` at (y ${y}, x ${x})` : "";
  $("hover-info").textContent = `${layer.name} channel ${c}${name ? ` (${name})` : ""}${position}: ${value.toFixed(4)}`;
  const rows = layer.rf_rows[y], cols = layer.rf_cols[x];
  state.overlayBox = [rows[0], rows[1], cols[0], cols[1]];
  drawOverlay();
}

function unhover() {
  state.overlayBox = null;
  drawOverlay();
}

// ---------------------------------------------------------------- one unit

async function renderUnit() {
  const { layer, channel } = state.unit;
  const u = await getJSON(`/api/unit/${layer}/${channel}`);
  const base = `/api/unit/${layer}/${channel}`;
  $("unit-title").textContent = `${layer}, channel ${channel}`;
  $("unit-top9").src = `${base}/top9.png`;
  $("unit-guided").src = `${base}/guided.png`;
  $("unit-deconv").src = `${base}/deconv.png`;
  $("unit-optimized").src = `/api/classmodel.png${query({ target: `${layer}:${channel}`, steps: 60 })}`;
  $("unit-weights-figure").hidden = !u.has_weights;
  if (u.has_weights) $("unit-weights").src = `${base}/weights.png`;
  else $("unit-weights").removeAttribute("src");
  $("unit-explain").href = `#/image/${imagePath()}/guided${query({ target: `${layer}:${channel}` })}`;
  const list = $("unit-list");
  list.replaceChildren();
  for (const t of u.top) {
    const item = document.createElement("li");
    item.textContent = `test image ${t.index} (${t.label}): ${t.value.toFixed(3)} at (y ${t.y}, x ${t.x})`;
    list.append(item);
  }
  state.unitTop = u.top;
  const channels = state.info.layers.find((l) => l.name === layer).shape[0];
  $("unit-prev").disabled = channel <= 0;
  $("unit-next").disabled = channel >= channels - 1;
  await renderUnitValue();
}

async function renderUnitValue() {
  const { layer, channel } = state.unit;
  const v = await getJSON(`/api/unit/${layer}/${channel}/value/${imagePath()}`);
  const spatial = state.info.layers.find((l) => l.name === layer).spatial;
  $("unit-value").textContent = `on the current image: ${v.value.toFixed(4)}` +
    (spatial ? ` at its maximum, (y ${v.y}, x ${v.x}) (the yellow box); mean over positions ${v.mean.toFixed(4)}` : "");
  $("unit-value").dataset.value = v.value;
  state.overlayBox = spatial ? v.box : null;
  drawOverlay();
}

function setUpUnit() {
  const step = (d) => state.unit && go(`#/unit/${state.unit.layer}/${state.unit.channel + d}`);
  $("unit-prev").addEventListener("click", () => step(-1));
  $("unit-next").addEventListener("click", () => step(1));
  $("unit-top9").addEventListener("click", (e) => {   // the 3x3 mosaic: which cell?
    const img = e.currentTarget;
    const j = Math.floor(e.offsetY * 3 / img.clientHeight) * 3 + Math.floor(e.offsetX * 3 / img.clientWidth);
    if (state.unitTop && state.unitTop[j]) pickImage({ source: "test", id: String(state.unitTop[j].index) });
  });
}

// ---------------------------------------------------------------- explain

const RULE_METHOD = { normal: "saliency", guided: "guided", deconv: "deconv" };
const METHOD_RULE = { saliency: "normal", guided: "guided", deconv: "deconv" };
const METHOD_NAMES = { saliency: "saliency", guided: "guided backprop", deconv: "deconvnet",
                       smoothgrad: "SmoothGrad", gradcam: "Grad-CAM", occlusion: "occlusion",
                       lrp: "LRP", integrated_gradients: "Integrated Gradients" };

function setUpExplain() {
  for (const m of state.info.methods) {
    const b = document.createElement("button");
    b.textContent = METHOD_NAMES[m] || m;
    b.dataset.method = m;
    b.addEventListener("click", () => {
      state.method = m;
      state.rule = METHOD_RULE[m] || state.rule;
      go(explainHash());
    });
    $("methods").append(b);
  }
  for (const r of state.info.rules) {
    const b = document.createElement("button");
    b.textContent = r;
    b.dataset.rule = r;
    b.addEventListener("click", () => {
      state.rule = r;
      if (["saliency", "guided", "deconv"].includes(state.method)) state.method = RULE_METHOD[r];
      go(explainHash());
    });
    $("rules").append(b);
  }
  fillTargets($("target-select"), true);
  $("target-select").addEventListener("change", () => { $("target-unit").value = ""; state.target = $("target-select").value; go(explainHash()); });
  $("target-unit").addEventListener("change", () => { state.target = $("target-unit").value.trim(); go(explainHash()); });
  const cascade = state.info.cascade;
  $("sanity-step").max = cascade.length - 1;
  const sanity = () => {
    $("sanity-step").disabled = !$("sanity-on").checked;
    state.randomized = $("sanity-on").checked ? cascade[Number($("sanity-step").value)] : "";
    go(explainHash());
  };
  $("sanity-on").addEventListener("change", sanity);
  $("sanity-step").addEventListener("input", sanity);
}

function fillTargets(select, predicted) {
  if (predicted) select.append(new Option("the predicted class", ""));
  state.info.classes.forEach((name) => select.append(new Option(name, name)));
}

async function renderExplain() {
  const m = state.method;
  for (const b of $("methods").children) b.classList.toggle("active", b.dataset.method === m);
  const usesRule = ["saliency", "guided", "deconv", "smoothgrad"].includes(m);
  for (const b of $("rules").querySelectorAll("button")) {
    b.disabled = !usesRule;
    b.classList.toggle("active", usesRule && b.dataset.rule === state.rule);
  }
  const isUnit = state.target.includes(":");
  $("target-select").value = isUnit ? "" : state.target;
  $("target-unit").value = isUnit ? state.target : "";
  const cascade = state.info.cascade;
  $("sanity-on").checked = Boolean(state.randomized);
  $("sanity-step").disabled = !state.randomized;
  if (state.randomized) $("sanity-step").value = Math.max(1, cascade.indexOf(state.randomized));
  $("sanity-label").textContent = state.randomized ? `${state.randomized} (everything above it random too)` : "";
  const params = { target: state.target, rule: state.rule, randomized: state.randomized };
  const url = `/api/explain/${imagePath()}/${m}${query(params)}`;
  const numbers = await getJSON(url);
  $("explain-map").src = `/api/explain/${imagePath()}/${m}.png${query(params)}`;
  const what = numbers.target.class ? `class ${numbers.target.class}` :
    `${numbers.target.layer} unit ${numbers.target.unit.join(", ")}`;
  $("explain-caption").textContent = `${METHOD_NAMES[m] || m} of ${what}` +
    (usesRule ? `, ReLU rule ${numbers.rule}` : "") + (state.randomized ? ", randomised weights" : "");
  const score = numbers.score;
  const scoreText = "probability" in score ?
    `logit ${score.logit.toFixed(4)}, p = ${score.probability.toFixed(4)}` : `value ${score.value.toFixed(4)}`;
  $("explain-numbers").textContent = `${what}: ${scoreText}` +
    (m === "occlusion" ? `; the most sensitive square at (y ${numbers.min_at[0]}, x ${numbers.min_at[1]}) leaves p = ${numbers.min.toFixed(3)}` : "");
  $("explain-numbers").dataset.score = "probability" in score ? score.probability : score.value;
  $("occlusion-info").textContent = "";
  if (state.randomized && ["saliency", "guided", "deconv", "gradcam"].includes(m)) {
    const s = await getJSON(`/api/sanity/${imagePath()}${query({ method: m, target: state.target })}`);
    const k = s.steps.indexOf(state.randomized);
    $("explain-numbers").textContent += `. Spearman rank correlation with the trained model's map: ${s.similarity[k].toFixed(3)}`;
  }
  drawOverlay();
  if (m === "occlusion") requestOcclusion();
}

// ---------------------------------------------------------------- class models

const SLIDERS = [
  // key, label, min, max, step, value
  ["steps", "steps", 10, 300, 10, 120],
  ["l2", "L2 decay", 0, 0.1, 0.005, 0.03],
  ["blur", "blur (sigma)", 0, 2, 0.1, 0.8],
  ["jitter", "jitter (pixels)", 0, 6, 1, 3],
  ["clip_norm", "clip small norms (%)", 0, 50, 5, 0],
];

function setUpClassModels() {
  fillTargets($("cm-target"), false);
  for (const [key, label, min, max, step, value] of SLIDERS) {
    const row = document.createElement("label");
    row.innerHTML = `<span></span><input type="range"><output></output>`;
    row.querySelector("span").textContent = label;
    const input = row.querySelector("input");
    Object.assign(input, { min, max, step, value, id: `cm-${key}` });
    const out = row.querySelector("output");
    out.textContent = value;
    input.addEventListener("input", () => { out.textContent = input.value; });
    $("cm-sliders").append(row);
  }
  const clip = document.createElement("label");
  clip.innerHTML = `<span>clip to real pixels</span><input type="checkbox" id="cm-clip_range" checked><output></output>`;
  $("cm-sliders").append(clip);
  $("cm-run").addEventListener("click", () => {
    const target = $("cm-unit").value.trim() || $("cm-target").value;
    if (location.hash !== `#/classmodel/${target}`) go(`#/classmodel/${target}`); else runClassModel();
  });
}

function setClassModelTarget(target) {
  const isUnit = target.includes(":");
  const names = state.info.classes;
  $("cm-unit").value = isUnit ? target : "";
  $("cm-target").value = isUnit ? names[0] : (names[Number(target)] || target);
  runClassModel();
}

function runClassModel() {
  if (state.stream) state.stream.close();
  const params = { target: $("cm-unit").value.trim() || $("cm-target").value,
                   clip_range: $("cm-clip_range").checked ? 1 : 0 };
  for (const [key] of SLIDERS) params[key] = $(`cm-${key}`).value;
  const stream = new EventSource(`/api/classmodel${query(params)}`);
  state.stream = stream;
  $("cm-progress").textContent = "starting ...";
  stream.onmessage = (e) => {
    const s = JSON.parse(e.data);
    $("cm-image").src = s.png;
    $("cm-progress").textContent = `step ${s.step} of ${s.steps}: objective ${s.objective.toFixed(3)}` +
      ("probability" in s ? `, p = ${s.probability.toFixed(3)}` : "");
  };
  stream.addEventListener("done", () => { stream.close(); $("cm-progress").textContent += " (done)"; });
  stream.onerror = () => {
    stream.close();
    if (state.stream === stream) $("cm-progress").textContent += " (the ascent stopped: check the target)";
  };
}

// ---------------------------------------------------------------- start

async function start() {
  try {
    state.info = await getJSON("/api/info");
  } catch (error) { report(error); return; }
  $("model-name").textContent = `${state.info.model}, ${state.info.images} test images`;
  setUpPicker();
  setUpUnit();
  setUpExplain();
  setUpClassModels();
  setUpOcclusionDrag();
  window.addEventListener("hashchange", route);
  loadThumbs().catch(report);
  await route();
  document.body.dataset.ready = "1";
}

start();

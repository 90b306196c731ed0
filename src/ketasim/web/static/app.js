/* ketasim dashboard. Dependency-free apart from plotly.js (served by the app from the plotly wheel). */
"use strict";

const KS = {
  options: null,
  results: {},          // scenario letter -> SimulationOut
  syncing: false,
  runs: 0,              // finished runs (tests wait on this)
  trials: [],           // GET /api/trials
  trialResults: [],     // TrialOut of the last trial run (one per hypothesis)
  trialRuns: 0,         // finished trial runs (tests wait on this)
};

const PRESETS = {
  clinical: {label: "Clinical infusion: ketamine 0.5 mg/kg iv over 40 min",
             drug: "ketamine", amount: 0.5, unit: "mg/kg", route: "iv", over: 40},
  clinical_ntx: {label: "Clinical infusion + naltrexone 50 mg oral 45 min before",
                 drug: "ketamine", amount: 0.5, unit: "mg/kg", route: "iv", over: 40, ntx: true},
  esketamine: {label: "Esketamine 56 mg intranasal, twice weekly for 4 weeks",
               drug: "esketamine", amount: 56, unit: "mg", route: "intranasal", over: 0, every: 3.5,
               everyUnit: "d", count: 8, duration: 28},
  recreational: {label: "Recreational: ketamine 100 mg intranasal",
                 drug: "ketamine", amount: 100, unit: "mg", route: "intranasal", over: 0},
};

const COLORS = ["#2b6cb0", "#c05621", "#2f855a", "#b83280", "#6b46c1", "#975a16", "#2c7a7b", "#c53030",
                "#4a5568", "#805ad5"];

/* ---------- small DOM helpers ---------- */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function $(sel, root) { return (root || document).querySelector(sel); }
function field(scn, name) { return document.getElementById(`${scn}-${name}`); }
function num(scn, name) { return parseFloat(field(scn, name).value); }
function options(values, selected, labels) {
  return values.map((v, i) => el("option", {value: v, selected: v === selected, text: labels ? labels[i] : v}));
}
function labelled(text, input, cls) { return el("label", {class: cls || null}, cls === "inline" ? input : text,
                                                 cls === "inline" ? text : input); }
function fmt(x) {
  if (x === null || x === undefined || !isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(3);
  return Number(x.toPrecision(4)).toString();
}

/* ---------- API ---------- */
async function api(path, init) {
  const r = await fetch(path, init);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
                                    : `${r.status} ${r.statusText}`;
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return body;
}

/* ---------- scenario forms ---------- */
function buildForm(scn) {
  const o = KS.options;
  const form = document.getElementById(`form-${scn}`);
  form.replaceChildren();
  const id = (n) => `${scn}-${n}`;
  const presetSel = el("select", {id: id("preset")},
    el("option", {value: "", text: "— preset —"}),
    ...Object.entries(PRESETS).map(([k, p]) => el("option", {value: k, text: p.label})));
  presetSel.addEventListener("change", () => { if (presetSel.value) applyPreset(scn, PRESETS[presetSel.value]); });

  const drug = el("select", {id: id("drug")}, ...options(o.drugs.filter((d) => d !== "naltrexone"), "ketamine"));
  const route = el("select", {id: id("route")});
  const refreshRoutes = () => {
    const cur = route.value || "iv";
    const rs = o.drug_routes[drug.value] || o.routes;
    route.replaceChildren(...options(rs, rs.includes(cur) ? cur : rs[0]));
    field(scn, "over").disabled = route.value !== "iv";
  };
  drug.addEventListener("change", refreshRoutes);
  route.addEventListener("change", () => { field(scn, "over").disabled = route.value !== "iv"; });

  const info = o.hypothesis_info || {};
  const hyp = el("select", {id: id("hypothesis")},
                 ...options(o.hypotheses, o.default_hypothesis, o.hypotheses.map((h) => (info[h] || {}).title || h)));
  const src = el("select", {id: id("opioid_source")}, ...options(o.opioid_sources, o.opioid_sources[0]));
  const hypText = el("span");
  const hypNote = el("details", {class: "hyp-note", id: id("hypothesis-note")},
                     el("summary", {text: "about this hypothesis"}), hypText);
  const refreshHyp = () => {
    const i = info[hyp.value] || {};
    src.disabled = !(i.takes_opioid_source ?? true);
    hypNote.hidden = !i.description;
    hypText.textContent = i.description ? `${i.description}${i.naltrexone_prediction ?
      " Naltrexone pretreatment predicts: " + i.naltrexone_prediction + "." : ""}` : "";
  };
  hyp.addEventListener("change", refreshHyp);
  const maxSubj = o.limits.max_subjects;

  form.append(
    el("h2", {text: `Scenario ${scn}`}),
    el("fieldset", {},
      el("legend", {text: "Scenario"}),
      labelled("name", el("input", {type: "text", id: id("name"), value: scn === "A" ? "scenario A" : "scenario B",
                                    maxlength: 80})),
      labelled("preset", presetSel)),
    el("fieldset", {},
      el("legend", {text: "Dose"}),
      labelled("drug", drug),
      labelled("dose", el("input", {type: "number", id: id("amount"), value: 0.5, min: 0, step: "any"})),
      labelled("unit", el("select", {id: id("unit")}, ...options(o.units, "mg/kg"))),
      labelled("route", route),
      labelled("infusion over (min)", el("input", {type: "number", id: id("over"), value: 40, min: 0, step: "any"})),
      labelled("repeat every", el("input", {type: "number", id: id("every"), value: "", min: 0, step: "any",
                                            placeholder: "none"})),
      labelled("interval unit", el("select", {id: id("everyUnit")}, ...options(["h", "d"], "d"))),
      labelled("for (doses)", el("input", {type: "number", id: id("count"), value: 1, min: 1,
                                           max: o.limits.max_repeats, step: 1})),
      labelled("more dose lines (regimen text, one per line)",
               el("textarea", {id: id("extraDoses"), rows: 2, cols: 48, spellcheck: "false",
                               placeholder: "e.g. ketamine 0.5 mg/kg iv over 40 min at 7 d"}), "wide")),
    el("fieldset", {},
      el("legend", {text: "Pretreatment"}),
      labelled(" naltrexone", el("input", {type: "checkbox", id: id("ntx")}), "inline"),
      labelled("naltrexone dose (mg, oral)", el("input", {type: "number", id: id("ntxAmount"), value: 50, min: 0,
                                                          step: "any"})),
      labelled("given before ketamine (min)", el("input", {type: "number", id: id("ntxBefore"), value: 45,
                                                           step: "any"}))),
    el("fieldset", {},
      el("legend", {text: "Subject, model and run"}),
      labelled("body weight (kg)", el("input", {type: "number", id: id("weight"), value: 70,
                                                min: o.limits.min_weight_kg, max: o.limits.max_weight_kg,
                                                step: "any"})),
      labelled("age (years)", el("input", {type: "number", id: id("age"), value: "", min: 12, max: 100, step: "any",
                                                   placeholder: "40; population: drawn"})),
      labelled("sex", el("select", {id: id("sex")}, ...options(o.sexes || ["unspecified", "female", "male"],
                                                              "unspecified"))),
      labelled("CYP2B6 genotype", el("select", {id: id("cyp2b6")}, 
        el("option", {value: "", text: "*1/*1 (population: drawn)"}), ...options(o.cyp2b6 || ["*1/*1", "*1/*6", "*6/*6"]))),
      labelled("seed", el("input", {type: "number", id: id("seed"), value: 1, min: 0, step: 1})),
      labelled("duration", el("input", {type: "number", id: id("duration"), value: 7, min: 0, step: "any"})),
      labelled("duration unit", el("select", {id: id("durationUnit")}, ...options(["h", "d"], "d"))),
      labelled("hypothesis", hyp),
      o.opioid_sources.length ? labelled("opioid source", src) : null,
      o.expectations.length ? labelled("expectation", el("select", {id: id("expectation")},
        ...options(o.expectations, o.expectations.includes("active") ? "active" : o.expectations[0]))) : null,
      labelled("baseline MADRS", el("input", {type: "number", id: id("baseline_madrs"),
        min: 1, max: 60, step: "any", placeholder: "default"})),
      el("label", {id: id("subjects-label")}, el("span", {id: id("subjects-text"), text: "subjects"}),
         el("input", {type: "number", id: id("subjects"), value: 1, min: 1, max: maxSubj, step: 1,
                      disabled: maxSubj <= 1})),
      hypNote),
    el("fieldset", {},
      el("legend", {text: "Observed data"}),
      labelled("CSV: time_h, output, value[, sd]", el("input", {type: "file", id: id("observed"), accept: ".csv,text/csv",
        onchange: (ev) => readObserved(scn, ev.target.files[0])})),
      el("span", {id: id("observed-note"), class: "note"})),
  );
  refreshRoutes();
  refreshHyp();
  for (const n of ["duration", "durationUnit"]) field(scn, n).addEventListener("input", () => refreshSubjectLimit(scn));
  field(scn, "durationUnit").addEventListener("change", () => refreshSubjectLimit(scn));
  refreshSubjectLimit(scn);
}

/* The most subjects the server runs for this duration: one job may use at most job_work_cap subject-days. */
function subjectLimit(scn) {
  const o = KS.options.limits;
  const d = num(scn, "duration"), days = field(scn, "durationUnit").value === "h" ? d / 24 : d;
  const cap = o.job_work_cap_subject_days;
  if (!(days > 0) || !isFinite(cap)) return o.max_subjects;
  return Math.max(1, Math.min(o.max_subjects, Math.floor(cap / days + 1e-9)));
}
function refreshSubjectLimit(scn) {
  const input = field(scn, "subjects"), text = field(scn, "subjects-text");
  if (KS.options.limits.max_subjects <= 1) { text.textContent = "subjects (population runs not in this version)"; return; }
  const m = subjectLimit(scn);
  input.max = m;
  text.textContent = `subjects (population, max ${m} for this duration)`;
}

function applyPreset(scn, p) {
  field(scn, "drug").value = p.drug;
  field(scn, "drug").dispatchEvent(new Event("change"));
  field(scn, "amount").value = p.amount;
  field(scn, "unit").value = p.unit;
  field(scn, "route").value = p.route;
  field(scn, "route").dispatchEvent(new Event("change"));
  field(scn, "over").value = p.over || 0;
  field(scn, "every").value = p.every || "";
  field(scn, "everyUnit").value = p.everyUnit || "d";
  field(scn, "count").value = p.count || 1;
  field(scn, "ntx").checked = !!p.ntx;
  field(scn, "duration").value = p.duration || 7;
  field(scn, "durationUnit").value = "d";
  field(scn, "name").value = p.label.split(":")[0].slice(0, 80);
}

/* The request body of POST /api/simulate for one scenario form. */
/* Observed points (time in h, an output column, its value in that column's unit, optional SD) drawn on the charts. */
function readObserved(scn, file) {
  KS.observed = KS.observed || {};
  const note = field(scn, "observed-note");
  if (!file) { delete KS.observed[scn]; note.textContent = ""; return; }
  file.text().then((text) => {
    const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.trim().startsWith("#"));
    const head = (lines.shift() || "").split(",").map((h) => h.trim());
    const [it, io, iv, is] = ["time_h", "output", "value", "sd"].map((h) => head.indexOf(h));
    if (it < 0 || io < 0 || iv < 0) { note.textContent = "needs columns time_h, output, value"; return; }
    const pts = lines.map((l) => l.split(",")).map((c) => ({time_h: parseFloat(c[it]), output: c[io].trim(),
      value: parseFloat(c[iv]), ...(is >= 0 && c[is] !== undefined && c[is].trim() !== "" ? {sd: parseFloat(c[is])} : {})}))
      .filter((p) => isFinite(p.time_h) && isFinite(p.value));
    KS.observed[scn] = pts;
    note.textContent = `${pts.length} points`;
  });
}

function scenarioRequest(scn) {
  const route = field(scn, "route").value;
  const dose = {drug: field(scn, "drug").value, amount: num(scn, "amount"), unit: field(scn, "unit").value, route};
  const over = num(scn, "over");
  if (route === "iv" && over > 0) dose.over = `${over} min`;
  const every = num(scn, "every"), count = parseInt(field(scn, "count").value || "1", 10);
  if (count > 1) { dose.count = count; dose.every = `${isFinite(every) ? every : ""} ${field(scn, "everyUnit").value}`; }
  const doses = [dose];
  for (const line of (field(scn, "extraDoses").value || "").split(/\r?\n/)) {
    if (line.trim()) doses.push(line.trim());  // regimen text, read by the server as the CLI reads --dose
  }
  if (field(scn, "ntx").checked) {
    doses.push({drug: "naltrexone", amount: num(scn, "ntxAmount"), unit: "mg", route: "oral",
                at: `${-num(scn, "ntxBefore")} min`});
  }
  const req = {
    name: field(scn, "name").value || `scenario ${scn}`,
    doses,
    duration: `${num(scn, "duration")} ${field(scn, "durationUnit").value}`,
    weight_kg: num(scn, "weight"),
    sex: field(scn, "sex").value,
    seed: parseInt(field(scn, "seed").value || "1", 10),
    subjects: parseInt(field(scn, "subjects").value || "1", 10),
  };
  req.hypothesis = field(scn, "hypothesis").value;
  const src = field(scn, "opioid_source");
  if (src && !src.disabled) req.opioid_source = src.value;
  const exp = field(scn, "expectation");
  if (exp) req.expectation = exp.value;
  if (field(scn, "age").value !== "") req.age_years = num(scn, "age");
  if (field(scn, "cyp2b6").value) req.cyp2b6 = field(scn, "cyp2b6").value;
  const bl = field(scn, "baseline_madrs");
  if (bl && bl.value !== "") req.baseline_madrs = parseFloat(bl.value);
  if (KS.observed && KS.observed[scn] && KS.observed[scn].length) req.observed = KS.observed[scn];
  return req;
}

function workOf(req) {
  const m = /^\s*([-+0-9.eE]+)\s*(h|d)\s*$/.exec(req.duration);
  const days = m ? parseFloat(m[1]) / (m[2] === "d" ? 1 : 24) : 0;
  return days * (req.subjects || 1);
}

/* ---------- running ---------- */
function setStatus(state, text) {
  const s = $("#status");
  s.dataset.state = state;
  s.textContent = text;
}
function showError(msg) {
  const e = $("#error");
  if (!msg) { e.hidden = true; e.textContent = ""; return; }
  e.hidden = false; e.textContent = msg;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Poll background jobs until all have finished; onTick(jobs) after every poll. Answers in submission order. */
async function pollJobs(ids, onTick) {
  let delay = 150;
  for (;;) {
    await sleep(delay);
    delay = Math.min(delay * 1.5, 800);
    const js = await Promise.all(ids.map((id) => api(`/api/jobs/${id}`)));
    onTick(js);
    const bad = js.find((j) => j.status === "failed" || j.status === "cancelled");
    if (bad) throw new Error(bad.error || `the run was ${bad.status}`);
    if (js.every((j) => j.status === "done")) return js;
  }
}

async function runOne(scn) {
  const req = scenarioRequest(scn);
  const body = JSON.stringify(req);
  const headers = {"Content-Type": "application/json"};
  if (req.subjects <= 1 && workOf(req) <= KS.options.limits.sync_work_cap_subject_days) {
    return api("/api/simulate", {method: "POST", headers, body});
  }
  // a population, or a heavier run: background job with progress
  const job = await api("/api/jobs", {method: "POST", headers, body: JSON.stringify({scenario: req})});
  const bar = $("#progress");
  bar.hidden = false;
  bar.value = job.progress;
  try {
    const [j] = await pollJobs([job.id], ([j]) => {
      bar.value = j.progress;
      setStatus("running", `scenario ${scn}: ${j.status} (${Math.round(j.progress * 100)} %) ${j.message || ""}`);
    });
    return j.result;
  } finally {
    bar.hidden = true;
  }
}

async function run() {
  const btn = $("#run");
  btn.disabled = true;
  showError(null);
  setStatus("running", "simulating…");
  const letters = document.body.classList.contains("compare") ? ["A", "B"] : ["A"];
  const t0 = performance.now();
  try {
    const results = {};
    for (const scn of letters) results[scn] = await runOne(scn);
    KS.results = results;
    render();
    KS.runs += 1;
    setStatus("done", `done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    showError(e.message);
    setStatus("error", "failed");
  } finally {
    btn.disabled = false;
  }
}

/* ---------- charts ---------- */
function xScale() {
  const maxH = Math.max(...Object.values(KS.results).map((r) => r.duration_h));
  const win = $("#window-select").value;
  const days = win === "all" && maxH > 72;
  return {div: days ? 24 : 1, title: days ? "time (d)" : "time (h)", win};
}

function layerUnion() {
  const seen = new Map();
  const results = Object.values(KS.results);
  // an output that is zero throughout in every scenario (naltrexone when none was given) is left out
  const drawn = (c) => results.some((r) => r.series[c] &&
    (r.series[c].p95 || r.series[c].median).some((v) => v !== null && v !== 0));
  for (const r of results) {
    for (const L of r.layers) {
      if (!seen.has(L.key)) seen.set(L.key, {key: L.key, title: L.title, columns: []});
      const s = seen.get(L.key);
      for (const c of L.columns) if (!s.columns.includes(c) && drawn(c)) s.columns.push(c);
    }
  }
  return [...seen.values()];
}

/* A log axis from LOG_DECADES below the highest value drawn up to it (never down to 1e-12). */
const LOG_DECADES = 4;
function logRange(layer) {
  let hi = 0;
  for (const r of Object.values(KS.results)) {
    for (const c of layer.columns) {
      const s = r.series[c];
      if (!s) continue;
      for (const v of (s.p95 || s.median)) if (v !== null && v > hi) hi = v;
    }
  }
  if (!(hi > 0)) return null;
  const top = Math.ceil(Math.log10(hi * 1.05));
  return [top - LOG_DECADES, top];  // plotly's log range is in decades
}

/* How each scenario is drawn when two are compared on the same axes: A solid, B dashed; their dose marks apart. */
const SCENARIO_STYLE = {
  A: {dash: "solid", band: "33", dose: "#555", doseDash: "dot", infusion: "#ddd", marker: "circle"},
  B: {dash: "dash", band: "1f", dose: "#b7791f", doseDash: "dashdot", infusion: "#f6e3b4", marker: "square"},
};
function styleOf(scn) { return SCENARIO_STYLE[scn] || SCENARIO_STYLE.A; }

/* Dose marks: a line at each dose, a band over each infusion; in compare mode each scenario in its own style. */
function doseShapes(res, div, scn, compare) {
  const st = styleOf(compare ? scn : "A");
  return (res.administrations || []).flatMap((d) => {
    const x0 = d.time_h / div, x1 = (d.time_h + (d.duration_h || 0)) / div;
    const name = compare ? `${scn}: ${d.drug} dose` : `${d.drug} dose`;
    const line = {type: "line", name, xref: "x", yref: "paper", x0, x1: x0, y0: 0, y1: 1,
                  line: {color: st.dose, width: 1, dash: st.doseDash}, layer: "below"};
    return d.duration_h > 0 ? [line, {type: "rect", name: `${name} (infusion)`, xref: "x", yref: "paper", x0, x1,
                                     y0: 0, y1: 1, fillcolor: st.infusion, opacity: 0.5, line: {width: 0},
                                     layer: "below"}] : [line];
  });
}

function prettyName(col) {
  return col.replace(/_ng_ml$/, "").replace(/_occupancy$/, " occupancy").replace(/_/g, " ");
}

/* The y-axes of a layer: one per unit (CADSS points and VAS 0-100 are never read off one scale). The first on
   the left, the others on the right. Answers [{unit, columns, ref: "y" | "y2" | ..., name: "yaxis" | ...}]. */
function unitAxes(layer) {
  const results = Object.values(KS.results);
  const unitOf = (c) => { for (const r of results) if (r.series[c]) return r.series[c].unit || ""; return ""; };
  const axes = [];
  for (const c of layer.columns) {
    const u = unitOf(c);
    let a = axes.find((x) => x.unit === u);
    if (!a) {
      const k = axes.length + 1;
      a = {unit: u, columns: [], ref: k === 1 ? "y" : `y${k}`, name: k === 1 ? "yaxis" : `yaxis${k}`};
      axes.push(a);
    }
    a.columns.push(c);
  }
  return axes;
}

/* Traces of one scenario in one layer. In compare mode names and ids carry the scenario ("A: ketamine", meta
   "A:ketamine_ng_ml"), B is dashed and its band lighter; a column keeps its colour in both. */
function tracesFor(res, layer, xs, scn, compare, axisOf) {
  const traces = [];
  const st = styleOf(compare ? scn : "A");
  const tag = compare ? `${scn}: ` : "";
  const id = (c) => (compare ? `${scn}:${c}` : c);
  layer.columns.forEach((col, i) => {
    const s = res.series[col];
    // an output zero throughout in this scenario (naltrexone in the one that gave none) is left out of it
    if (!s || !(s.p95 || s.median).some((v) => v !== null && v !== 0)) return;
    const color = COLORS[i % COLORS.length];
    const yaxis = axisOf[col] || "y";
    const group = id(col);
    if (s.p05 && s.p95) {
      traces.push({x: xs, y: s.p95, mode: "lines", line: {width: 0, color}, hoverinfo: "skip", yaxis,
                   showlegend: false, name: `${id(col)} p95`, legendgroup: group});
      traces.push({x: xs, y: s.p05, mode: "lines", line: {width: 0, color}, fill: "tonexty", yaxis,
                   fillcolor: color + st.band, hoverinfo: "skip", showlegend: false, name: `${id(col)} p05`,
                   legendgroup: group});
    }
    const label = s.label || prettyName(col);
    traces.push({x: xs, y: s.median, mode: "lines", line: {width: 2, color, dash: st.dash}, legendgroup: group,
                 yaxis, name: tag + label + (s.p05 && !compare ? " (median, 5–95 %)" : ""), meta: id(col),
                 hovertemplate: `%{y:.4g} ${s.unit}<extra>${tag}${label}</extra>`});
    const pts = (res.observed || []).filter((p) => p.output === col);
    if (pts.length) {
      const div = xScale().div;
      traces.push({x: pts.map((p) => p.time_h / div), y: pts.map((p) => p.value), mode: "markers", type: "scatter",
                   yaxis, marker: {color: "#fff", size: 7, symbol: st.marker, line: {color, width: 1.5}},
                   legendgroup: group, name: `${tag}${prettyName(col)} observed`, meta: `${id(col)} observed`,
                   error_y: {type: "data", array: pts.map((p) => p.sd || 0), visible: pts.some((p) => p.sd),
                             color, thickness: 1}});
    }
  });
  return traces;
}

function yRange(layer, columns) {
  if (layer.key === "occupancy") return [0, 1];
  let hi = 0;
  for (const r of Object.values(KS.results)) {
    for (const c of columns || layer.columns) {
      const s = r.series[c];
      if (!s) continue;
      for (const v of (s.p95 || s.median)) if (v !== null && v > hi) hi = v;
    }
  }
  return hi > 0 ? [0, hi * 1.05] : null;
}

const RIGHT_AXIS_STEP = 0.075;  // plot width per extra right-hand axis (third unit and on)

function render() {
  const charts = $("#charts");
  charts.replaceChildren();
  const letters = Object.keys(KS.results);
  const compare = letters.length > 1;
  const x = xScale();
  const layers = layerUnion();
  const logConc = $("#log-toggle").checked;
  const xmax = x.win === "all" ? Math.max(...letters.map((l) => KS.results[l].duration_h)) / x.div : parseFloat(x.win);
  const xmin = Math.min(...letters.map((l) => (KS.results[l].time_h[0] || 0))) / x.div;

  layers.forEach((layer, li) => {
    const row = el("div", {class: "layer-row", "data-layer": layer.key}, el("h3", {text: layer.title}));
    const cells = el("div", {class: "cells"});
    row.append(cells);
    charts.append(row);
    if (!layer.columns.length) {
      cells.append(el("p", {class: "empty", text: "No output of this layer in this version of ketasim yet."}));
      return;
    }
    const isLog = logConc && layer.key === "concentrations";
    const axes = unitAxes(layer);
    const axisOf = Object.fromEntries(axes.flatMap((a) => a.columns.map((c) => [c, a.ref])));
    const domainEnd = 1 - RIGHT_AXIS_STEP * Math.max(0, axes.length - 2);
    // every scenario on the same axes: one chart per layer
    const height = compare ? 300 : 240;  // room for both scenarios' legend entries
    const div = el("div", {class: "chart", id: `chart-${layer.key}`, "data-layer": layer.key,
                           "data-scenarios": letters.join(" "), style: `height: ${height}px`});
    const caption = el("div", {class: "caption"});
    for (const scn of letters) {
      const res = KS.results[scn];
      const who = res.n_subjects > 1 ? `${res.n_subjects} subjects: median, shaded 5–95 %` : "typical subject";
      const how = compare ? (scn === "A" ? " — solid lines, dotted grey dose marks"
                                         : " — dashed lines, dash-dot amber dose marks") : "";
      caption.append(el("span", {class: "scn", "data-scenario": scn,
                                 text: `${compare ? scn + ": " : ""}${res.name} (${who})${how}`}));
    }
    const stem = compare ? `ketasim_${letters.map((l) => stemName(KS.results[l])).join("_vs_")}_${layer.key}`
                         : fileStem(KS.results[letters[0]], layer);
    caption.append(el("button", {type: "button", class: "small", "data-action": "png", text: "PNG",
                                 onclick: () => Plotly.downloadImage(div, {format: "png", width: 1000,
                                   height: compare ? 380 : 320, filename: stem})}));
    for (const scn of letters) {
      caption.append(el("button", {type: "button", class: "small", "data-action": "csv", "data-scenario": scn,
                                   text: compare ? `CSV ${scn}` : "CSV", onclick: () => downloadCsv(scn, layer)}));
    }
    cells.append(el("div", {class: "cell"}, caption, div));

    const layout = {
      margin: {l: 60, r: axes.length > 1 ? 60 : 10, t: 8, b: li === layers.length - 1 ? 40 : 28},
      height,
      xaxis: {title: {text: x.title}, range: [xmin, xmax], zeroline: false, domain: [0, domainEnd]},
      shapes: letters.flatMap((scn) => doseShapes(KS.results[scn], x.div, scn, compare)),
      legend: {orientation: "h", y: 1.02, yanchor: "bottom", x: 0, font: {size: 11}},
      showlegend: true,
      hovermode: "x unified",
    };
    axes.forEach((a, k) => {
      const yr = isLog ? logRange(layer) : yRange(layer, a.columns);
      // an axis that carries one output of several takes its colour, so the eye finds which scale is whose
      const only = a.columns.length === 1 && axes.length > 1
        ? COLORS[layer.columns.indexOf(a.columns[0]) % COLORS.length] : undefined;
      const ax = {title: {text: a.unit, font: only ? {color: only} : undefined}, type: isLog ? "log" : "linear",
                  range: yr || undefined, autorange: yr ? false : true, rangemode: isLog ? undefined : "tozero",
                  exponentformat: "none", tickformat: isLog ? "~g" : undefined,
                  tickfont: only ? {color: only} : undefined};
      if (k > 0) {
        Object.assign(ax, {overlaying: "y", side: "right", showgrid: false});
        if (k === 1) ax.anchor = "x";
        else Object.assign(ax, {anchor: "free", position: Math.min(1, domainEnd + RIGHT_AXIS_STEP * (k - 1))});
      }
      layout[a.name] = ax;
    });
    const traces = letters.flatMap((scn) => {
      const res = KS.results[scn];
      return tracesFor(res, layer, res.time_h.map((t) => t / x.div), scn, compare, axisOf);
    });
    Plotly.newPlot(div, traces, layout,
                   {responsive: true, displaylogo: false, toImageButtonOptions: {filename: stem}});
    div.on("plotly_relayout", (ev) => syncX(div, ev));
  });
  renderSummary();
  renderWarnings();
}

/* One shared time axis: zooming one chart zooms all. */
function syncX(source, ev) {
  if (KS.syncing) return;
  let update = null;
  if (ev["xaxis.range[0]"] !== undefined) update = {"xaxis.range": [ev["xaxis.range[0]"], ev["xaxis.range[1]"]]};
  else if (ev["xaxis.range"]) update = {"xaxis.range": ev["xaxis.range"]};
  else if (ev["xaxis.autorange"]) update = {"xaxis.autorange": true};
  if (!update) return;
  KS.syncing = true;
  const others = [...document.querySelectorAll(".chart.js-plotly-plot")].filter((d) => d !== source);
  Promise.all(others.map((d) => Plotly.relayout(d, update))).finally(() => { KS.syncing = false; });
}

function stemName(res) { return (res.name || "scenario").replace(/[^A-Za-z0-9_-]+/g, "_"); }
function fileStem(res, layer) {
  return `ketasim_${stemName(res)}_${layer.key}`;
}

function csvFor(res, layer) {
  const cols = layer.columns.filter((c) => res.series[c]);
  const header = ["time_h"];
  for (const c of cols) {
    header.push(c);
    if (res.series[c].p05) header.push(`${c}_p05`, `${c}_p95`);
  }
  const lines = [header.join(",")];
  const cell = (v) => (v === null || v === undefined ? "" : String(v));
  res.time_h.forEach((t, i) => {
    const row = [cell(t)];
    for (const c of cols) {
      const s = res.series[c];
      row.push(cell(s.median[i]));
      if (s.p05) row.push(cell(s.p05[i]), cell(s.p95[i]));
    }
    lines.push(row.join(","));
  });
  return lines.join("\n") + "\n";
}

function downloadCsv(scn, layer) {
  const res = KS.results[scn];
  downloadBlob(csvFor(res, layer), "text/csv", `${fileStem(res, layer)}.csv`);
}

function downloadBlob(text, type, filename) {
  const blob = new Blob([text], {type});
  const url = URL.createObjectURL(blob);
  const a = el("a", {href: url, download: filename});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function pctRange(p) {
  return p && typeof p === "object" && ("p5" in p) ? `${fmt(p.p5)} – ${fmt(p.p95)}` : "";
}

function renderSummary() {
  const box = $("#summary");
  box.replaceChildren(el("h3", {text: "Summary (typical subject, or population: as the package summarises it, "
                                      + "with 5–95 % of subjects)"}));
  const letters = Object.keys(KS.results);
  const anyPop = letters.some((l) => KS.results[l].n_subjects > 1);
  const head = el("tr", {}, ...["scenario", "output", "Cmax / peak", anyPop ? "Cmax 5–95 %" : null, "Tmax (h)",
                                "AUC", anyPop ? "AUC 5–95 %" : null, "unit"]
    .filter(Boolean).map((h) => el("th", {text: h})));
  const rows = [];
  const mood = [];
  for (const scn of letters) {
    const res = KS.results[scn];
    const label = letters.length > 1 ? `${scn}: ${res.name}` : res.name;
    for (const [col, s] of Object.entries(res.summary)) {
      if (!s || typeof s !== "object") continue;
      rows.push(el("tr", {},
        el("td", {text: label}),
        el("td", {text: col}),
        el("td", {class: "num", text: fmt(s.cmax)}),
        anyPop ? el("td", {class: "num", text: pctRange(s.cmax_percentiles)}) : null,
        el("td", {class: "num", text: fmt(s.tmax_h)}),
        el("td", {class: "num", text: fmt(s.auc)}),
        anyPop ? el("td", {class: "num", text: pctRange(s.auc_percentiles)}) : null,
        el("td", {text: s.unit || ""})));
      if (s.change_24h !== undefined && s.change_24h !== null) {
        let text = `${label}: ${col.toUpperCase()} change at 24 h ${fmt(s.change_24h)}`;
        if (s.change_24h_percentiles) text += ` (5–95 % of subjects: ${pctRange(s.change_24h_percentiles)})`;
        if (s.responders_24h !== undefined && s.responders_24h !== null) {
          text += `; responders at 24 h ${Math.round(s.responders_24h * 100)} %`;
        }
        mood.push(el("div", {class: "mood-line", text}));
      }
    }
  }
  box.append(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
  if (mood.length) box.append(el("div", {class: "mood-summary"}, ...mood));
  const doses = el("p", {class: "doses"});
  for (const scn of letters) doses.append(el("div", {text: `${scn}: ${KS.results[scn].doses.join("; ")}`}));
  box.append(doses);
}

function renderWarnings() {
  const box = $("#warnings");
  const items = [];
  for (const [scn, res] of Object.entries(KS.results)) {
    for (const w of res.warnings) items.push(el("li", {text: `${scn}: ${w}`}));
  }
  box.replaceChildren();
  if (!items.length) { box.hidden = true; return; }
  box.append(el("strong", {text: "Warnings"}), el("ul", {}, ...items));
  box.hidden = false;
}

/* ---------- virtual trials ---------- */
function trialStatus(state, text) {
  const s = $("#trial-status");
  s.dataset.state = state;
  s.textContent = text;
}
function trialError(msg) {
  const e = $("#trial-error");
  e.hidden = !msg;
  e.textContent = msg || "";
}

function buildTrialForm() {
  const o = KS.options;
  const info = o.hypothesis_info || {};
  const labels = o.hypotheses.map((h) => (info[h] || {}).title || h);
  const sel = $("#trial-name");
  sel.replaceChildren(...KS.trials.map((t) => el("option", {value: t.name, text: `${t.name} — ${t.title}`})));
  if (KS.trials.some((t) => t.name === "williams2018")) sel.value = "williams2018";
  $("#trial-hypothesis").replaceChildren(...options(o.hypotheses, o.default_hypothesis, labels));
  const second = o.hypotheses.find((h) => h !== o.default_hypothesis) || o.default_hypothesis;
  $("#trial-hypothesis2").replaceChildren(...options(o.hypotheses, o.hypotheses.includes("glutamate") ? "glutamate"
                                                                                                     : second, labels));
  $("#trial-source").replaceChildren(...options(o.opioid_sources, o.opioid_sources[0]));
  const maxRep = o.limits.max_trial_replicates || 50;
  $("#trial-replicates").max = maxRep;
  $("#trial-replicates").value = Math.min(10, maxRep);
  const describe = () => {
    const t = KS.trials.find((x) => x.name === sel.value);
    const cap = o.limits.trial_work_cap_subject_days;
    const most = t && cap ? Math.max(0, Math.floor(cap / t.work_per_replicate)) : maxRep;
    $("#trial-desc").textContent = t ? `${t.design} design, ${t.n_per_arm} per arm (${t.arms.join(" vs ")}), `
      + `followed ${t.duration}; ${t.has_observed ? "published results shown beside the model's" : "no published "
      + "results on file"} (${t.citation || "no citation"}). At most ${Math.min(most, maxRep)} replicates here.` : "";
  };
  const refreshSource = () => {  // the opioid source applies to hypotheses that take one
    $("#trial-source").disabled = !o.opioid_sources.length
      || !((info[$("#trial-hypothesis").value] || {}).takes_opioid_source ?? true);
  };
  sel.addEventListener("change", describe);
  $("#trial-hypothesis").addEventListener("change", refreshSource);
  $("#trial-compare").addEventListener("change", (ev) => { $("#trial-hypothesis2").disabled = !ev.target.checked; });
  $("#trial-form").addEventListener("submit", (ev) => { ev.preventDefault(); runTrials(); });
  describe();
  refreshSource();
}

function trialRequests() {
  const info = KS.options.hypothesis_info || {};
  const base = {trial: $("#trial-name").value, replicates: parseInt($("#trial-replicates").value || "1", 10),
                seed: parseInt($("#trial-seed").value || "0", 10)};
  const hyps = [$("#trial-hypothesis").value];
  if ($("#trial-compare").checked && $("#trial-hypothesis2").value !== hyps[0]) hyps.push($("#trial-hypothesis2").value);
  return hyps.map((h) => {
    const req = {...base, hypothesis: h};
    const src = $("#trial-source");
    if (!src.disabled && src.value && ((info[h] || {}).takes_opioid_source ?? true)) req.opioid_source = src.value;
    return req;
  });
}

async function runTrials() {
  const btn = $("#trial-run");
  const bar = $("#trial-progress");
  btn.disabled = true;
  trialError(null);
  trialStatus("running", "submitting…");
  const t0 = performance.now();
  try {
    const headers = {"Content-Type": "application/json"};
    const ids = [];
    for (const req of trialRequests()) {
      ids.push((await api("/api/trials/run", {method: "POST", headers, body: JSON.stringify(req)})).id);
    }
    bar.hidden = false;
    bar.value = 0;
    const done = await pollJobs(ids, (js) => {
      bar.value = js.reduce((a, j) => a + j.progress, 0) / js.length;
      trialStatus("running", js.map((j) => `${j.status} ${Math.round(j.progress * 100)} % ${j.message || ""}`)
        .join(" | "));
    });
    KS.trialResults = done.map((j) => j.result);
    renderTrials();
    KS.trialRuns += 1;
    trialStatus("done", `done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    trialError(e.message);
    trialStatus("error", "failed");
  } finally {
    bar.hidden = true;
    btn.disabled = false;
  }
}

function ci(x) { return Array.isArray(x) && x.length === 2 ? `${fmt(x[0])} to ${fmt(x[1])}` : ""; }
function pct(x) { return x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`; }
function table(id, headers, rows) {
  return el("table", {id}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {text: h})))),
            el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => (c instanceof Node ? c
              : el("td", {class: typeof c === "number" ? "num" : null, text: typeof c === "number" ? fmt(c) : (c ?? "")})))))));
}

function renderTrials() {
  const box = $("#trial-results");
  box.replaceChildren();
  const res = KS.trialResults;
  if (!res.length) return;
  const multi = res.length > 1;
  const hypCell = (r) => el("td", {class: "hyp", text: r.hypothesis});
  box.append(el("h3", {text: `${res[0].title || res[0].trial} — ${res[0].replicates} replicate trials, seed `
                                 + `${res[0].seed}`}));

  const armRows = [];
  for (const r of res) {
    for (const [arm, a] of Object.entries(r.arms || {})) {
      for (const [ep, v] of Object.entries(a.endpoints || {})) {
        const peak = v.mean_peak !== undefined;
        armRows.push([hypCell(r), arm, a.n, ep, peak ? "peak" : "change from baseline",
                      peak ? v.mean_peak : v.mean_change, ci(v.ci95),
                      peak ? "" : pct(v.response_rate), peak ? "" : pct(v.remission_rate)]);
      }
    }
  }
  box.append(el("h3", {text: "Arms and endpoints (mean over replicate trials; 95 % range of replicate results)"}),
    table("trial-summary", ["hypothesis", "arm", "n", "endpoint", "measure", "mean", "95 % range", "responders",
                            "remitters"], armRows));

  const compRows = [];
  for (const r of res) {
    for (const c of r.comparisons || []) {
      compRows.push([hypCell(r), c.endpoint, (c.arms || []).join(" − "), c.difference, ci(c.ci95), c.p_value,
                     pct(c.share_significant), c.analysis || ""]);
    }
  }
  box.append(el("h3", {text: "Comparisons"}),
    table("trial-comparisons", ["hypothesis", "endpoint", "arms", "difference", "95 % range", "median p",
                                "trials significant (p < 0.05)", "analysis"], compRows));

  const obsRows = [];
  for (const r of res) {
    for (const o of r.observed_vs_model || []) {
      const observed = typeof o.observed === "boolean"
        ? (o.observed ? `significant${o.direction ? " (" + o.direction + ")" : ""}` : "not significant")
        : fmt(o.observed) + (o.observed_ci95 ? ` (${ci(o.observed_ci95)})` : "");
      const model = o.model_share !== undefined ? `${pct(o.model_share)} of trials agree`
        : `${fmt(o.model_mean)} (5–95 %: ${fmt(o.model_p5)} to ${fmt(o.model_p95)})`;
      obsRows.push([hypCell(r), o.arm, o.endpoint, o.quantity, observed, model,
                    o.verified === false ? "unverified" : "", o.note || ""]);
    }
  }
  box.append(el("h3", {text: "Published result vs model"}),
    obsRows.length ? table("trial-observed", ["hypothesis", "arm", "endpoint", "quantity", "observed", "model",
                                              "", "note"], obsRows)
                   : el("p", {class: "empty", text: "No published numbers on file for this trial."}));

  // reports: links, downloads, and one shown inline (sandboxed: it is static HTML with inline images)
  const frame = el("iframe", {class: "report", id: "trial-report", title: "trial report", sandbox: "",
                              src: res[0].report_url});
  const links = el("div", {class: "report-links"}, el("strong", {text: "Report"}));
  res.forEach((r) => {
    const tag = multi ? ` (${r.hypothesis})` : "";
    links.append(
      el("button", {type: "button", class: "small", "data-action": "show-report", text: `show${tag}`,
                    onclick: () => { frame.src = r.report_url; }}),
      el("a", {href: r.report_url, target: "_blank", rel: "noopener", class: "report-link",
               text: `open in a new tab${tag}`}),
      el("a", {href: `${r.report_url}?download=true`, download: `ketasim_${r.trial}_${r.hypothesis}_report.html`,
               text: `report.html${tag}`}),
      el("button", {type: "button", class: "small", "data-action": "trial-json", text: `trial.json${tag}`,
                    onclick: () => downloadBlob(JSON.stringify(r, null, 1), "application/json",
                                                `ketasim_${r.trial}_${r.hypothesis.replace(/[^A-Za-z0-9_-]+/g, "_")}.json`)}));
  });
  box.append(links, frame);
}

/* ---------- parameters ---------- */
async function loadParameters() {
  const rows = await api("/api/parameters");
  const table = $("#param-table");
  const cols = ["key", "value", "unit", "low", "high", "evidence", "source", "description"];
  const body = el("tbody");
  for (const r of rows) {
    body.append(el("tr", {"data-search": `${r.key} ${r.source} ${r.description}`.toLowerCase()},
      ...cols.map((c) => {
        const v = r[c];
        const isNum = typeof v === "number";
        const td = el("td", {class: isNum ? "num" : null, text: isNum ? fmt(v) : (v ?? "")});
        if (c === "source" && r.citation) td.title = r.citation;
        return td;
      })));
  }
  table.replaceChildren(el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {text: c})))), body);
  $("#param-filter").addEventListener("input", (ev) => {
    const q = ev.target.value.toLowerCase();
    for (const tr of body.children) tr.hidden = q && !tr.dataset.search.includes(q);
  });
}

/* ---------- start ---------- */
function setCompare(on) {
  document.body.classList.toggle("compare", on);
  document.getElementById("form-B").hidden = !on;
}

async function main() {
  try {
    KS.options = await api("/api/options");
  } catch (e) {
    showError(`cannot reach the ketasim API: ${e.message}`);
    return;
  }
  buildForm("A");
  buildForm("B");
  field("B", "ntx").checked = true;  // the natural comparison: same infusion with naltrexone pretreatment
  field("B", "name").value = "with naltrexone";
  field("A", "name").value = "ketamine alone";
  $("#compare-toggle").addEventListener("change", (ev) => { setCompare(ev.target.checked); });
  $("#log-toggle").addEventListener("change", () => { if (Object.keys(KS.results).length) render(); });
  $("#window-select").addEventListener("change", () => { if (Object.keys(KS.results).length) render(); });
  $("#run").addEventListener("click", run);
  for (const f of document.querySelectorAll(".scenario-form")) {
    f.addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
  }
  loadParameters().catch((e) => showError(`parameters: ${e.message}`));
  api("/api/trials").then((ts) => { KS.trials = ts; buildTrialForm(); })
    .catch((e) => trialError(`trials: ${e.message}`));
  await run();  // the default scenario, so the page shows data at once
}

window.KS = KS;
document.addEventListener("DOMContentLoaded", main);

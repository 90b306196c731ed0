/* ketasim dashboard: a compound (library or uploaded file) beside ketamine under one hypothesis. Uses the helpers of
   app.js (el, $, api, pollJobs, fmt, table, options, sleep). Research software, not a dosing tool. */
"use strict";

const KSC = {compounds: [], runs: 0, last: null, fileText: null, fileName: null};

// panels: series key, title; the acute ones open on the first two days (zoom out with a double click)
const COMPOUND_PANELS = [
  {key: "cadss", title: "Dissociation (CADSS)", acute: true},
  {key: "liking", title: "Drug liking", acute: true},
  {key: "opioid_signal_excess", title: "Opioid-pathway load (MOR agonist signal above baseline)", acute: true},
  {key: "madrs_vs_placebo", title: "MADRS vs placebo sessions (negative = better)", acute: false},
  {key: "nmda_occupancy", title: "NMDA occupancy", acute: true},
  {key: "mor_occupancy", title: "MOR occupancy (exogenous ligands)", acute: true},
];
const COMPOUND_METRICS = [
  ["cadss_peak", "CADSS peak", "points"],
  ["liking_peak", "drug liking peak", "VAS 0-100"],
  ["opioid_load_h", "opioid-pathway load (area of the MOR signal above 1)", "signal x h"],
  ["madrs_vs_placebo_day1", "MADRS vs placebo, day 1", "points"],
  ["madrs_vs_placebo_day7", "MADRS vs placebo, day 7", "points"],
  ["madrs_vs_placebo_end", "MADRS vs placebo, end", "points"],
  ["nmda_occupancy_peak", "NMDA occupancy peak", "fraction"],
  ["mor_occupancy_peak", "MOR occupancy peak", "fraction"],
  ["kor_occupancy_peak", "KOR occupancy peak", "fraction"],
];

function compoundStatus(state, text) {
  const s = $("#compound-status"); s.dataset.state = state; s.textContent = text;
}

function compoundError(msg) {
  $("#compound-error").textContent = msg; $("#compound-error").hidden = !msg;
}

function describeCompound() {
  if (KSC.fileText !== null) {
    $("#compound-desc").textContent = `Uploaded file ${KSC.fileName}: it is checked by the same schema as the `
      + "command line when you run the comparison.";
    return;
  }
  const c = KSC.compounds.find((x) => x.name === $("#compound-name").value);
  if (!c) return;
  const what = c.native ? "built-in drug" : `routes ${c.routes.join(", ")}; receptors ${c.receptors.join(", ") || "none"}`;
  $("#compound-desc").textContent = `${c.title} (${what}). ${c.description}`;
}

function buildCompoundForm() {
  const o = KS.options;
  const info = o.hypothesis_info || {};
  const sel = $("#compound-name");
  const usable = KSC.compounds.filter((c) => c.name !== "ketamine");
  sel.replaceChildren(...usable.map((c) => el("option", {value: c.name, text: c.title === c.name ? c.name
                                                                              : `${c.name} — ${c.title}`})));
  if (usable.some((c) => c.name === "lanicemine")) sel.value = "lanicemine";
  $("#compound-hypothesis").replaceChildren(...options(o.hypotheses, o.default_hypothesis,
                                                       o.hypotheses.map((h) => (info[h] || {}).title || h)));
  $("#compound-source").replaceChildren(...options(o.opioid_sources, o.opioid_sources[0]));
  const refreshSource = () => {
    $("#compound-source").disabled = !((info[$("#compound-hypothesis").value] || {}).takes_opioid_source ?? true);
  };
  $("#compound-hypothesis").addEventListener("change", refreshSource);
  sel.addEventListener("change", describeCompound);
  $("#compound-file").addEventListener("change", async (ev) => {
    const f = ev.target.files && ev.target.files[0];
    if (!f) return;
    KSC.fileText = await f.text();
    KSC.fileName = f.name;
    sel.disabled = true;
    $("#compound-clear").hidden = false;
    describeCompound();
  });
  $("#compound-clear").addEventListener("click", () => {
    KSC.fileText = null; KSC.fileName = null;
    $("#compound-file").value = "";
    sel.disabled = false;
    $("#compound-clear").hidden = true;
    describeCompound();
  });
  $("#compound-form").addEventListener("submit", (ev) => { ev.preventDefault(); runCompound(); });
  refreshSource();
  describeCompound();
}

function compoundRequest() {
  const info = KS.options.hypothesis_info || {};
  const h = $("#compound-hypothesis").value;
  const req = {hypothesis: h, duration_days: parseFloat($("#compound-days").value) || 14};
  if (KSC.fileText !== null) { req.file_text = KSC.fileText; req.file_name = KSC.fileName; }
  else req.compound = $("#compound-name").value;
  const src = $("#compound-source");
  if (!src.disabled && src.value && ((info[h] || {}).takes_opioid_source ?? true)) req.opioid_source = src.value;
  return req;
}

async function runCompound() {
  const body = compoundRequest();
  const bar = $("#compound-progress");
  compoundError("");
  compoundStatus("running", "queued");
  $("#compound-run").disabled = true;
  try {
    const job = await api("/api/compounds/compare", {method: "POST", headers: {"Content-Type": "application/json"},
                                                     body: JSON.stringify(body)});
    bar.hidden = false;
    const [j] = await pollJobs([job.id], ([j]) => {
      bar.value = j.progress;
      compoundStatus("running", `${j.status} (${Math.round(j.progress * 100)} %) ${j.message || ""}`);
    });
    KSC.last = j.result;
    renderCompound(j.result);
    compoundStatus("done", `${j.result.compound} beside ketamine under ${j.result.hypothesis}: done`);
  } catch (e) {
    compoundError(e.message);
    compoundStatus("error", "failed");
  } finally {
    bar.hidden = true;
    $("#compound-run").disabled = false;
    KSC.runs += 1;
  }
}

function renderCompound(res) {
  const box = $("#compound-results");
  box.replaceChildren();
  // the title when it names the compound ("Lanicemine (AZD6765)"), else both
  const name = !res.title || res.title === res.compound ? res.compound
    : res.title.toLowerCase().startsWith(res.compound.toLowerCase()) ? res.title : `${res.compound} (${res.title})`;
  const ref = "ketamine 0.5 mg/kg IV";
  const c = res.courses.compound, k = res.courses.ketamine;
  const days = (ts) => ts.map((t) => t / 24);
  const start = Math.min(c.time_h[0], k.time_h[0]) / 24;
  const grid = el("div", {class: "compound-grid"});
  box.append(el("h3", {text: `${name}: ${res.regimen.join("; ")} — beside ${res.reference.join("; ")}, `
                             + `under ${res.hypothesis} (typical subject)`}), grid);
  for (const p of COMPOUND_PANELS) {
    const inf = res.series_info[p.key];
    const div = el("div", {class: "chart compound-chart", id: `compound-chart-${p.key}`});
    grid.append(div);
    const traces = [
      {x: days(c.time_h), y: c.series[p.key], name, mode: "lines", line: {color: "#c05621", width: 2}},
      {x: days(k.time_h), y: k.series[p.key], name: ref, mode: "lines", line: {color: "#2b6cb0", dash: "dash"}},
    ];
    const xaxis = {title: {text: "days"}};
    if (p.acute) xaxis.range = [start, start + 2];
    Plotly.newPlot(div, traces, {title: {text: p.title, font: {size: 13}}, height: 260,
      margin: {l: 55, r: 10, t: 35, b: 35}, xaxis, yaxis: {title: {text: inf.unit}}, legend: {orientation: "h"},
      shapes: p.key === "madrs_vs_placebo" ? [{type: "line", xref: "paper", x0: 0, x1: 1, y0: 0, y1: 0,
                                               line: {color: "#999", width: 1}}] : []},
      {displaylogo: false, responsive: true});
  }
  const m = res.metrics;
  const rows = COMPOUND_METRICS.map(([key, label, unit]) => [label, unit, m.compound[key], m.ketamine[key]]);
  box.append(table("compound-table", ["", "unit", name, ref], rows));
  const eq = res.equal_nmda_occupancy;
  if (eq) {
    let text = `At ketamine's peak NMDA occupancy (${fmt(eq.reference_nmda_occupancy_peak)}), ${res.compound}'s `
      + `CADSS peak would be ${fmt(100 * eq.cadss_ratio)} % of ketamine's (${eq.below_limit ? "below" : "not below"} `
      + `${fmt(100 * eq.limit)} %).`;
    if (eq.needed) text += ` ${eq.needed}.`;
    box.append(el("p", {class: "hint", text}));
  }
  if (res.warnings && res.warnings.length) {
    box.append(el("div", {class: "warnings"}, el("strong", {text: "Warnings"}),
                  el("ul", {}, ...res.warnings.map((w) => el("li", {text: w})))));
  }
  box.append(el("p", {class: "hint warning-next-to-regimens", text: res.note}));
}

async function compoundsMain() {
  try {
    KSC.compounds = await api("/api/compounds");
  } catch (e) {
    compoundError(`compounds: ${e.message}`); return;
  }
  for (let i = 0; i < 50 && !KS.options; i++) await sleep(100);  // app.js reads the options (hypotheses)
  if (!KS.options) { compoundError("compounds: the options did not load"); return; }
  buildCompoundForm();
}

window.KSC = KSC;
document.addEventListener("DOMContentLoaded", compoundsMain);

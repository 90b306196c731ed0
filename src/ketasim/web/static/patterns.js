/* ketasim dashboard: the "use patterns" and "optimise" views. Uses the helpers of app.js (el, $, api, pollJobs,
   fmt, table, options). Research software, not dosing advice. */
"use strict";

const KSP = {patterns: [], patternRuns: 0, searchRuns: 0, lastPattern: null, lastSearch: null};

const LIABILITY_ORDER = ["liking_emax_over_placebo", "liking_emax", "take_drug_again", "liking_tmax", "liking_auec",
  "liking_rate_of_rise", "euphoria_emax", "cadss_peak", "cadss_auc", "cadss_time_above_threshold",
  "opioid_load_auc", "opioid_time_above_threshold", "chronic_tolerance_fold", "use_days_180",
  "bladder_odds_ratio_frequency", "bladder_odds_ratio_haematuria", "bladder_frequency_probability", "total_dose"];
const PATTERN_PANELS = [
  {title: "Immediate effects", cols: ["drug_liking", "euphoria", "cadss"]},
  {title: "Tolerance (potency shift, fold - 1)", cols: ["acute_tolerance", "chronic_tolerance"]},
  {title: "Opioid pathway", cols: ["mor_agonist_signal", "opioid_signal"]},
  {title: "Mood", cols: ["madrs"]},
];

function patternStatus(id, state, text) {
  const s = $(id); s.dataset.state = state; s.textContent = text;
}

async function runJob(path, body, bar, statusId, what) {
  const job = await api(path, {method: "POST", headers: {"Content-Type": "application/json"},
                               body: JSON.stringify(body)});
  bar.hidden = false;
  try {
    const [j] = await pollJobs([job.id], ([j]) => {
      bar.value = j.progress;
      patternStatus(statusId, "running", `${what}: ${j.status} (${Math.round(j.progress * 100)} %) ${j.message || ""}`);
    });
    return j.result;
  } finally { bar.hidden = true; }
}

function buildPatternForm() {
  const sel = $("#pattern-name");
  sel.replaceChildren(...KSP.patterns.map((p) => el("option", {value: p.name, text: `${p.kind}: ${p.title}`})));
  const hyps = (KS.options && KS.options.hypotheses) || ["opioid", "glutamate"];
  $("#pattern-hypothesis").replaceChildren(...options(hyps, "opioid"));
  const describe = () => {
    const p = KSP.patterns.find((x) => x.name === sel.value);
    if (!p) return;
    $("#pattern-desc").replaceChildren(
      el("span", {text: `${p.description} `}), el("code", {text: p.doses.join("; ")}),
      el("span", {text: ` Product: ${p.product_note}. Sources: ${p.sources.join(", ")}.`}));
  };
  sel.addEventListener("change", describe);
  describe();
  $("#pattern-form").addEventListener("submit", (ev) => { ev.preventDefault(); runPattern(); });
}

async function runPattern() {
  const body = {pattern: $("#pattern-name").value, hypothesis: $("#pattern-hypothesis").value,
                subjects: parseInt($("#pattern-subjects").value, 10) || 1};
  $("#pattern-error").hidden = true;
  patternStatus("#pattern-status", "running", "queued");
  try {
    const res = await runJob("/api/patterns/run", body, $("#pattern-progress"), "#pattern-status", body.pattern);
    KSP.lastPattern = res;
    renderPattern(res);
    patternStatus("#pattern-status", "done", `${body.pattern}: done`);
  } catch (e) {
    $("#pattern-error").textContent = e.message; $("#pattern-error").hidden = false;
    patternStatus("#pattern-status", "error", "failed");
  } finally { KSP.patternRuns += 1; }
}

function renderPattern(res) {
  const box = $("#pattern-results");
  box.replaceChildren();
  const days = res.time_h.map((t) => t / 24);
  for (const panel of PATTERN_PANELS) {
    const cols = panel.cols.filter((c) => res.series[c]);
    if (!cols.length) continue;
    const div = el("div", {class: "chart pattern-chart"});
    box.append(div);
    const traces = cols.map((c) => ({x: days, y: res.series[c].median, name: `${c} (${res.series[c].unit})`,
                                     mode: "lines"}));
    Plotly.newPlot(div, traces, {title: {text: panel.title, font: {size: 13}}, height: 260,
      margin: {l: 55, r: 10, t: 35, b: 35}, xaxis: {title: "days"}, legend: {orientation: "h"}},
      {displaylogo: false, responsive: true});
  }
  const m = res.liability.metrics;
  const rows = LIABILITY_ORDER.filter((k) => m[k]).map((k) => {
    const r = m[k];
    const range = r.p5 !== undefined && r.p5 !== null ? ` [${fmt(r.p5)}-${fmt(r.p95)}]` : "";
    return [k, `${fmt(r.value)}${range}`, r.unit, r.description, r.source];
  });
  box.append(el("h3", {text: `Abuse liability: ${res.pattern.title}`}),
             table("liability-table", ["metric", "value", "unit", "meaning", "source"], rows),
             el("p", {class: "hint", text: res.liability.note}));
}

function buildSearchForm() {
  $("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch(); });
}

async function runSearch() {
  const hyps = [...document.querySelectorAll("input[name=search-hyp]:checked")].map((x) => x.value);
  const constraint = $("#search-constraint").value.trim();
  const body = {hypotheses: hyps.length ? hyps : ["opioid"], subjects: parseInt($("#search-subjects").value, 10),
                population_size: parseInt($("#search-popsize").value, 10),
                generations: parseInt($("#search-generations").value, 10),
                constraints: constraint ? [constraint] : []};
  $("#search-error").hidden = true;
  patternStatus("#search-status", "running", "queued");
  try {
    const res = await runJob("/api/optimize", body, $("#search-progress"), "#search-status", "search");
    KSP.lastSearch = res;
    renderSearch(res);
    patternStatus("#search-status", "done", `search: ${res.front.length} regimens on the front`);
  } catch (e) {
    $("#search-error").textContent = e.message; $("#search-error").hidden = false;
    patternStatus("#search-status", "error", "failed");
  } finally { KSP.searchRuns += 1; }
}

function renderSearch(res) {
  const box = $("#search-results");
  box.replaceChildren();
  const [y, ...xs] = res.objectives;
  for (const x of xs.length ? xs : [y]) {
    const div = el("div", {class: "chart search-chart"});
    box.append(div);
    const ev = res.evaluated;
    const traces = [
      {x: ev.map((r) => r[x]), y: ev.map((r) => r[y]), mode: "markers", name: "evaluated",
       marker: {color: "#bbb", size: 5}},
      {x: res.front.map((r) => r[x]), y: res.front.map((r) => r[y]), mode: "markers", name: "Pareto front",
       text: res.front.map((r) => r.regimen), marker: {color: "#c53030", size: 8}},
      {x: res.standards.map((r) => r[x]), y: res.standards.map((r) => r[y]), mode: "markers+text",
       name: "standard clinical regimens", text: res.standards.map((r) => r.standard), textposition: "top right",
       marker: {color: "#2b6cb0", size: 13, symbol: "star"}},
    ];
    Plotly.newPlot(div, traces, {title: {text: `${y} vs ${x}`, font: {size: 13}}, height: 340,
      margin: {l: 60, r: 10, t: 35, b: 45}, xaxis: {title: x}, yaxis: {title: y}, legend: {orientation: "h"}},
      {displaylogo: false, responsive: true});
  }
  const rows = res.front.slice(0, 20).map((r, i) => [i + 1, r.regimen, ...res.objectives.map((o) => r[o])]);
  box.append(el("h3", {text: `Front (${res.front.length} regimens; hypotheses ${res.hypotheses.join(", ")}` +
                              (res.robust ? `, ${res.robust} case` : "") + ")"}),
             table("front-table", ["#", "regimen", ...res.objectives], rows),
             el("p", {class: "hint warning-next-to-regimens", text: res.note}));
}

async function patternsMain() {
  try {
    KSP.patterns = await api("/api/patterns");
  } catch (e) {
    $("#pattern-error").textContent = `patterns: ${e.message}`; $("#pattern-error").hidden = false; return;
  }
  // wait for app.js to have read the options (hypotheses)
  for (let i = 0; i < 50 && !KS.options; i++) await sleep(100);
  buildPatternForm();
  buildSearchForm();
}

window.KSP = KSP;
document.addEventListener("DOMContentLoaded", patternsMain);

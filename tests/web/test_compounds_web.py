"""The dashboard's compound view: the library, a library compound or an uploaded compound file beside ketamine
under a chosen hypothesis (API and page)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_browser import page, wait_runs  # noqa: F401  (tests/web is on sys.path under pytest; the page fixture)

REPO = Path(__file__).resolve().parents[2]
TESTBLOCKER = (REPO / "tests" / "testblocker_compound.yaml").read_text()   # the file test_compounds.py edits
SERIES = {"nmda_occupancy", "mor_occupancy", "cadss", "liking", "opioid_signal_excess", "madrs_vs_placebo"}


def wait_job(c, job_id, timeout=600.0):
    deadline = time.monotonic() + timeout   # a bound on waiting (a busy machine), not a speed goal
    while time.monotonic() < deadline:
        j = c.get(f"/api/jobs/{job_id}").json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_the_library_is_listed(client):
    r = client.get("/api/compounds")
    assert r.status_code == 200
    names = {c["name"]: c for c in r.json()}
    assert {"lanicemine", "memantine", "ketamine"} <= set(names)
    assert names["lanicemine"]["native"] is False and "nmda" in names["lanicemine"]["receptors"]


def test_a_library_compound_beside_ketamine_under_one_hypothesis(client):
    r = client.post("/api/compounds/compare", json={"compound": "lanicemine", "hypothesis": "glutamate",
                                                    "duration_days": 3})
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "compound"
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "done", done
    res = done["result"]
    assert res["compound"] == "lanicemine" and res["hypothesis"] == "glutamate"
    assert res["reference"] == ["ketamine 0.5 mg/kg iv over 40 min"] and "not a dosing tool" in res["note"]
    m = res["metrics"]
    # lanicemine's low trapping: far less dissociation than ketamine's, at an NMDA occupancy of the same order
    assert m["compound"]["cadss_peak"] < 0.3 * m["ketamine"]["cadss_peak"]
    assert m["compound"]["nmda_occupancy_peak"] > 0.2 and m["ketamine"]["nmda_occupancy_peak"] > 0.4
    assert m["compound"]["opioid_load_h"] == pytest.approx(0.0, abs=1e-9)   # no MOR action
    for who in ("compound", "ketamine"):
        course = res["courses"][who]
        assert set(course["series"]) == SERIES
        assert all(len(v) == len(course["time_h"]) for v in course["series"].values())
        assert max(course["series"]["cadss"]) == pytest.approx(m[who]["cadss_peak"], rel=1e-6)  # the peak kept
        assert course["time_h"][-1] == pytest.approx(72.0)
    assert res["series_info"]["cadss"]["unit"] == "CADSS point"
    assert res["equal_nmda_occupancy"]["cadss_ratio"] < 0.3


def test_an_uploaded_compound_file_is_compared(client):
    r = client.post("/api/compounds/compare", json={"file_text": TESTBLOCKER, "file_name": "testblocker.yaml",
                                                    "hypothesis": "opioid", "opioid_source": "hnk_mor",
                                                    "duration_days": 2})
    assert r.status_code == 202, r.text
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "done", done
    res = done["result"]
    assert res["compound"] == "testblocker" and res["hypothesis"] == "opioid[hnk_mor]"
    assert res["regimen"] and res["regimen"][0].startswith("testblocker ")
    # the uploaded compound was registered in the worker only: the server's drug list is the package's own
    assert "testblocker" not in client.get("/api/options").json()["drugs"]
    assert res["metrics"]["compound"]["nmda_occupancy_peak"] > 0.0


@pytest.mark.parametrize("body, words", [
    ({"file_text": TESTBLOCKER.replace("Ki: {value: 1, unit: uM", "Ki: {value: -1, unit: uM")},
     ["receptors.nmda", "Ki must be positive", "uploaded compound file"]),
    ({"file_text": TESTBLOCKER.replace("Ki: {value: 1, unit: uM, ", "Ki: {value: 1, "), "file_name": "mine.yaml"},
     ["receptors.nmda.Ki", "has no unit", "mine.yaml"]),
    ({"file_text": "name: [unclosed"}, ["not valid YAML"]),
    ({"compound": "no_such"}, ["unknown compound", "lanicemine"]),
    ({"compound": "lanicemine", "file_text": TESTBLOCKER}, ["either"]),
    ({}, ["either"]),
    ({"compound": "lanicemine", "hypothesis": "astrology"}, ["unknown hypothesis"]),
    ({"compound": "lanicemine", "hypothesis": "glutamate", "opioid_source": "hnk_mor"}, ["takes no opioid source"]),
    ({"compound": "lanicemine", "duration_days": 90}, ["duration_days"]),
    ({"compound": "lanicemine", "doses": ["lanicemine 100 parsecs iv"]}, ["parsecs"]),
    ({"compound": "lanicemine", "colour": "red"}, ["unknown field"]),
])
def test_bad_compound_requests_are_422_with_one_sentence(client, body, words):
    r = client.post("/api/compounds/compare", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail and "Input should" not in detail and "Value error" not in detail, detail
    for w in words:
        assert w in detail, detail


def test_pick_a_compound_on_the_page_and_see_it_beside_ketamine(page, live_server):
    page.goto(live_server + "/")
    wait_runs(page, 1)
    page.wait_for_selector("#compound-name option[value=lanicemine]", state="attached")
    page.select_option("#compound-name", "lanicemine")
    page.select_option("#compound-hypothesis", "glutamate")
    page.fill("#compound-days", "3")
    page.click("#compound-run")
    page.wait_for_function("() => window.KSC && KSC.runs >= 1", timeout=600_000)
    assert page.eval_on_selector("#compound-status", "e => e.dataset.state") == "done", \
        page.inner_text("#compound-error")
    charts = page.eval_on_selector_all(
        "#compound-results .js-plotly-plot",
        "ds => ds.map(d => ({id: d.id, names: d.data.map(t => t.name), n: d.data.map(t => t.y.length)}))")
    by_id = {c["id"]: c for c in charts}
    for key in ("cadss", "liking", "opioid_signal_excess", "madrs_vs_placebo", "nmda_occupancy"):
        chart = by_id[f"compound-chart-{key}"]
        assert any("lanicemine" in n.lower() for n in chart["names"]), chart
        assert any("ketamine" in n.lower() for n in chart["names"]), chart
        assert len(chart["names"]) == 2 and min(chart["n"]) > 10, chart
    text = page.inner_text("#compound-table")
    assert "CADSS peak" in text and "opioid-pathway load" in text
    assert "not a dosing tool" in page.inner_text("#compound-results")
    # a bad upload: one sentence naming the field, no traces drawn
    bad = TESTBLOCKER.replace("Ki: {value: 1, unit: uM", "Ki: {value: -1, unit: uM")
    page.set_input_files("#compound-file", files=[{"name": "bad.yaml", "mimeType": "application/x-yaml",
                                                   "buffer": bad.encode()}])
    page.click("#compound-run")
    page.wait_for_function("() => KSC.runs >= 2", timeout=120_000)
    assert page.eval_on_selector("#compound-status", "e => e.dataset.state") == "error"
    msg = page.inner_text("#compound-error")
    assert "Ki must be positive" in msg and "bad.yaml" in msg

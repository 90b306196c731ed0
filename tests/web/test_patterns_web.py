"""Dashboard additions: the use-pattern view and the optimise view (API and page)."""

import time

import pytest

from test_browser import page, wait_runs  # noqa: F401  (tests/web is on sys.path under pytest; the page fixture)


def wait_job(c, job_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = c.get(f"/api/jobs/{job_id}").json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_patterns_are_listed_with_their_sources(client):
    r = client.get("/api/patterns")
    assert r.status_code == 200
    names = {p["name"]: p for p in r.json()}
    assert "street_daily" in names and "clinical_iv_single" in names
    assert names["street_bumps"]["product"] == "street_powder" and names["street_bumps"]["sources"]


def test_a_pattern_job_returns_the_layers_and_the_liability_table(client):
    r = client.post("/api/patterns/run", json={"pattern": "street_bumps"})
    assert r.status_code == 202, r.text
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "done", done
    res = done["result"]
    assert {"drug_liking", "cadss", "acute_tolerance", "madrs"} <= set(res["series"])
    m = res["liability"]["metrics"]
    assert m["liking_emax"]["unit"].startswith("VAS") and 50 <= m["liking_emax"]["value"] <= 100
    assert res["pattern"]["name"] == "street_bumps"


@pytest.mark.parametrize("body, words", [
    ({"pattern": "no_such"}, "unknown use pattern"),
    ({"pattern": "street_daily", "subjects": 200}, "subject-days"),
    ({"pattern": "street_bumps", "colour": "red"}, "unknown field"),
])
def test_bad_pattern_requests_are_422_with_a_sentence(client, body, words):
    r = client.post("/api/patterns/run", json=body)
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_a_small_search_job_returns_a_front(client):
    body = {"subjects": 4, "population_size": 4, "generations": 1, "horizon": "2 weeks",
            "constraints": ["cadss_peak <= 15"]}
    r = client.post("/api/optimize", json=body)
    assert r.status_code == 202, r.text
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "done", done
    res = done["result"]
    assert res["front"] and res["objectives"][0] == "max days_in_response"
    assert all("regimen" in row for row in res["front"]) and "not a dosing tool" in res["note"]
    assert client.get("/api/optimize/metrics").json()["metrics"]


@pytest.mark.parametrize("body, words", [
    ({"objectives": ["max happiness"]}, "unknown metric"),
    ({"constraints": ["cadss_peak <= -1"]}, "impossible"),
    ({"subjects": 60, "population_size": 24, "generations": 8, "hypotheses": ["opioid", "glutamate", "null"]},
     "regimen-subject-days"),
])
def test_bad_searches_are_422_with_a_sentence(client, body, words):
    r = client.post("/api/optimize", json=body)
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_use_pattern_and_optimise_views_from_the_page(page, live_server):
    page.goto(live_server + "/")
    wait_runs(page, 1)
    page.wait_for_selector("#pattern-name option[value=street_binge]", state="attached")
    page.select_option("#pattern-name", "street_binge")
    assert "Muetzelfeldt2008" in page.inner_text("#pattern-desc")
    page.click("#pattern-run")
    page.wait_for_function("() => window.KSP && KSP.patternRuns >= 1", timeout=120_000)
    assert page.eval_on_selector("#pattern-status", "e => e.dataset.state") == "done", page.inner_text("#pattern-error")
    table = page.inner_text("#liability-table")
    for word in ("liking_emax_over_placebo", "opioid_load_auc", "bladder_odds_ratio_frequency", "VAS points"):
        assert word in table
    assert page.locator("#pattern-results .js-plotly-plot").count() >= 3
    page.fill("#search-subjects", "3")
    page.fill("#search-popsize", "4")
    page.fill("#search-generations", "1")
    page.click("#search-run")
    page.wait_for_function("() => KSP.searchRuns >= 1", timeout=180_000)
    assert page.eval_on_selector("#search-status", "e => e.dataset.state") == "done", page.inner_text("#search-error")
    assert "not a dosing tool" in page.inner_text("#search-results")
    assert page.locator("#front-table tbody tr").count() >= 1

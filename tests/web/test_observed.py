"""Observed data on the dashboard: the request carries points, the response returns them for drawing."""

from __future__ import annotations

INFUSION = {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}


def test_observed_points_round_trip(client):
    pts = [{"time_h": 0.67, "output": "ketamine_ng_ml", "value": 170.0, "sd": 30.0},
           {"time_h": 24.0, "output": "madrs", "value": 16.0}]
    r = client.post("/api/simulate", json={"name": "t", "doses": [INFUSION], "duration": "2 d", "observed": pts})
    assert r.status_code == 200, r.text
    back = r.json()["observed"]
    assert [p["output"] for p in back] == ["ketamine_ng_ml", "madrs"] and back[0]["sd"] == 30.0


def test_observed_point_with_an_unknown_output_is_422(client):
    r = client.post("/api/simulate", json={"name": "t", "doses": [INFUSION], "duration": "2 d",
                                           "observed": [{"time_h": 1, "output": "shoe_size", "value": 3}]})
    assert r.status_code == 422
    assert "shoe_size" in r.json()["detail"]

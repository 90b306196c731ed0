"""The API page works offline, and the API reads regimen text as the CLI does."""

from __future__ import annotations

import re


def test_docs_page_loads_nothing_from_outside(client):
    r = client.get("/docs")
    assert r.status_code == 200
    sources = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]+)['"]""", r.text)
    assert sources, r.text[:500]
    outside = [s for s in sources if re.match(r"^(https?:)?//", s)]
    assert not outside, outside
    for s in sources:  # every file the page names is served by the app itself
        if s.startswith("/static/"):
            f = client.get(s)
            assert f.status_code == 200 and len(f.content) > 1000, s
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN-loaded ReDoc page is switched off


def test_swagger_files_are_only_the_named_ones(client):
    assert client.get("/static/swagger/../app.py").status_code == 404
    assert client.get("/static/swagger/index.html").status_code == 404


def test_simulate_accepts_regimen_text(client):
    text = {"doses": ["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"],
            "duration": "12 h"}
    objects = {"doses": [{"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"},
                         {"drug": "naltrexone", "amount": 50, "unit": "mg", "route": "oral", "at": "-45 min"}],
               "duration": "12 h"}
    a, b = client.post("/api/simulate", json=text), client.post("/api/simulate", json=objects)
    assert a.status_code == 200, a.json()
    assert a.json()["series"]["naltrexone_ng_ml"]["median"] == b.json()["series"]["naltrexone_ng_ml"]["median"]
    assert a.json()["series"]["ketamine_ng_ml"]["median"] == b.json()["series"]["ketamine_ng_ml"]["median"]


def test_repeated_doses_in_text_count_against_the_limits(client):
    r = client.post("/api/simulate", json={"doses": ["esketamine 56 mg intranasal every 3.5 d for 8 doses"],
                                           "duration": "28 d"})
    assert r.status_code == 200, r.json()
    assert r.json()["series"]["ketamine_ng_ml"]["median"]


def test_bad_regimen_text_is_one_plain_sentence(client):
    for doses, words in ((["ketamine lots mg iv"], "'lots'"), (["ketamine 0.5 furlong iv"], "furlong"),
                         ([12], "regimen text")):
        r = client.post("/api/simulate", json={"doses": doses, "duration": "12 h"})
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert words in detail and detail.startswith("doses[0]"), detail
        assert "Value error" not in detail and "Input should" not in detail

# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test test-quick validate bench bench-quick bench-optimize bench-compound bench-revision bench-sensitivity clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,web,dask]"
	touch $(STAMP)

# The flagship run: 0.5 mg/kg ketamine over 40 min, with and without naltrexone 50 mg 45 min before.
demo: install
	$(BIN)/ketasim simulate --dose "ketamine 0.5 mg/kg iv over 40 min" --duration "7 d" --out out/demo/ketamine_alone
	$(BIN)/ketasim simulate --dose "ketamine 0.5 mg/kg iv over 40 min" --dose "naltrexone 50 mg oral at -45 min" \
		--duration "7 d" --out out/demo/ketamine_with_naltrexone
	$(BIN)/ketasim trial williams2018 --hypothesis opioid,glutamate --replicates 20 --out out/demo/williams2018
	@echo "Figures: out/demo/*/timecourse.png  Tables: out/demo/*/timecourse.parquet  Summaries: out/demo/*/summary.json"
	@echo "Virtual naltrexone-blockade trial under two hypotheses: out/demo/williams2018/report.html"

# Debian's Chromium for the browser tests (installed with apt-get when /usr/bin/chromium is missing).
browser:
	tools/bootstrap_browser.sh

# The whole suite, validation included (`-m validation` selects the validation-heavy tests, `make test-quick`
# leaves them out). No test asserts a wall-clock limit: speed goals live in `make bench`.
test: install browser
	$(BIN)/python -m pytest

test-quick: install browser
	$(BIN)/python -m pytest -m "not validation"

# Workload W (see benchmarks/bench_population.py): fast path vs libroadrunner (exported SBML) vs solve_ivp,
# accuracy, memory, scaling; then the dashboard's and the web API's response times (benchmarks/bench_web.py); then
# `ketasim compound --design` on its default problem (goal: 5 minutes on 2 cores); then the Sobol run of
# `ketasim sensitivity` (benchmarks/bench_sensitivity.py, goal: 10 minutes on 2 cores).
bench: install browser
	$(BIN)/python benchmarks/bench_population.py
	$(BIN)/python benchmarks/bench_web.py
	$(BIN)/python benchmarks/bench_compound_design.py
	$(BIN)/python benchmarks/bench_sensitivity.py

# ketasim compound --design on its default problem alone (benchmarks/compound_design_results.md)
bench-compound: install
	$(BIN)/python benchmarks/bench_compound_design.py

bench-sensitivity: install
	$(BIN)/python benchmarks/bench_sensitivity.py

bench-quick: install
	$(BIN)/python benchmarks/bench_population.py --quick

# Per-subject cost of this checkout beside an earlier revision (BASE=rev), alternating child processes.
BASE ?= dc65e38
bench-revision: install
	$(BIN)/python benchmarks/bench_revision.py --base $(BASE)

# ketasim optimize on its default problem (goal: 3 minutes on 2 cores)
bench-optimize: install
	$(BIN)/python benchmarks/bench_optimize.py

validate: install
	$(BIN)/ketasim validate --out out/validate

clean:
	rm -rf $(VENV) out .pytest_cache
